"""The simulator's books: every task created (the billing ledger) and every request served.

A task that was created is billed, even when the client never saw the answer
(``drop_after_create``): that is exactly what a real provider does and what a client must
never double (no provider offers an idempotency key). Keys are stored only as short SHA-256
fingerprints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

__all__ = [
    "Charge",
    "Delivery",
    "LedgerEntry",
    "RequestRecord",
    "body_digest",
    "find_duplicates",
    "key_fingerprint",
    "max_in_window",
]

Delivery = Literal["answered", "dropped", "malformed", "truncated", "pending"]
Charge = Literal["video", "draft", "final"]
"""What a created task bills: a plain ``video``, a ``draft`` (a cheap 480p preview) or the
``final`` made from a draft; each is billed once, on its own."""
"""What the client received for a create: the answer, nothing (dropped), an unreadable
answer (malformed / truncated), or nothing yet (``pending``: still being answered)."""


def key_fingerprint(key: str) -> str:
    """The first 12 hex digits of the key's SHA-256: enough to tell keys apart, not to recover one."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def body_digest(body: Any) -> str:
    """SHA-256 of a JSON body in canonical form (sorted keys, compact)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@attrs.frozen(kw_only=True)
class LedgerEntry:
    """One task the simulator created (and billed).

    Attributes:
        provider: simulated provider name (``ark``, ``aimlapi``...).
        key: fingerprint of the API key that created it (:func:`key_fingerprint`).
        task_id: the id the provider assigned.
        body: the request body as received (decoded JSON).
        digest: :func:`body_digest` of ``body``; equal digests mean identical requests.
        created_at: clock time (Unix seconds) of creation.
        billed: always True: creation is what costs money.
        delivery: what the client got back (see :data:`Delivery`).
        charge: ``video``, ``draft`` or ``final`` (see :data:`Charge`).
        tokens: the tokens billed (Ark's formula; a draft is 480p, so cheaper).
        draft_task_id: the draft a ``final`` was made from.
    """

    provider: str
    key: str
    task_id: str
    body: Mapping[str, Any] = attrs.field(eq=False, hash=False, repr=False)
    digest: str
    created_at: float
    billed: bool = True
    delivery: Delivery = "answered"
    charge: Charge = "video"
    tokens: int = 0
    draft_task_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``/_sim/ledger`` format)."""
        return {
            "provider": self.provider,
            "key": self.key,
            "task_id": self.task_id,
            "body": self.body,
            "digest": self.digest,
            "created_at": self.created_at,
            "billed": self.billed,
            "delivery": self.delivery,
            "charge": self.charge,
            "tokens": self.tokens,
            "draft_task_id": self.draft_task_id,
        }


@attrs.frozen(kw_only=True)
class RequestRecord:
    """One API request a simulated provider received.

    Attributes:
        time: clock time (Unix seconds) when it arrived.
        method / path: as received (path without the query).
        op: ``create``, ``get``, ``list``, ``delete`` or ``other``.
        status: the HTTP status answered; 0 when the connection was cut without an answer.
        key: fingerprint of the key presented, or "" when none was.
        fault: the fault injected, or "".
    """

    time: float
    method: str
    path: str
    op: str
    status: int
    key: str
    fault: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``/_sim/requests`` format)."""
        return attrs.asdict(self)


def find_duplicates(entries: Iterable[LedgerEntry]) -> list[list[LedgerEntry]]:
    """Groups of ledger entries with identical request bodies from the same provider and key.

    Returns:
        One list per duplicated body (two or more entries each, in creation order); empty
        when every created task had a distinct body.
    """
    groups: dict[tuple[str, str, str], list[LedgerEntry]] = {}
    for entry in entries:
        groups.setdefault((entry.provider, entry.key, entry.digest), []).append(entry)
    return [group for group in groups.values() if len(group) > 1]


def max_in_window(times: Iterable[float], window: float = 60.0) -> int:
    """The largest number of timestamps inside any half-open window ``(t - window, t]``.

    Use it on :class:`RequestRecord` times to check a client stayed within an RPM budget.
    """
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best
