"""Descriptions of HTTP requests and responses: the seam between pure adapters and I/O.

Adapters turn specs into :class:`HttpRequest` values and :class:`HttpResponse` values into
task states without touching a socket or a clock (the h11 idea), so every wire rule can be
tested with plain data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Self

import attrs

from seedance_async.core._errors import MalformedResponse

__all__ = ["HttpRequest", "HttpResponse", "JsonValue", "Method", "parse_retry_after"]

Method = Literal["GET", "POST", "DELETE", "PUT", "PATCH"]
JsonValue = Any
"""A value made of dict, list, str, int, float, bool and None."""


def _freeze_headers(headers: Mapping[str, str] | None) -> Mapping[str, str]:
    # Lower-case keys: HTTP header names are case-insensitive and adapters look them up.
    return {k.lower(): v for k, v in (headers or {}).items()}


def _freeze_query(
    query: Iterable[tuple[str, str]] | Mapping[str, str] | None,
) -> tuple[tuple[str, str], ...]:
    if query is None:
        return ()
    items = query.items() if isinstance(query, Mapping) else query
    return tuple((str(k), str(v)) for k, v in items)


@attrs.frozen(kw_only=True)
class HttpRequest:
    """One request an adapter wants sent, relative to the provider's base URL.

    Attributes:
        method: HTTP method.
        path: path appended to the base URL (``/contents/generations/tasks``).
        query: query pairs in order; a key may repeat (Ark's ``filter.task_ids``).
        json: JSON body, or None for no body.
        headers: extra headers, never auth (the transport adds that for the API host only).
        paid: True when sending may create a billable task; such requests are never
            retried after an ambiguous failure.
    """

    method: Method
    path: str
    query: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_freeze_query)
    json: JsonValue = None
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_freeze_headers, eq=False)
    paid: bool = False

    @property
    def idempotent(self) -> bool:
        """Whether sending twice has the same effect as sending once."""
        return not self.paid and self.method in ("GET", "PUT", "DELETE")

    def body_bytes(self) -> bytes | None:
        """The JSON body serialised compactly as UTF-8, or None."""
        if self.json is None:
            return None
        return json.dumps(self.json, ensure_ascii=False, separators=(",", ":")).encode()


@attrs.frozen(kw_only=True)
class HttpResponse:
    """One answer as received: status, headers (lower-cased names) and the raw body."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_freeze_headers, eq=False)

    @classmethod
    def from_json(
        cls, status: int, payload: JsonValue, headers: Mapping[str, str] | None = None
    ) -> Self:
        """Build a response with a JSON body (handy in tests and the test transport)."""
        merged = {"content-type": "application/json", **_freeze_headers(headers)}
        return cls(status=status, body=json.dumps(payload).encode(), headers=merged)

    @property
    def ok(self) -> bool:
        """True for 2xx statuses."""
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        """A header value by case-insensitive name."""
        return self.headers.get(name.lower())

    def text(self) -> str:
        """The body decoded as UTF-8, undecodable bytes replaced."""
        return self.body.decode("utf-8", errors="replace")

    def json(self, *, provider: str = "") -> JsonValue:
        """The body parsed as JSON.

        Raises:
            MalformedResponse: the body is empty or not JSON.
        """
        if not self.body.strip():
            raise MalformedResponse(
                "empty body where JSON was expected", provider=provider, status=self.status
            )
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedResponse(
                f"body is not JSON ({exc.__class__.__name__})",
                provider=provider,
                status=self.status,
                snippet=self.text(),
            ) from exc


def parse_retry_after(response: HttpResponse) -> tuple[float | None, datetime | None]:
    """``Retry-After`` (seconds or HTTP date) and ``retry-after-ms`` of an answer.

    Returns:
        (seconds, None) for a delay, (None, when) for an HTTP date, (None, None) otherwise.
    """
    ms = _finite(response.header("retry-after-ms"))
    if ms is not None:
        return max(0.0, ms / 1000), None
    raw = response.header("retry-after")
    if not raw:
        return None, None
    raw = raw.strip()
    seconds = _finite(raw)
    if seconds is not None:
        return max(0.0, seconds), None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None, None
    return None, when if when.tzinfo else when.replace(tzinfo=UTC)


def _finite(text: str | None) -> float | None:
    # "inf" or "nan" would make a caller wait forever or not at all: treat them as unreadable.
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
