"""Every Redis key name the library uses: the one module that spells them.

Every process of a deployment shares one prefix (default ``seedance:``).

Key layout for batch ``B`` (``{B}`` is a hash tag):

=============================  ==========================================================
``seedance:{B}:meta``          hash: ``epoch`` (random id of this incarnation), ``total``,
                               ``final``, ``seq``, ``created_at``, ``restored*``
``seedance:{B}:t:<key>``       hash per task: ``spec``, ``hash``, ``line``, ``state``,
                               ``outcome``, ``provider``, ``attempt``, ``intent_at``,
                               ``sent_at``, ``task_id``, ``handle``, ``status``, ``result``,
                               ``updated_at`` (the journal record's stored fields:
                               :mod:`seedance_async.journal._record`)
``seedance:{B}:pending``       list: keys never claimed, in batch order (the work queue)
``seedance:{B}:order``         sorted set: key by line number (batch order for results)
``seedance:{B}:idx``           hash: key -> ``state|outcome|provider`` (cheap summaries)
``seedance:{B}:owner``         hash: key -> worker that owns it (the fence)
``seedance:{B}:owned:<w>``     set: unfinished keys worker ``w`` owns
``seedance:{B}:alive:<w>``     string with a TTL: ``w``'s lease, renewed by its heartbeat
``seedance:{B}:workers``       set: workers that may own keys
``seedance:{B}:w:<w>``         hash: host, pid, start and last heartbeat of ``w``
``seedance:{B}:ids``           list: every remote task id created (``remember()`` feed)
``seedance:{B}:idkey``         hash: remote task id -> the key that owns it
``seedance:{B}:sending``       set: keys whose submit token was granted and whose answer
                               is not journaled yet (``sent_at`` set, no remote id)
``seedance:{B}:cbtoken``       hash: key -> its current attempt's callback token (a secret)
``seedance:{B}:cbdigest``      hash: SHA-256 of a callback token -> its key
``seedance:{B}:cbrelay``       stream: callbacks one worker received for another's token
=============================  ==========================================================

Budgets shared by every process that uses one API key live under
``<prefix>budget:<host>/<key fingerprint>``: ``:submit`` and ``:poll`` (token buckets),
``:cooldown`` (exists while a 429 asked everyone to wait) and ``:slots`` (running-task slots);
see :mod:`._budget`.
"""

from __future__ import annotations

import re

import attrs

__all__ = [
    "BUDGET_PREFIX",
    "DEFAULT_PREFIX",
    "LUA_KEY_PARTS",
    "BatchKeys",
    "BudgetKeys",
    "budget_prefix",
]

DEFAULT_PREFIX = "seedance:"


def budget_prefix(prefix: str) -> str:
    """Where the shared budgets of a deployment whose keys start with ``prefix`` live."""
    return f"{prefix}budget:"


BUDGET_PREFIX = budget_prefix(DEFAULT_PREFIX)
# Scripts build per-task and per-worker names from a batch's base (one Redis server is
# supported, not Cluster, so they need not declare them): the same parts, in Lua.
_TASK = ":t:"
_OWNED = ":owned:"
LUA_KEY_PARTS = f"local TASK_PART, OWNED_PART = '{_TASK}', '{_OWNED}'\n"

_BATCH_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


@attrs.frozen
class BatchKeys:
    """The Redis key names of one batch."""

    base: str

    @classmethod
    def of(cls, batch: str, prefix: str = DEFAULT_PREFIX) -> BatchKeys:
        """Keys of ``batch`` under ``prefix``.

        Raises:
            ValueError: the batch name is empty, too long, or has characters other than
                letters, digits and ``_ . : -``.
        """
        if not _BATCH_NAME.match(batch):
            raise ValueError(f"bad batch name {batch!r}: use letters, digits and _ . : -")
        return cls(f"{prefix}{{{batch}}}")

    @property
    def meta(self) -> str:
        """Batch counters and identity."""
        return f"{self.base}:meta"

    @property
    def pending(self) -> str:
        """The work queue."""
        return f"{self.base}:pending"

    @property
    def order(self) -> str:
        """Batch order."""
        return f"{self.base}:order"

    @property
    def idx(self) -> str:
        """State index."""
        return f"{self.base}:idx"

    @property
    def owner(self) -> str:
        """Key -> owning worker."""
        return f"{self.base}:owner"

    @property
    def ids(self) -> str:
        """Remote ids created."""
        return f"{self.base}:ids"

    @property
    def idkey(self) -> str:
        """Remote id -> owning key."""
        return f"{self.base}:idkey"

    @property
    def sending(self) -> str:
        """Keys with a granted, unanswered submit."""
        return f"{self.base}:sending"

    @property
    def workers(self) -> str:
        """Registered workers."""
        return f"{self.base}:workers"

    @property
    def callback_tokens(self) -> str:
        """Key -> the callback token of its current attempt (a secret, like the journal's)."""
        return f"{self.base}:cbtoken"

    @property
    def callback_digests(self) -> str:
        """SHA-256 of a callback token (hex) -> its key: which tokens some worker holds."""
        return f"{self.base}:cbdigest"

    @property
    def callback_relay(self) -> str:
        """Stream of callbacks received by one worker for another worker's token."""
        return f"{self.base}:cbrelay"

    def task(self, key: str) -> str:
        """One task's record."""
        return f"{self.base}{_TASK}{key}"

    def alive(self, worker: str) -> str:
        """A worker's lease."""
        return f"{self.base}:alive:{worker}"

    def owned(self, worker: str) -> str:
        """A worker's unfinished keys."""
        return f"{self.base}{_OWNED}{worker}"

    def info(self, worker: str) -> str:
        """A worker's description."""
        return f"{self.base}:w:{worker}"


@attrs.frozen
class BudgetKeys:
    """The Redis key names of one shared budget (``RedisBudget``'s ``key_prefix``)."""

    base: str

    @classmethod
    def of(cls, scope: str, prefix: str = BUDGET_PREFIX) -> BudgetKeys:
        """Keys of the budget of ``scope`` (``host/fingerprint``) under ``prefix``."""
        return cls(f"{prefix}{scope}")

    def bucket(self, kind: str) -> str:
        """The token bucket of ``kind`` (``submit`` or ``poll``)."""
        return f"{self.base}:{kind}"

    @property
    def cooldown(self) -> str:
        """Exists while a 429 asked everyone to wait; its TTL is the wait."""
        return f"{self.base}:cooldown"

    @property
    def slots(self) -> str:
        """Running-task slots, scored by lease expiry."""
        return f"{self.base}:slots"
