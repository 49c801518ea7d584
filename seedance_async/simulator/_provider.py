"""What every simulated provider shares: auth, fault injection, limits, books, and the app.

Each request runs through one pipeline (:meth:`ProviderSim._handle`)::

    roll fault dice → latency → reset? → auth → injected 429 / quota 429 / 5xx? → advance
    lifecycle → rate window → protocol handler → status words (quirks, unknown_status) →
    drop_after_create? → slow? → malformed / truncated? → answer

Besides the API routes every provider app serves its result files under ``/files/...`` (for
relative result links, see ``Quirks.relative_result_urls``) and the admin routes
``/_sim/ledger``, ``/_sim/stats``, ``/_sim/requests``, ``/_sim/tasks`` and
``/_sim/callbacks``.

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
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from email.utils import formatdate
from typing import Any, Literal

import aiohttp
import attrs
from aiohttp import web

from seedance_async.simulator._callbacks import Callbacks, Dispatcher, ForgeKind
from seedance_async.simulator._cdn import Cdn, MediaSpec
from seedance_async.simulator._faults import Faults, roll
from seedance_async.simulator._http import abort_connection, send_truncated
from seedance_async.simulator._ledger import (
    Charge,
    Delivery,
    LedgerEntry,
    RequestRecord,
    body_digest,
    key_fingerprint,
)
from seedance_async.simulator._lifecycle import DurationModel, SimTask, TaskStore
from seedance_async.simulator._limits import Limits, SlidingWindow
from seedance_async.simulator._params import GenParams, Rejection
from seedance_async.simulator._quirks import Quirks, check_quirks

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
    "account_quota",  # 429 (Ark AccountQuotaExceeded): a monthly quota, resets in days
    "input_moderation",  # 400: the input was refused by moderation
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
    moderate_input: bool = False


Handler = Callable[[web.Request, Ctx], Awaitable[Reply]]


class _LedgerRow:
    __slots__ = ("body", "created_at", "delivery", "digest", "key", "params", "task_id")

    def __init__(
        self, key: str, task_id: str, body: Any, created_at: float, params: GenParams
    ) -> None:
        self.key, self.task_id, self.body, self.created_at = key, task_id, body, created_at
        self.params = params
        self.digest = body_digest(body)
        self.delivery: Delivery = "pending"

    @property
    def charge(self) -> Charge:
        if self.params.draft:
            return "draft"
        return "video" if self.params.draft_task_id is None else "final"


class ProviderSim:
    """One simulated provider: an aiohttp app and the state behind it.

    Subclasses set ``name``/``api_prefix``, implement :meth:`routes`, :meth:`error_reply` and
    :meth:`new_task_id`, and may override :meth:`authenticate`. Those that post callbacks
    set ``posts_callbacks`` and implement :meth:`callback_body` and :meth:`forged_callback`;
    ``quirk_support`` and ``shapes`` name the :class:`Quirks` they implement beyond the
    universal ones.
    """

    name = "provider"
    api_prefix = ""
    default_failure = ("InternalError", "The generation failed.")
    posts_callbacks = False
    quirk_support: frozenset[str] = frozenset()
    shapes: frozenset[str] = frozenset()

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
        quirks: Quirks | None = None,
        callbacks: Callbacks | None = None,
        on_callback_pending: Callable[[], None] = lambda: None,
    ) -> None:
        self._keys = frozenset(key_fingerprint(k) for k in keys)
        self.time_scale = time_scale
        self.durations = durations
        self.limits = limits
        self.faults = faults
        self._quirks = Quirks()
        self.quirks = quirks or Quirks()
        self.clock = clock
        self.cdn = cdn
        self.root_url = ""
        # Reads reference clips (set by the simulator once its loop runs; None: on trust).
        self.session: aiohttp.ClientSession | None = None
        self.fault_rng = random.Random(f"{seed}:{self.name}:faults")
        # The faults added later roll from their own generator so that the first one's
        # sequence, and every seeded run recorded with it, stays as it was.
        self.more_fault_rng = random.Random(f"{seed}:{self.name}:faults-2")
        self.task_rng = random.Random(f"{seed}:{self.name}:tasks")
        self.dispatcher = Dispatcher(
            provider=self.name,
            renderer=self,
            clock=clock,
            time_scale=time_scale,
            seed=seed,
            config=Callbacks(enabled=False),
            on_pending=on_callback_pending,
        )
        self.callbacks = callbacks or Callbacks(enabled=False)
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
        self.app.router.add_get("/_sim/callbacks", self._admin_callbacks)
        self.app.router.add_get("/files/{provider}/{task_id}/{name}", self._serve_file)

    # -- configuration ---------------------------------------------------------------------

    @property
    def quirks(self) -> Quirks:
        """This deployment's :class:`Quirks`."""
        return self._quirks

    @quirks.setter
    def quirks(self, quirks: Quirks) -> None:
        check_quirks(self.name, quirks, self.quirk_support, self.shapes)
        self._quirks = quirks

    @property
    def callbacks(self) -> Callbacks:
        """How this provider posts to ``callback_url`` (:class:`Callbacks`)."""
        return self.dispatcher.config

    @callbacks.setter
    def callbacks(self, config: Callbacks) -> None:
        if config.enabled and not self.posts_callbacks:
            raise ValueError(f"provider {self.name!r} documents no Ark-style callbacks")
        self.dispatcher.config = config

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

    def unknown_model(self, model: str, ctx: Ctx) -> Rejection:
        """The refusal of a model this surface does not serve."""
        raise NotImplementedError

    def model_not_open(self, model: str, ctx: Ctx) -> Rejection:
        """The refusal of a model the account has not activated (Ark family only)."""
        raise NotImplementedError

    def injected_rate_limit(self, ctx: Ctx) -> Reply:
        """The answer of an injected 429 (Ark lets ``Faults.rate_limit_code`` pick its code)."""
        return self.error_reply("rate_limit", ctx)

    def callback_body(self, task: SimTask, at: float) -> dict[str, Any]:
        """The GET answer for ``task`` at ``at``, which is what a callback carries."""
        raise NotImplementedError

    def forged_callback(
        self, task: SimTask, kind: ForgeKind, now: float, rng: random.Random
    ) -> dict[str, Any]:
        """A callback body claiming success that this provider never sent."""
        raise NotImplementedError

    def status_word(self, body: Mapping[str, Any]) -> str:
        """The (first) status word in an answer body, "" when there is none."""
        for holder, key in _status_slots(body):
            return str(holder[key])
        return ""

    def task_id(self, body: Mapping[str, Any]) -> str | None:
        """The task id an answer body names (``id`` or ``task_id``, maybe under ``data``)."""
        for node in (body, body.get("data")):
            if isinstance(node, Mapping):
                for key in ("id", "task_id"):
                    if isinstance(node.get(key), str):
                        return str(node[key])
        return None

    # -- shared helpers for handlers --------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The URL a client uses as this provider's base."""
        return self.root_url + self.api_prefix

    def gate_model(self, model: str, ctx: Ctx) -> Rejection | None:
        """Refuse a model this surface does not serve or this account has not activated."""
        quirks = self.quirks
        if quirks.models is not None and model not in quirks.models:
            self.counters["refused.model"] += 1
            return self.unknown_model(model, ctx)
        if model in quirks.inactive_models:
            self.counters["refused.model_not_open"] += 1
            return self.model_not_open(model, ctx)
        return None

    def view(self, task: SimTask, now: float) -> tuple[SimTask, float]:
        """(the task as this surface shows it, the instant it shows) for an answer at ``now``.

        Applies ``Quirks.status_lag`` (the surface reports an earlier state) and
        ``Quirks.hide_expiry`` (expired and cancelled tasks look like they still run).
        """
        quirks = self.quirks
        at = now
        if quirks.status_lag:
            at = max(task.created, now - quirks.status_lag * self.time_scale)
            task = task.as_of(at)
        if quirks.hide_expiry and task.state(at) in ("expired", "cancelled"):
            task = task.stuck()
        return task, at

    def create_task(self, ctx: Ctx, body: Any, params: GenParams) -> SimTask | Reply:
        """Create (and bill) a task after checking the key's limits.

        Returns:
            The new task, or the provider's refusal when a limit is reached or input
            moderation (an injected fault) refuses it.
        """
        if ctx.moderate_input:
            self.counters["fault.input_moderation"] += 1
            return self.error_reply("input_moderation", ctx)
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
        row = _LedgerRow(ctx.key, task_id, body, ctx.now, params)
        self._ledger.append(row)
        self._rows[task_id] = row
        self.counters["tasks.created"] += 1
        if params.callback_url is not None:
            self.dispatcher.track(task, params.callback_url)
        return task

    def result_urls(self, task: SimTask, *, upstream: bool = False) -> tuple[str, str | None]:
        """Freshly signed (video URL, last-frame URL or None) of a succeeded task.

        Args:
            upstream: links as Ark itself gives them (absolute, whatever this surface's
                quirks), for callbacks.
        """
        p = task.params
        spec = MediaSpec(task_id=task.id, width=p.width, height=p.height, seconds=p.seconds)
        relative = self.quirks.relative_result_urls and not upstream
        video = self.cdn.mint(self.name, spec, "video.mp4", relative=relative)
        frame = (
            self.cdn.mint(self.name, spec, "last_frame.png", relative=relative)
            if p.return_last_frame
            else None
        )
        return video, frame

    def rewrite_statuses(self, body: Any, change: Callable[[str], str]) -> None:
        """Apply ``change`` to every status word of an answer body, in place."""
        if isinstance(body, MutableMapping):
            for holder, key in list(_status_slots(body)):
                holder[key] = change(str(holder[key]))

    # -- callbacks ------------------------------------------------------------------------

    def pump_callbacks(self, now: float) -> None:
        """Queue and start the callbacks due by ``now``."""
        if self.dispatcher.busy:
            self.store.advance(now)
            self.dispatcher.pump(now)

    async def flush_callbacks(self) -> None:
        """Deliver every callback due at the clock's time and wait for the answers."""
        self.store.advance(self.clock())
        await self.dispatcher.flush()

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
                charge=row.charge,
                tokens=row.params.tokens,
                draft_task_id=row.params.draft_task_id,
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
        plan = roll(faults, self.fault_rng, self.more_fault_rng)
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
            moderate_input=plan.input_moderation,
        )
        from_handler = False
        fault = ""
        if fingerprint not in self._keys:
            counters["auth.failed"] += 1
            reply = self.error_reply("auth", ctx)
        elif plan.rate_limit:
            counters["fault.rate_limit"] += 1
            fault = "rate_limit"
            reply = self._with_retry_after(self.injected_rate_limit(ctx), faults, now)
        elif plan.account_quota:
            counters["fault.account_quota"] += 1
            fault = "account_quota"
            reply = self.error_reply("account_quota", ctx)
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
                if reply.status == 200:
                    self.rewrite_statuses(reply.body, self.quirks.word)
                    if plan.unknown_status and op in ("get", "list"):
                        counters["fault.unknown_status"] += 1
                        fault = "unknown_status"
                        word = faults.unknown_status_word
                        self.rewrite_statuses(reply.body, lambda _: word)
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

    async def _admin_callbacks(self, request: web.Request) -> web.Response:
        return web.json_response([r.to_json() for r in self.dispatcher.records])

    async def _serve_file(self, request: web.Request) -> web.StreamResponse:
        # Result files behind relative links: the CDN's checks, faults, ranges and log.
        return await self.cdn.serve(request)


def _status_slots(body: Mapping[str, Any]) -> Iterator[tuple[MutableMapping[str, Any], str]]:
    """(holder, key) of each status word in an answer: the body's own ``status``, each list
    item's, and a wrapper's ``data.status`` (not deeper: a new-api answer keeps the upstream
    task, with Ark's own word, in ``data.data``)."""
    nodes: list[Any] = [body, body.get("data")]
    items = body.get("items")
    if isinstance(items, list):
        nodes += items
    for node in nodes:
        if isinstance(node, MutableMapping) and isinstance(node.get("status"), str):
            yield node, "status"
