"""Which token belongs to which task, and what each task's callbacks have claimed so far.

Pure bookkeeping: no I/O, no clock. The receiver looks tokens up here and hands each body
it acknowledged to :meth:`TokenRegistry.process`; whoever confirms tasks with the provider
reports what a GET showed through :meth:`TokenRegistry.observe`.

Theory of operation. Per task the registry keeps the rank of the state a GET last showed
(``seen``: queued 0, running 1, any end 2) and the claim it is waiting to have confirmed
(``pending``). A body is turned into a :class:`CallbackHint` (confirm this task now) only
when it claims a state in ``confirm_states`` (by default the final ones) ranked above both:
anything at or below ``seen`` is *stale*, anything at or below ``pending`` a *duplicate*.
So retries, duplicates and notices that arrive after a later one change nothing, and state
only moves forward. A claim is settled by the next :meth:`~TokenRegistry.observe`: counted
*confirmed* when the GET showed the claimed state or a later one, *contradicted* otherwise,
and the claim is forgotten either way, so a forged claim that a GET disproved does not hide
the true notice that follows it.

A body that cannot be read, or that names another task id than the token's, says only
"something was posted to this task's URL": it still asks for one confirmation (a gateway
may relay Ark's own body with the upstream id, or a body of its own) unless one is already
pending, and its claim is never used.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Literal

import attrs

from seedance_async.callbacks._token import CallbackToken
from seedance_async.core._errors import SeedanceError
from seedance_async.core._wire import HttpResponse
from seedance_async.providers._protocol import ProviderAdapter
from seedance_async.providers.ark import ArkAdapter
from seedance_async.spec._status import TERMINAL_STATES, TaskState, TaskStatus

__all__ = ["CallbackHint", "CallbackStats", "RejectReason", "TokenRegistry", "rank"]

RejectReason = Literal[
    "unknown_token",
    "rate_limited",
    "too_large",
    "content_type",
    "overloaded",
    "malformed",
    "task_id_mismatch",
    "contradicted",
]
"""Why a callback was not believed.

Refused outright, nothing queued: ``unknown_token`` (404), ``rate_limited`` (429),
``too_large`` (413), ``content_type`` (415), ``overloaded`` (503: the processing queue is
full or the receiver is closed). Acknowledged but not believed: ``malformed`` (the body is
not the provider's task object) and ``task_id_mismatch`` (it names another task), each of
which still asks for one confirming GET; ``contradicted`` (the confirming GET did not show
the claimed state)."""

_RANKS: dict[TaskState, int] = {
    TaskState.QUEUED: 0,
    TaskState.RUNNING: 1,
    TaskState.SUCCEEDED: 2,
    TaskState.FAILED: 2,
    TaskState.CANCELLED: 2,
    TaskState.EXPIRED: 2,
}
_FINAL = 2
_RETIRED = 100_000  # forgotten tokens remembered as such (32 bytes each)
_DEFAULT_PARSER = ArkAdapter(name="callback")
_JSON = {"content-type": "application/json"}


def rank(state: TaskState) -> int:
    """How far along ``state`` is: queued 0, running 1, any final state 2."""
    return _RANKS[state]


@attrs.frozen(kw_only=True)
class CallbackHint:
    """Confirm this task with the provider now: a callback said it changed.

    It carries no part of the body beyond the claimed state, and never a URL: what the task
    really is, and where its video is, comes only from the confirming GET.

    Attributes:
        key: the task's key, as registered.
        provider: the provider alias it was registered with.
        claimed: the state the body claimed; None when the body could not be read or named
            another task.
        at: the receiver's clock (monotonic seconds) when the request arrived.
    """

    key: str
    provider: str
    claimed: TaskState | None
    at: float


@attrs.define(kw_only=True)
class CallbackStats:
    """Counters of one receiver, as plain attributes (for run summaries and metrics).

    Attributes:
        received: requests that reached the receiver (all of them, refused ones included).
        acknowledged: requests answered 2xx (their body was queued for processing).
        hints: confirmation signals emitted (:class:`CallbackHint`).
        confirmed: hints whose confirming GET showed the claimed state, or a later one.
        stale: notices of a state a GET had already shown, or an earlier one.
        duplicates: notices repeating a claim that is still being confirmed.
        noted: notices of a state that needs no confirmation (queued, running by default).
        late: requests for the token of a task that ended (or moved on to another
            attempt) here: answered 404 as any unknown token, but neither a guess nor a
            rejection (a provider re-sending a notice the task no longer needs).
        relayed_out: bodies for another host's token, passed on through the relay.
        relayed_in: bodies another host passed on for one of this receiver's tokens.
        rejected: refusals and disbelieved bodies by reason (:data:`RejectReason`).
    """

    received: int = 0
    acknowledged: int = 0
    hints: int = 0
    confirmed: int = 0
    stale: int = 0
    duplicates: int = 0
    noted: int = 0
    late: int = 0
    relayed_out: int = 0
    relayed_in: int = 0
    rejected: collections.Counter[str] = attrs.field(factory=collections.Counter)

    def reject(self, reason: RejectReason) -> None:
        """Count one rejection."""
        self.rejected[reason] += 1

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready copy (``rejected`` as a plain dict, reasons sorted)."""
        return {
            "received": self.received,
            "acknowledged": self.acknowledged,
            "hints": self.hints,
            "confirmed": self.confirmed,
            "stale": self.stale,
            "duplicates": self.duplicates,
            "noted": self.noted,
            "late": self.late,
            "relayed_out": self.relayed_out,
            "relayed_in": self.relayed_in,
            "rejected": dict(sorted(self.rejected.items())),
        }


class Entry:
    """One registered task (internal to the package; never shows its token)."""

    __slots__ = (
        "adapter",
        "digest",
        "key",
        "noted",
        "pending",
        "pending_unread",
        "provider",
        "remote_id",
        "seen",
    )

    def __init__(
        self,
        *,
        key: str,
        provider: str,
        adapter: ProviderAdapter | None,
        remote_id: str | None,
        digest: bytes,
    ) -> None:
        self.key, self.provider, self.adapter = key, provider, adapter
        self.remote_id, self.digest = remote_id, digest
        # A task with a remote id exists, so it is queued at least.
        self.seen = -1 if remote_id is None else 0
        self.noted = -1
        self.pending: TaskState | None = None
        self.pending_unread = False

    def __repr__(self) -> str:
        return f"Entry(key={self.key!r}, provider={self.provider!r}, seen={self.seen})"


class TokenRegistry:
    """Tokens of the tasks being tracked, and the callback state of each.

    Args:
        stats: the counters to update.
        confirm_states: claimed states that ask for a confirming GET (default: the final
            states). A queued or running notice tells nothing the tracker acts on, so by
            default it costs no request.
    """

    def __init__(
        self,
        *,
        stats: CallbackStats,
        confirm_states: Iterable[TaskState] = TERMINAL_STATES,
    ) -> None:
        self.stats = stats
        self.confirm_states = frozenset(TaskState(s) for s in confirm_states)
        self._by_digest: dict[bytes, Entry] = {}
        self._by_key: dict[str, Entry] = {}
        # Digests of tokens forgotten lately: a request for one is a late notice, not a
        # guess. Bounded: the oldest are forgotten for good.
        self._retired: collections.OrderedDict[bytes, None] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __repr__(self) -> str:
        return f"TokenRegistry(tasks={len(self._by_key)})"

    # -- registration ---------------------------------------------------------------------

    def register(
        self,
        key: str,
        *,
        provider: str,
        adapter: ProviderAdapter | None = None,
        remote_id: str | None = None,
        token: CallbackToken | None = None,
    ) -> CallbackToken:
        """Give ``key`` a token (a fresh one unless ``token`` restores a journaled one).

        Registering a key again replaces its token (a new attempt, perhaps at another
        provider): the old URL answers 404 from then on.

        Args:
            key: the task's key (what hints name).
            provider: the provider alias (what hints name).
            adapter: reads bodies (its ``parse_status``: a callback body is the task object
                a GET answers); None reads Ark's task object.
            remote_id: the provider's task id, when known already (a resumed task).
            token: the token to restore.

        Raises:
            ValueError: ``token`` is already registered for another key.
        """
        token = CallbackToken.new() if token is None else token
        other = self._by_digest.get(token.digest)
        if other is not None and other.key != key:
            raise ValueError(f"this callback token is already registered for {other.key!r}")
        self.forget(key)
        entry = Entry(
            key=key, provider=provider, adapter=adapter, remote_id=remote_id, digest=token.digest
        )
        self._by_digest[token.digest] = entry
        self._by_key[key] = entry
        return token

    def bind(self, key: str, remote_id: str) -> None:
        """The submit answered: ``key``'s task is ``remote_id`` (and is queued at least).

        Raises:
            KeyError: ``key`` is not registered.
        """
        entry = self._by_key[key]
        entry.remote_id = remote_id
        entry.seen = max(entry.seen, 0)

    def forget(self, key: str) -> None:
        """Drop ``key`` and its token: its URL answers 404 from now on. Unknown keys: no-op."""
        entry = self._by_key.pop(key, None)
        if entry is not None:
            del self._by_digest[entry.digest]
            self._retired[entry.digest] = None
            if len(self._retired) > _RETIRED:
                self._retired.popitem(last=False)

    def is_retired(self, digest: bytes) -> bool:
        """Whether the token of ``digest`` was forgotten lately (its task ended here)."""
        return digest in self._retired and digest not in self._by_digest

    def lookup(self, digest: bytes) -> Entry | None:
        """The entry of a token digest, or None."""
        return self._by_digest.get(digest)

    def is_current(self, entry: Entry) -> bool:
        """Whether ``entry`` is still registered (not forgotten nor replaced)."""
        return self._by_digest.get(entry.digest) is entry

    # -- callbacks and confirmations ------------------------------------------------------

    def process(self, entry: Entry, body: bytes, at: float) -> CallbackHint | None:
        """Read one acknowledged body for ``entry``: a hint, or None when nothing is new."""
        stats = self.stats
        if not self.is_current(entry):
            stats.stale += 1  # the task was forgotten or re-registered meanwhile
            return None
        status = self._read(entry, body)
        if status is None or (entry.remote_id is not None and status.task_id != entry.remote_id):
            stats.reject("malformed" if status is None else "task_id_mismatch")
            if entry.seen >= _FINAL or entry.pending is not None or entry.pending_unread:
                return None
            entry.pending_unread = True
            return self._hint(entry, None, at)
        claimed = status.state
        level = rank(claimed)
        if level <= entry.seen:
            stats.stale += 1
            return None
        if claimed not in self.confirm_states:
            if level <= entry.noted:
                stats.duplicates += 1
            else:
                entry.noted = level
                stats.noted += 1
            return None
        if entry.pending is not None and level <= rank(entry.pending):
            stats.duplicates += 1
            return None
        entry.pending = claimed
        return self._hint(entry, claimed, at)

    def observe(self, key: str, state: TaskState) -> bool:
        """A GET showed ``key``'s task in ``state``: settle what callbacks claimed.

        Returns:
            True when a final state was claimed and the GET showed the task unfinished:
            the claim was false, or the provider's read lagged its own notice; a consumer
            may confirm once more a little later. False otherwise (and for unknown keys).
        """
        entry = self._by_key.get(key)
        if entry is None:
            return False
        level = rank(state)
        recheck = False
        claimed = entry.pending
        if claimed is not None:
            if level > rank(claimed) or state is claimed:
                self.stats.confirmed += 1
            else:
                self.stats.reject("contradicted")
                recheck = rank(claimed) == _FINAL and level < _FINAL
        entry.pending = None
        entry.pending_unread = False
        entry.seen = max(entry.seen, level)
        return recheck

    def _hint(self, entry: Entry, claimed: TaskState | None, at: float) -> CallbackHint:
        self.stats.hints += 1
        return CallbackHint(key=entry.key, provider=entry.provider, claimed=claimed, at=at)

    @staticmethod
    def _read(entry: Entry, body: bytes) -> TaskStatus | None:
        adapter = entry.adapter or _DEFAULT_PARSER
        response = HttpResponse(status=200, body=body, headers=_JSON)
        try:
            return adapter.parse_status(response, entry.remote_id or "")
        except (SeedanceError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
            # The body is the sender's to choose, and a third-party adapter may be less
            # careful than ours: whatever it makes of a hostile body is "unreadable".
            return None
