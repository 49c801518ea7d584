"""What every simulated provider shares: auth, fault injection, limits, books, and the app.

Each request runs through one pipeline (:meth:`ProviderSim._handle`)::

    roll fault dice → latency → reset? → auth → injected 429 / 5xx? → advance lifecycle →
    rate window → protocol handler → drop_after_create? → slow? → malformed / truncated? → answer

Protocol modules (``_ark``, ``_aimlapi``, ``_unified``, ``_gptproto``) subclass
:class:`ProviderSim`, declare their routes and render their own bodies; nothing here knows
a wire format.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from email.utils import formatdate
from typing import Any, Literal

import attrs
from aiohttp import web

from seedance_async.simulator._cdn import Cdn, MediaSpec
from seedance_async.simulator._faults import Faults, roll
from seedance_async.simulator._http import abort_connection, send_truncated
from seedance_async.simulator._ledger import (
    Delivery,
    LedgerEntry,
    RequestRecord,
    body_digest,
    key_fingerprint,
)
from seedance_async.simulator._lifecycle import DurationModel, SimTask, TaskStore
from seedance_async.simulator._limits import Limits, SlidingWindow
from seedance_async.simulator._params import GenParams, Rejection

__all__ = ["Ctx", "ErrorKind", "Handler", "Op", "ProviderSim", "Reply"]

Op = Literal["create", "get", "list", "delete", "other"]
ErrorKind = Literal[
    "auth",  # 401: missing or wrong key
    "rate_limit",  # 429: injected, or the RPM window is full
    "queue_full",  # 429: too many queued tasks (Ark QuotaExceeded)
    "inflight",  # 429: too many queued + running tasks (Ark InflightBatchsizeExceeded)
    "credits",  # 403: out of credits / balance
    "server_error",  # 5xx injected
    "not_found",  # 404 unknown task
    "invalid",  # 4xx from a Rejection
    "not_allowed",  # cancel/delete in a state that does not permit it
]


@attrs.frozen(kw_only=True)
class Reply:
    """A protocol handler's answer before faults are applied to it."""

    status: int
    body: Any
    headers: Mapping[str, str] = attrs.field(factory=dict)
    created: SimTask | None = None


@attrs.define(kw_only=True)
class Ctx:
    """Per-request facts the handlers need."""

    now: float
    key: str
    request_id: str
    op: Op
    path: str
    client_request_id: str = ""
    fail_task: bool = False


Handler = Callable[[web.Request, Ctx], Awaitable[Reply]]


class _LedgerRow:
    __slots__ = ("body", "created_at", "delivery", "digest", "key", "task_id")

    def __init__(self, key: str, task_id: str, body: Any, created_at: float) -> None:
        self.key, self.task_id, self.body, self.created_at = key, task_id, body, created_at
        self.digest = body_digest(body)
        self.delivery: Delivery = "pending"


class ProviderSim:
    """One simulated provider: an aiohttp app and the state behind it.

    Subclasses set ``name``/``api_prefix``, implement :meth:`routes`, :meth:`error_reply` and
    :meth:`new_task_id`, and may override :meth:`authenticate`.
    """

    name = "provider"
    api_prefix = ""
    default_failure = ("InternalError", "The generation failed.")

    def __init__(
        self,
        *,
        keys: Sequence[str],
        seed: int,
        time_scale: float,
        durations: DurationModel,
        limits: Limits,
        faults: Faults,
        clock: Callable[[], float],
        cdn: Cdn,
    ) -> None:
        self._keys = frozenset(key_fingerprint(k) for k in keys)
        self.time_scale = time_scale
        self.durations = durations
        self.limits = limits
        self.faults = faults
        self.clock = clock
        self.cdn = cdn
        self.root_url = ""
        self.fault_rng = random.Random(f"{seed}:{self.name}:faults")
        self.task_rng = random.Random(f"{seed}:{self.name}:tasks")
        self.store = TaskStore(limits.max_running)
        self.window = SlidingWindow(limits.rpm, limits.window)
        self.counters: collections.Counter[str] = collections.Counter()
        self.request_log: list[RequestRecord] = []
        self._ledger: list[_LedgerRow] = []
        self._rows: dict[str, _LedgerRow] = {}
        self._spent: dict[str, int] = {}
        self._seq = 0
        self._rid = 0
        self._closing: asyncio.Event | None = None
        # Ark takes request bodies up to 64 MB; a little more is read so that it can refuse.
        self.app = web.Application(client_max_size=80 * 1024 * 1024)
        for method, path, op, handler in self.routes():
            self.app.router.add_route(method, path, self._wrap(op, handler))
        self.app.router.add_get("/_sim/ledger", self._admin_ledger)
        self.app.router.add_get("/_sim/stats", self._admin_stats)
        self.app.router.add_get("/_sim/requests", self._admin_requests)
        self.app.router.add_get("/_sim/tasks", self._admin_tasks)

    # -- hooks for protocol modules --------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Op, Handler]]:
        """(method, path, op, handler) of every API route."""
        raise NotImplementedError

    def error_reply(self, kind: ErrorKind, ctx: Ctx, rejection: Rejection | None = None) -> Reply:
        """The provider's own error answer for ``kind``."""
        raise NotImplementedError

    def new_task_id(self, now: float) -> str:
        """A fresh task id in the provider's format."""
        raise NotImplementedError

    def authenticate(self, header: str) -> str | None:
        """The key in an ``Authorization`` header value (``Bearer <key>``), or None."""
        scheme, _, key = header.strip().partition(" ")
        return key.strip() if scheme.lower() == "bearer" and key.strip() else None

    def extra_headers(self, ctx: Ctx) -> Mapping[str, str]:
        """Headers added to every API answer (Ark: ``X-Request-Id``)."""
        return {}

    # -- shared helpers for handlers --------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The URL a client uses as this provider's base."""
        return self.root_url + self.api_prefix

    def create_task(self, ctx: Ctx, body: Any, params: GenParams) -> SimTask | Reply:
        """Create (and bill) a task after checking the key's limits.

        Returns:
            The new task, or the provider's refusal when a limit is reached.
        """
        limits = self.limits
        queued, running = self.store.counts(ctx.key, ctx.now)
        if limits.max_queued is not None and queued >= limits.max_queued:
            self.counters["limit.queue_full"] += 1
            return self.error_reply("queue_full", ctx)
        if limits.max_inflight is not None and queued + running >= limits.max_inflight:
            self.counters["limit.inflight"] += 1
            return self.error_reply("inflight", ctx)
        cost = params.tokens
        if limits.credits is not None and self._spent.get(ctx.key, 0) + cost > limits.credits:
            self.counters["limit.credits"] += 1
            return self.error_reply("credits", ctx)
        self._spent[ctx.key] = self._spent.get(ctx.key, 0) + cost
        queue_time, run_time = self.durations.draw(self.task_rng)
        faults = self.faults
        failure = None
        if ctx.fail_task:
            self.counters["fault.task_failure"] += 1
            code, message = self.default_failure
            failure = (faults.failure_code or code, faults.failure_message or message)
        task_id = self.new_task_id(ctx.now)
        while task_id in self.store:
            task_id = self.new_task_id(ctx.now)
        self._seq += 1
        task = SimTask(
            task_id=task_id,
            key=ctx.key,
            seq=self._seq,
            params=params,
            created=ctx.now,
            queue_time=queue_time * self.time_scale,
            run_time=run_time * self.time_scale,
            expires_after=params.execution_expires_after * self.time_scale,
            failure=failure,
        )
        self.store.add(task)
        row = _LedgerRow(ctx.key, task_id, body, ctx.now)
        self._ledger.append(row)
        self._rows[task_id] = row
        self.counters["tasks.created"] += 1
        return task

    def result_urls(self, task: SimTask) -> tuple[str, str | None]:
        """Freshly signed (video URL, last-frame URL or None) of a succeeded task."""
        p = task.params
        spec = MediaSpec(task_id=task.id, width=p.width, height=p.height, seconds=p.seconds)
        video = self.cdn.mint(self.name, spec, "video.mp4")
        frame = self.cdn.mint(self.name, spec, "last_frame.png") if p.return_last_frame else None
        return video, frame

    # -- books ----------------------------------------------------------------------------

    def ledger(self) -> list[LedgerEntry]:
        """Every task created so far, in creation order."""
        return [
            LedgerEntry(
                provider=self.name,
                key=row.key,
                task_id=row.task_id,
                body=row.body,
                digest=row.digest,
                created_at=row.created_at,
                delivery=row.delivery,
            )
            for row in self._ledger
        ]

    def stats(self) -> dict[str, int]:
        """Counters: requests, ``op.*``, ``status.*``, ``fault.*``, ``limit.*``, ``tasks.created``."""
        return dict(self.counters)

    # -- the pipeline ---------------------------------------------------------------------

    def _wrap(
        self, op: Op, handler: Handler
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def route(request: web.Request) -> web.StreamResponse:
            return await self._handle(request, op, handler)

        return route

    def _request_id(self, now: float) -> str:
        # Ark-like: "02" + millisecond time + a counter, unique per provider.
        self._rid += 1
        return f"02{int(now * 1000):013d}{self._rid:010x}"

    async def _handle(self, request: web.Request, op: Op, handler: Handler) -> web.StreamResponse:
        now = self.clock()
        counters = self.counters
        counters["requests"] += 1
        counters[f"op.{op}"] += 1
        faults = self.faults
        plan = roll(faults, self.fault_rng)
        presented = self.authenticate(request.headers.get("Authorization", ""))
        fingerprint = key_fingerprint(presented) if presented else ""
        if faults.latency:
            await self._pause(faults.latency)
        if plan.reset:
            counters["fault.reset"] += 1
            return self._cut(request, now, op, fingerprint, "reset", rst=True)
        ctx = Ctx(
            now=now,
            key=fingerprint,
            request_id=self._request_id(now),
            op=op,
            path=request.path,
            client_request_id=request.headers.get("X-Client-Request-Id", ""),
            fail_task=plan.task_failure,
        )
        from_handler = False
        fault = ""
        if fingerprint not in self._keys:
            counters["auth.failed"] += 1
            reply = self.error_reply("auth", ctx)
        elif plan.rate_limit:
            counters["fault.rate_limit"] += 1
            fault = "rate_limit"
            reply = self._with_retry_after(self.error_reply("rate_limit", ctx), faults, now)
        elif plan.server_error:
            counters["fault.server_error"] += 1
            fault = "server_error"
            reply = self.error_reply("server_error", ctx)
        else:
            self.store.advance(now)
            counts = op == "create" or self.limits.count_polls
            if counts and not self.window.try_acquire(fingerprint, now):
                counters["limit.rpm"] += 1
                reply = self.error_reply("rate_limit", ctx)
            else:
                try:
                    reply = await handler(request, ctx)
                except Exception:  # the simulator must answer, never crash (a bug is a 500)
                    counters["handler.crash"] += 1
                    reply = self.error_reply("server_error", ctx)
                from_handler = True
        row = None if reply.created is None else self._rows.get(reply.created.id)
        if row is not None and plan.drop_after_create:
            counters["fault.drop_after_create"] += 1
            row.delivery = "dropped"
            return self._cut(request, now, op, fingerprint, "drop_after_create", rst=False)
        if plan.slow:
            counters["fault.slow"] += 1
            fault = fault or "slow"
            await self._pause(faults.slow_seconds)
            if request.transport is None or request.transport.is_closing() or self._is_closing():
                # The client gave up (or we are shutting down): nobody receives the answer.
                if row is not None:
                    row.delivery = "dropped"
                return self._cut(request, now, op, fingerprint, fault, rst=False)
        body = json.dumps(reply.body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {**self.extra_headers(ctx), **reply.headers}
        delivery: Delivery = "answered"
        if from_handler and plan.malformed_json:
            counters["fault.malformed_json"] += 1
            body = body[: len(body) // 2] + b"<"
            fault, delivery = "malformed_json", "malformed"
        elif from_handler and plan.truncated:
            counters["fault.truncated"] += 1
            if row is not None:
                row.delivery = "truncated"
            self._log(now, request, op, reply.status, fingerprint, "truncated")
            counters[f"status.{reply.status}"] += 1
            return await send_truncated(request, reply.status, headers, body)
        if row is not None:
            row.delivery = delivery
        counters[f"status.{reply.status}"] += 1
        self._log(now, request, op, reply.status, fingerprint, fault)
        return web.Response(
            status=reply.status, body=body, headers=headers, content_type="application/json"
        )

    def _with_retry_after(self, reply: Reply, faults: Faults, now: float) -> Reply:
        if faults.retry_after is None:
            return reply
        if faults.retry_after_http_date:
            value = formatdate(now + faults.retry_after, usegmt=True)
        else:
            value = f"{faults.retry_after:g}"
        return attrs.evolve(reply, headers={**reply.headers, "Retry-After": value})

    def _log(
        self, now: float, request: web.Request, op: Op, status: int, key: str, fault: str
    ) -> None:
        self.request_log.append(
            RequestRecord(
                time=now,
                method=request.method,
                path=request.path,
                op=op,
                status=status,
                key=key,
                fault=fault,
            )
        )

    def _cut(
        self, request: web.Request, now: float, op: Op, key: str, fault: str, *, rst: bool
    ) -> web.Response:
        """Close the connection without an answer; aiohttp then skips writing the response."""
        self.counters["status.0"] += 1
        self._log(now, request, op, 0, key, fault)
        abort_connection(request, rst=rst)
        return web.Response(status=500)  # never reaches the client: the transport is gone

    # -- shutdown-aware pauses ----------------------------------------------------------

    def bind_loop(self) -> None:
        """Create the loop-bound objects; called by the simulator once the loop runs."""
        self._closing = asyncio.Event()

    def begin_close(self) -> None:
        """Wake every paused handler so shutdown does not wait for ``slow_seconds``."""
        if self._closing is not None:
            self._closing.set()

    def _is_closing(self) -> bool:
        return self._closing is not None and self._closing.is_set()

    async def _pause(self, seconds: float) -> None:
        if self._closing is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # -- admin routes ----------------------------------------------------------------------

    async def _admin_ledger(self, request: web.Request) -> web.Response:
        return web.json_response([e.to_json() for e in self.ledger()])

    async def _admin_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _admin_requests(self, request: web.Request) -> web.Response:
        return web.json_response([r.to_json() for r in self.request_log])

    def task_times(self) -> list[dict[str, Any]]:
        """Every task's clock times (``created``, ``start``, ``end``; None until known) and
        state now, in creation order: what ``/_sim/tasks`` answers, e.g. to measure how long
        a client took to notice that a task finished (``end``)."""
        now = self.clock()
        self.store.advance(now)
        return [
            {
                "task_id": t.id,
                "created": t.created,
                "start": t.start,
                "end": t.end,
                "state": t.state(now),
            }
            for t in self.store
        ]

    async def _admin_tasks(self, request: web.Request) -> web.Response:
        return web.json_response(self.task_times())
