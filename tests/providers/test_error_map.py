"""Error answers: the reset time a quota answer names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_async.providers._error_map import parse_reset_time

# Ark's regions keep UTC+8: a reset time without a zone is read there.
RESETS: list[tuple[str, datetime | None]] = [
    ("will reset at 2026-12-01 00:00:00.", datetime(2026, 11, 30, 16, tzinfo=UTC)),
    ("will reset at 2026-12-01T00:00:00Z", datetime(2026, 12, 1, tzinfo=UTC)),
    ("will reset at 2026-12-01", datetime(2026, 11, 30, 16, tzinfo=UTC)),
    ("resets on 2026/12/01 08:00 +0800", datetime(2026, 12, 1, tzinfo=UTC)),
    ("will reset at 2026-12-01 00:00:00 UTC+8", datetime(2026, 11, 30, 16, tzinfo=UTC)),
    ("will reset at 2026-12-01 01:30:00 -05:30", datetime(2026, 12, 1, 7, tzinfo=UTC)),
    ("resets at Tue, 01 Dec 2026 00:00:00 GMT", datetime(2026, 12, 1, tzinfo=UTC)),
    ("will reset at 2026-13-01", None),
    ("quota exceeded", None),
    ("", None),
]


@pytest.mark.parametrize(("message", "expected"), RESETS)
def test_reset_time_in_a_message(message: str, expected: datetime | None) -> None:
    """The reset time of a quota answer, in UTC; None when none can be read."""
    assert parse_reset_time(message) == expected


@given(st.text(max_size=80))
def test_reset_time_never_raises(message: str) -> None:
    """Any text gives a time in UTC or None."""
    when = parse_reset_time(f"will reset at {message}")
    assert when is None or when.tzinfo is UTC
