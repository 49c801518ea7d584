"""A small reader for provider JSON that knows where it is.

Every access goes through :class:`Node`, which tracks the JSON path, so a missing or
mistyped field becomes a :class:`MalformedResponse` naming ``$.data.status`` instead of a
KeyError. Readers are lenient where providers are known to drift (numbers sent as strings,
docs/providers.md §8.6) and strict elsewhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from seedance_async.core._errors import MalformedResponse
from seedance_async.core._wire import HttpResponse

__all__ = ["Node", "parse_json"]

# Above this a Unix timestamp is in milliseconds (1e12 ms is in 2001, 1e12 s is year 33658).
_MS_THRESHOLD = 10**11


class Node:
    """One value inside a decoded JSON answer, with its path."""

    __slots__ = ("path", "provider", "status", "value")

    def __init__(
        self, value: Any, path: str = "$", *, provider: str = "", status: int | None = None
    ) -> None:
        self.value = value
        self.path = path
        self.provider = provider
        self.status = status

    def _fail(self, what: str) -> MalformedResponse:
        shown = repr(self.value)
        return MalformedResponse(
            f"expected {what}, got {shown[:60]}",
            path=self.path,
            provider=self.provider,
            status=self.status,
        )

    def _child(self, value: Any, path: str) -> Node:
        return Node(value, path, provider=self.provider, status=self.status)

    # -- structure ------------------------------------------------------------------------

    def is_object(self) -> bool:
        """True when the value is a JSON object."""
        return isinstance(self.value, dict)

    def object(self) -> Node:
        """This node, checked to be a JSON object."""
        if not isinstance(self.value, dict):
            raise self._fail("an object")
        return self

    def get(self, key: str) -> Node | None:
        """The member ``key`` of an object, or None when absent or null."""
        if not isinstance(self.value, dict):
            raise self._fail("an object")
        value = self.value.get(key)
        return None if value is None else self._child(value, f"{self.path}.{key}")

    def require(self, key: str) -> Node:
        """The member ``key`` of an object; missing or null is malformed."""
        node = self.get(key)
        if node is None:
            raise MalformedResponse(
                f"missing field {key!r}",
                path=f"{self.path}.{key}",
                provider=self.provider,
                status=self.status,
            )
        return node

    def items(self) -> list[Node]:
        """The elements of an array."""
        if not isinstance(self.value, list):
            raise self._fail("an array")
        return [self._child(v, f"{self.path}[{i}]") for i, v in enumerate(self.value)]

    # -- scalars --------------------------------------------------------------------------

    def text(self) -> str:
        """A string; numbers are accepted as their decimal text (ids sent as numbers)."""
        if isinstance(self.value, str):
            return self.value
        if isinstance(self.value, int) and not isinstance(self.value, bool):
            return str(self.value)
        raise self._fail("a string")

    def integer(self) -> int:
        """An integer; ``"16108"`` and ``16108.0`` are accepted (GPTProto sends strings)."""
        v = self.value
        if isinstance(v, bool):
            raise self._fail("an integer")
        if isinstance(v, int):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, str):
            try:
                return int(v.strip())
            except ValueError:
                pass
        raise self._fail("an integer")

    def number(self) -> float:
        """A number; numeric strings are accepted."""
        v = self.value
        if isinstance(v, bool):
            raise self._fail("a number")
        try:
            if isinstance(v, int | float):
                return float(v)
            if isinstance(v, str):
                return float(v.strip().rstrip("%"))
        except (ValueError, OverflowError):
            # OverflowError: JSON integers are unbounded, floats are not (10**400).
            pass
        raise self._fail("a number")

    def boolean(self) -> bool:
        """A boolean; ``"true"``/``"false"`` strings are accepted."""
        v = self.value
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
        raise self._fail("a boolean")

    def timestamp(self) -> datetime:
        """A UTC time from Unix seconds or milliseconds (number or string) or ISO 8601."""
        v = self.value
        if isinstance(v, str) and not v.strip().lstrip("-").isdigit():
            try:
                parsed = datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
            except ValueError:
                raise self._fail("a timestamp") from None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        seconds = self.number()
        if seconds > _MS_THRESHOLD:
            seconds /= 1000
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise self._fail("a timestamp") from None

    # -- optional shortcuts ---------------------------------------------------------------

    def opt_text(self, key: str) -> str | None:
        """``get(key).text()`` or None; an empty string counts as absent."""
        node = self.get(key)
        if node is None:
            return None
        value = node.text()
        return value or None

    def opt_int(self, key: str) -> int | None:
        """``get(key).integer()`` or None."""
        node = self.get(key)
        return None if node is None else node.integer()

    def opt_number(self, key: str) -> float | None:
        """``get(key).number()`` or None."""
        node = self.get(key)
        return None if node is None else node.number()

    def opt_time(self, key: str) -> datetime | None:
        """``get(key).timestamp()`` or None; 0 and empty strings count as absent."""
        node = self.get(key)
        if node is None or node.value in (0, "", "0"):
            return None
        return node.timestamp()


def parse_json(response: HttpResponse, provider: str) -> Node:
    """The decoded body of an answer as a root :class:`Node`.

    Raises:
        MalformedResponse: the body is empty or not JSON.
    """
    return Node(response.json(provider=provider), "$", provider=provider, status=response.status)
