"""The retry policy: a pure table of (error, attempt, paid) -> delay or give up."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_async.core._errors import (
    AuthenticationFailed,
    ConfigurationError,
    ContentPolicyViolation,
    InvalidRequest,
    InvalidTaskSpec,
    MalformedResponse,
    ModelNotServed,
    OutcomeUnknown,
    PermissionDenied,
    ProviderRejected,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    RequestNotSent,
    TaskNotFound,
    TransportError,
    UnknownStatus,
    UnsupportedParameter,
    Violation,
)
from seedance_async.core._wire import HttpResponse
from seedance_async.policy._retry import RetryPolicy, retry_after_seconds
from seedance_async.providers._error_map import classify_error

NOW = 1_700_000_000.0
POLICY = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=8.0, max_retry_after=60.0)


def half() -> float:
    """A 'random' source pinned to 0.5, so backoff values are exact."""
    return 0.5


BACKOFF = object()  # marker: expect the jittered backoff for this attempt

CASES: list[tuple[str, BaseException, int, bool, object]] = [
    # (id, error, attempt, paid, expected: None | seconds | BACKOFF)
    ("not-sent submit retried", RequestNotSent("refused"), 0, True, BACKOFF),
    ("not-sent poll retried", RequestNotSent("refused"), 0, False, BACKOFF),
    ("unknown submit gives up", OutcomeUnknown("timeout"), 0, True, None),
    ("unknown poll retried", OutcomeUnknown("timeout"), 1, False, BACKOFF),
    ("bare transport error like unknown (paid)", TransportError("x"), 0, True, None),
    ("bare transport error like unknown (poll)", TransportError("x"), 0, False, BACKOFF),
    ("429 seconds on submit", RateLimited("slow", retry_after=7.0), 0, True, 7.0),
    ("429 seconds on poll", RateLimited("slow", retry_after=7.0), 2, False, 7.0),
    ("429 seconds capped", RateLimited("slow", retry_after=3600.0), 0, True, 60.0),
    (
        "429 http date",
        RateLimited("slow", retry_at=datetime.fromtimestamp(NOW + 12, tz=UTC)),
        0,
        True,
        12.0,
    ),
    (
        "429 date in the past",
        RateLimited("slow", retry_at=datetime.fromtimestamp(NOW - 5, tz=UTC)),
        0,
        True,
        0.0,
    ),
    ("429 no hint backs off", RateLimited("slow"), 1, True, BACKOFF),
    ("429 spend cap gives up", RateLimited("cap", retryable=False), 0, False, None),
    ("quota used up gives up", QuotaExhausted("quota", retry_after=5.0), 0, True, None),
    (
        "quota gives up whatever retryable says",
        QuotaExhausted("quota", retryable=True),
        0,
        False,
        None,
    ),
    ("unknown status word asks later", UnknownStatus("paused", task_id="t"), 0, False, None),
    ("model not served never", ModelNotServed("model", status=404), 0, True, None),
    ("unsupported parameter never", UnsupportedParameter("fps", status=400), 0, True, None),
    ("5xx submit gives up", ProviderUnavailable("down", status=500), 0, True, None),
    ("5xx poll retried", ProviderUnavailable("down", status=503), 0, False, BACKOFF),
    ("malformed submit gives up", MalformedResponse("bad"), 0, True, None),
    ("malformed poll retried", MalformedResponse("bad"), 0, False, BACKOFF),
    ("rejected never", ProviderRejected("no", status=400), 0, False, None),
    ("auth never", AuthenticationFailed("key", status=401), 0, False, None),
    ("permission never", PermissionDenied("balance", status=403), 0, True, None),
    ("moderation never", ContentPolicyViolation("nsfw", status=400), 0, True, None),
    ("invalid request never", InvalidRequest("param", status=400), 0, True, None),
    ("not found never", TaskNotFound("gone", status=404), 0, False, None),
    ("invalid spec never", InvalidTaskSpec([Violation(field="prompt", rule="x")]), 0, True, None),
    ("configuration never", ConfigurationError("no key"), 0, False, None),
    ("bugs never", KeyError("oops"), 0, False, None),
    ("last attempt gives up", RequestNotSent("refused"), 3, False, None),
    ("429 on last attempt gives up", RateLimited("slow", retry_after=1.0), 3, False, None),
]


@pytest.mark.parametrize(
    ("error", "attempt", "paid", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_decision_table(error: BaseException, attempt: int, paid: bool, expected: object) -> None:
    """Each (error, attempt, paid) row yields the documented decision."""
    got = POLICY.decide(error, attempt, paid=paid, now_wall=NOW, random=half)
    if expected is BACKOFF:
        assert got == POLICY.backoff(attempt, half)
    else:
        assert got == expected


def test_paid_5xx_safe_flag_allows_retrying_a_submit_5xx() -> None:
    """A provider documented to create nothing on a 5xx may have submits retried."""
    policy = RetryPolicy(paid_5xx_safe=True)
    error = ProviderUnavailable("down", status=502)
    assert policy.decide(error, 0, paid=True, now_wall=NOW, random=half) is not None
    # The flag is about 5xx answers only; an ambiguous transport failure stays final.
    assert policy.decide(OutcomeUnknown("t"), 0, paid=True, now_wall=NOW, random=half) is None


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (4, 8.0), (10_000, 8.0)]
)
def test_backoff_ceiling_doubles_then_caps(attempt: int, ceiling: float) -> None:
    """The jitter ceiling is min(max_delay, base * 2**attempt), even for huge attempts."""
    assert POLICY.backoff(attempt, lambda: 1.0) == ceiling
    assert POLICY.backoff(attempt, lambda: 0.0) == 0.0


@given(attempt=st.integers(0, 200), r=st.floats(0.0, 1.0, exclude_max=True))
def test_full_jitter_stays_within_bounds(attempt: int, r: float) -> None:
    """Full jitter: any delay lies in [0, min(cap, base * 2**attempt))."""
    delay = POLICY.backoff(attempt, lambda: r)
    assert 0.0 <= delay < min(POLICY.max_delay, POLICY.base_delay * 2.0 ** min(attempt, 64))


def test_retry_after_seconds_prefers_seconds_over_date() -> None:
    """retry_after (seconds) wins; a date is turned into seconds from now; none gives None."""
    date = datetime.fromtimestamp(NOW + 30, tz=UTC)
    assert (
        retry_after_seconds(RateLimited("x", retry_after=2.0, retry_at=date), now_wall=NOW) == 2.0
    )
    assert retry_after_seconds(RateLimited("x", retry_at=date), now_wall=NOW) == 30.0
    assert retry_after_seconds(RateLimited("x"), now_wall=NOW) is None


def test_retry_after_http_date_header_end_to_end() -> None:
    """A 429 whose Retry-After is an HTTP date waits until that date (whole seconds)."""
    header = formatdate(NOW + 20, usegmt=True)
    response = HttpResponse(status=429, headers={"Retry-After": header})
    error = classify_error("ark", response, code=None, message=None)
    assert isinstance(error, RateLimited)
    assert POLICY.decide(error, 0, paid=True, now_wall=NOW, random=half) == 20.0


def test_policy_validates_its_fields() -> None:
    """Nonsense settings are refused at construction."""
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="base_delay"):
        RetryPolicy(base_delay=-1)


def test_single_attempt_policy_never_retries() -> None:
    """max_attempts=1 means the first failure is final."""
    policy = RetryPolicy(max_attempts=1)
    assert policy.decide(RequestNotSent("x"), 0, paid=False, now_wall=NOW, random=half) is None
