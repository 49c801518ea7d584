"""Status-change callbacks (``callback_url``), delivered as Ark delivers them, faults included.

What Ark's create-task page says: the platform POSTs to the task's ``callback_url``
whenever the task's status changes (``queued``, ``running``, ``succeeded``, ``failed``,
``expired``; a cancel is not listed), the body has the same structure as the answer to a
GET of the task, nothing is signed, and a ``succeeded`` or ``failed`` notice that is not
acknowledged within 5 s is re-sent three times. Those are the defaults of
:class:`Callbacks`. What it leaves open (what counts as an acknowledgement, the spacing of
re-sends, ordering, duplicates) the simulator decides: a 2xx answer within ``ack_timeout``
acknowledges, re-sends wait ``retry_delay``, and faults add the rest.

Theory of operation. Like task states, notices need no timer per task: a task's status
changes are a function of the clock (:meth:`SimTask.transitions`), so :meth:`Dispatcher.pump`
compares them with what was already announced and queues the new ones, each due at the
instant of its change (later when delayed). Due notices are posted at once, one task's in
order. The simulator pumps from a background loop while any notice is pending, and tests
on a manual clock call ``await sim.flush_callbacks()`` after moving it: that pumps and
waits until every due delivery (and every re-send that falls due meanwhile) is finished.
Re-send and delay times are clock times, so with a manual clock a test advances the clock
past them; the acknowledgement timeout is wall time (a slow receiver is slow in real time).

Every notice draws six numbers, whatever the probabilities: drop, reorder, delay,
duplicate, forged-task and forged-URL, from a generator seeded by (seed, provider, task id,
status). So the faults a notice gets do not depend on when the simulator noticed the change
(the background loop and ``flush_callbacks`` pump at unpredictable moments) nor on other
tasks. Of the first four only the most severe fires (drop > reorder > delay > duplicate);
the two forgeries come on top of the real notice.

Deliveries go only to loopback addresses (``127.0.0.0/8``, ``::1``, ``localhost``); any
other URL is refused and recorded as such, so a simulator can never be made to post to the
network. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import ipaddress
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Protocol

import aiohttp
import attrs
from yarl import URL

from seedance_async.simulator._lifecycle import FINAL_STATES, STATES, SimTask, State

__all__ = [
    "CallbackDelivery",
    "CallbackFault",
    "CallbackOutcome",
    "Callbacks",
    "Dispatcher",
    "ForgeKind",
    "is_loopback",
]

CallbackOutcome = Literal["acked", "rejected", "timeout", "error", "dropped", "refused"]
"""What became of one delivery attempt: ``acked`` (2xx), ``rejected`` (any other status),
``timeout`` (no answer within ``ack_timeout``), ``error`` (connection failed), ``dropped``
(a fault: never sent) or ``refused`` (not a loopback URL: never sent)."""
CallbackFault = Literal["", "drop", "reorder", "delay", "duplicate", "forged_task", "forged_url"]
"""The fault behind a delivery: "" for none; ``duplicate`` marks the extra copy;
``forged_task`` / ``forged_url`` mark forged bodies (see :class:`Callbacks`)."""
ForgeKind = Literal["forged_task", "forged_url"]

DEFAULT_NOTIFY: frozenset[State] = frozenset(
    {"queued", "running", "succeeded", "failed", "expired"}
)
DEFAULT_RETRY_ON: frozenset[State] = frozenset({"succeeded", "failed"})


def _states(value: Iterable[str]) -> frozenset[State]:
    found: set[State] = set()
    for item in [value] if isinstance(value, str) else value:
        if item not in STATES:
            raise ValueError(f"unknown status {item!r} (known: {', '.join(STATES)})")
        found.add(next(s for s in STATES if s == item))
    return frozenset(found)


def _probability(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


def _non_negative(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _positive(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Callbacks:
    """Whether and how one provider posts status changes to ``callback_url``.

    Attributes:
        enabled: post callbacks at all. On by default for Ark and the pass-through gateways
            (ChainHub, the `/v1/video/generations` gateway), which hand ``callback_url`` to Ark; off for
            GPTProto (undocumented) and refused for AI/ML API and the unified gateway,
            which document no Ark-style callback.
        notify: the statuses that trigger a notice (neutral names; the body uses the
            provider's words). Default: queued, running, succeeded, failed, expired.
        retry_on: statuses whose notice is re-sent when not acknowledged. Default:
            succeeded, failed.
        retries: re-sends after the first attempt (default 3).
        ack_timeout: wall seconds to wait for the receiver's answer (default 5).
        retry_delay: provider seconds (times ``time_scale``: clock seconds) between an
            unacknowledged attempt and its re-send.
        drop: probability a notice is never sent (no attempt, no re-send).
        reorder: probability a non-final notice is held back and sent right after the
            task's next notice (a ``running`` after the ``succeeded``).
        delay: probability a notice is sent ``delay_seconds`` after its status change.
        delay_seconds: provider seconds (times ``time_scale``) of such a delay.
        duplicate: probability a notice is sent twice.
        forge_task: probability that, next to a real notice, the callback URL also
            receives a forged body claiming success for a task id the provider never
            created (an unsigned callback cannot prove where it came from).
        forge_url: probability of a forged body claiming success for the notice's own
            task, with a ``video_url`` on a foreign host (``*.invalid``).
    """

    enabled: bool = True
    notify: frozenset[State] = attrs.field(default=DEFAULT_NOTIFY, converter=_states)
    retry_on: frozenset[State] = attrs.field(default=DEFAULT_RETRY_ON, converter=_states)
    retries: int = attrs.field(default=3, validator=attrs.validators.ge(0))
    ack_timeout: float = attrs.field(default=5.0, validator=_positive)
    retry_delay: float = attrs.field(default=5.0, validator=_non_negative)
    drop: float = attrs.field(default=0.0, validator=_probability)
    reorder: float = attrs.field(default=0.0, validator=_probability)
    delay: float = attrs.field(default=0.0, validator=_probability)
    delay_seconds: float = attrs.field(default=30.0, validator=_non_negative)
    duplicate: float = attrs.field(default=0.0, validator=_probability)
    forge_task: float = attrs.field(default=0.0, validator=_probability)
    forge_url: float = attrs.field(default=0.0, validator=_probability)


@attrs.frozen(kw_only=True)
class CallbackDelivery:
    """One delivery attempt (or a notice that was never sent).

    Attributes:
        provider: the simulated provider that sent it.
        task_id: the task the body is about (for a forged body: the id it claims).
        url: the callback URL.
        status: the status word in the body (the provider's vocabulary).
        attempt: 1 for the first send, 2, 3... for re-sends.
        time: clock time of the attempt (for ``dropped``/``refused``: when it was due).
        outcome: see :data:`CallbackOutcome`.
        http_status: the receiver's status code, None when there was no answer.
        fault: see :data:`CallbackFault`.
        body: the JSON body posted (or that would have been).
    """

    provider: str
    task_id: str
    url: str
    status: str
    attempt: int
    time: float
    outcome: CallbackOutcome
    http_status: int | None
    fault: CallbackFault
    body: Mapping[str, Any] = attrs.field(eq=False, hash=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``/_sim/callbacks`` format)."""
        return {
            "provider": self.provider,
            "task_id": self.task_id,
            "url": self.url,
            "status": self.status,
            "attempt": self.attempt,
            "time": self.time,
            "outcome": self.outcome,
            "http_status": self.http_status,
            "fault": self.fault,
            "body": self.body,
        }


def is_loopback(url: str) -> bool:
    """Whether ``url`` is http(s) to a loopback address (the only places callbacks go)."""
    try:
        parsed = URL(url)
    except (TypeError, ValueError):
        return False
    host = parsed.host
    if parsed.scheme not in ("http", "https") or not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: resolving it could lead anywhere


class Renderer(Protocol):
    """What the dispatcher needs from its provider."""

    def callback_body(self, task: SimTask, at: float) -> dict[str, Any]:
        """The task object at ``at`` as the provider's GET answers it."""
        ...

    def forged_callback(
        self, task: SimTask, kind: ForgeKind, now: float, rng: random.Random
    ) -> dict[str, Any]:
        """A body claiming success that the provider never sent."""
        ...

    def status_word(self, body: Mapping[str, Any]) -> str:
        """The status word of a callback body."""
        ...

    def task_id(self, body: Mapping[str, Any]) -> str | None:
        """The task id a callback body names."""
        ...


class _Notice:
    __slots__ = ("at", "attempt", "body", "fault", "lane", "retryable", "state", "task_id", "url")

    def __init__(
        self,
        *,
        lane: str,
        task_id: str,
        url: str,
        state: State | None,
        at: float,
        body: dict[str, Any],
        fault: CallbackFault,
        retryable: bool,
        attempt: int = 1,
    ) -> None:
        # ``lane`` is the real task's id: its notices (forgeries included) go out in order.
        self.lane, self.task_id, self.url, self.state, self.at = lane, task_id, url, state, at
        self.body, self.fault, self.retryable, self.attempt = body, fault, retryable, attempt

    def again(self, fault: CallbackFault | None = None) -> _Notice:
        return _Notice(
            lane=self.lane,
            task_id=self.task_id,
            url=self.url,
            state=self.state,
            at=self.at,
            body=self.body,
            fault=self.fault if fault is None else fault,
            retryable=self.retryable,
            attempt=self.attempt,
        )


class _Tracked:
    __slots__ = ("announced", "held", "task", "url")

    def __init__(self, task: SimTask, url: str) -> None:
        self.task, self.url = task, url
        self.announced = 0  # transitions already turned into notices
        self.held: list[_Notice] = []  # reordered notices waiting for the next one


class Dispatcher:
    """The callbacks of one provider: which tasks want them, what is due, what was sent.

    Args:
        provider: the provider's name (in records).
        renderer: renders bodies in the provider's format.
        clock: the simulator's clock.
        time_scale: provider seconds → clock seconds (``retry_delay``, ``delay_seconds``).
        seed: seeds the fault dice and forged ids.
        config: the initial configuration.
        on_pending: called when work appears (the simulator wakes its pump loop).
    """

    def __init__(
        self,
        *,
        provider: str,
        renderer: Renderer,
        clock: Callable[[], float],
        time_scale: float,
        seed: int,
        config: Callbacks,
        on_pending: Callable[[], None] = lambda: None,
    ) -> None:
        self.provider = provider
        self.renderer = renderer
        self.clock = clock
        self.time_scale = time_scale
        self.config = config
        self.on_pending = on_pending
        self.records: list[CallbackDelivery] = []
        self._seed = seed
        self._tracked: dict[str, _Tracked] = {}
        self._due: list[tuple[float, int, _Notice]] = []
        self._seq = 0
        self._locks: dict[str, asyncio.Lock] = {}
        self._queued_per_lane: collections.Counter[str] = collections.Counter()
        self._inflight: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    # -- wiring ---------------------------------------------------------------------------

    def bind(self, session: aiohttp.ClientSession | None) -> None:
        """Use ``session`` for deliveries (None: the simulator stopped)."""
        self._session = session

    def track(self, task: SimTask, url: str) -> None:
        """Announce ``task``'s status changes to ``url`` from now on."""
        if self.config.enabled:
            self._tracked[task.id] = _Tracked(task, url)
            self.on_pending()

    @property
    def busy(self) -> bool:
        """Whether anything is still to be announced, due or in flight."""
        return bool(self._tracked or self._due or self._inflight)

    # -- the pump -------------------------------------------------------------------------

    def pump(self, now: float) -> None:
        """Queue the status changes up to ``now`` and start every delivery due by then.

        The caller advanced the provider's task store to ``now``.
        """
        for task_id in list(self._tracked):
            self._announce(self._tracked[task_id], now)
        while self._due and self._due[0][0] <= now:
            _, _, notice = heapq.heappop(self._due)
            self._queued_per_lane[notice.lane] += 1
            job = asyncio.get_running_loop().create_task(self._deliver(notice))
            self._inflight.add(job)
            job.add_done_callback(self._inflight.discard)

    async def flush(self) -> None:
        """Pump at the clock's time and wait until nothing due is left in flight."""
        while True:
            self.pump(self.clock())
            if not self._inflight:
                return
            await asyncio.gather(*self._inflight, return_exceptions=True)

    async def close(self) -> None:
        """Cancel deliveries in flight (the simulator is stopping)."""
        jobs = list(self._inflight)
        for job in jobs:
            job.cancel()
        for job in jobs:
            with contextlib.suppress(asyncio.CancelledError):
                await job

    def _push(self, due: float, notice: _Notice) -> None:
        self._seq += 1
        heapq.heappush(self._due, (due, self._seq, notice))

    def _announce(self, tracked: _Tracked, now: float) -> None:
        task, config = tracked.task, self.config
        if not config.enabled:
            del self._tracked[task.id]  # switched off: nothing more is announced
            return
        changes = task.transitions(now)
        for state, at in changes[tracked.announced :]:
            tracked.announced += 1
            if state in config.notify:
                self._emit(tracked, state, at)
        if changes[-1][0] in FINAL_STATES:
            # Nothing follows a final status: notices still held back go out now.
            for held in tracked.held:
                self._push(held.at, held)
            tracked.held.clear()
            del self._tracked[task.id]

    def _emit(self, tracked: _Tracked, state: State, at: float) -> None:
        config, task = self.config, tracked.task
        rng = random.Random(f"{self._seed}:{self.provider}:callback:{task.id}:{state}")
        r = rng.random
        d_drop, d_reorder, d_delay, d_dup, d_task, d_url = r(), r(), r(), r(), r(), r()
        notice = _Notice(
            lane=task.id,
            task_id=task.id,
            url=tracked.url,
            state=state,
            at=at,
            body=self.renderer.callback_body(task.in_state(state, at), at),
            fault="",
            retryable=state in config.retry_on,
        )
        if d_drop < config.drop:
            self._record(notice, "dropped", None, fault="drop", time=at)
        elif d_reorder < config.reorder and state not in FINAL_STATES:
            notice.fault = "reorder"
            tracked.held.append(notice)
        else:
            due = at
            if d_delay < config.delay:
                notice.fault = "delay"
                due = at + config.delay_seconds * self.time_scale
            self._push(due, notice)
            if d_dup < config.duplicate and notice.fault == "":
                self._push(due, notice.again("duplicate"))
            for held in tracked.held:
                self._push(due, held)  # right behind the notice that overtook them
            tracked.held.clear()
        forgeries: tuple[tuple[ForgeKind, float, float], ...] = (
            ("forged_task", d_task, config.forge_task),
            ("forged_url", d_url, config.forge_url),
        )
        for kind, die, chance in forgeries:
            if die < chance:
                body = self.renderer.forged_callback(task, kind, at, rng)
                forged = _Notice(
                    lane=task.id,
                    task_id=self.renderer.task_id(body) or task.id,
                    url=tracked.url,
                    state=None,
                    at=at,
                    body=body,
                    fault=kind,
                    retryable=False,
                )
                self._push(at, forged)

    # -- delivery -------------------------------------------------------------------------

    async def _deliver(self, notice: _Notice) -> None:
        lane = notice.lane
        lock = self._locks.setdefault(lane, asyncio.Lock())
        try:
            async with lock:  # one task's notices go out one after the other, in queue order
                now = self.clock()
                if not is_loopback(notice.url):
                    self._record(notice, "refused", None, time=now)
                    return
                outcome, status = await self._post(notice)
                self._record(notice, outcome, status, time=now)
        finally:
            self._queued_per_lane[lane] -= 1
            if self._queued_per_lane[lane] <= 0:  # nobody else waits on this lane's lock
                del self._queued_per_lane[lane]
                self._locks.pop(lane, None)
        config = self.config
        if outcome != "acked" and notice.retryable and notice.attempt <= config.retries:
            again = notice.again()
            again.attempt += 1
            self._push(self.clock() + config.retry_delay * self.time_scale, again)
            self.on_pending()

    async def _post(self, notice: _Notice) -> tuple[CallbackOutcome, int | None]:
        session = self._session
        if session is None or session.closed:
            return "error", None
        timeout = aiohttp.ClientTimeout(total=self.config.ack_timeout)
        try:
            async with session.post(
                notice.url, json=notice.body, timeout=timeout, allow_redirects=False
            ) as response:
                await response.read()
                return ("acked" if 200 <= response.status < 300 else "rejected"), response.status
        except TimeoutError:
            return "timeout", None
        except (aiohttp.ClientError, OSError):
            return "error", None

    def _record(
        self,
        notice: _Notice,
        outcome: CallbackOutcome,
        http_status: int | None,
        *,
        time: float,
        fault: CallbackFault | None = None,
    ) -> None:
        self.records.append(
            CallbackDelivery(
                provider=self.provider,
                task_id=notice.task_id,
                url=notice.url,
                status=self.renderer.status_word(notice.body),
                attempt=notice.attempt,
                time=time,
                outcome=outcome,
                http_status=http_status,
                fault=notice.fault if fault is None else fault,
                body=notice.body,
            )
        )
