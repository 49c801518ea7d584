"""How long one HTTP exchange may take: a value the configuration holds and transports obey."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Timeouts"]


def _positive_or_none(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"Timeouts.{attribute.name} must be > 0 or None, got {value!r}")


@attrs.frozen(kw_only=True)
class Timeouts:
    """Time limits of one HTTP exchange, in seconds (None = no limit).

    Attributes:
        connect: to obtain a connection (pool wait, DNS, TCP and TLS). Expiry proves the
            request was not sent.
        read: between two reads from the socket once the request is out. Expiry means the
            outcome is unknown.
        total: for the whole exchange including reading the body. Expiry after connecting
            means the outcome is unknown.
    """

    connect: float | None = attrs.field(default=10.0, validator=_positive_or_none)
    read: float | None = attrs.field(default=60.0, validator=_positive_or_none)
    total: float | None = attrs.field(default=120.0, validator=_positive_or_none)
