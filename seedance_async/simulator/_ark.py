"""Ark's task API (Volcengine Ark / BytePlus ModelArk "video generation task" pages) and the
gateways that pass it through.

One class serves three flavours that differ only in paths and vocabulary:

* ``ark``: base ``/api/v3``, tasks at ``/api/v3/contents/generations/tasks``; create answers
  ``{"id"}``; list and delete exist.
* ``chainhub``: tasks at ``/volc/v1/contents/generations/tasks`` (ChainHub's Seedance API
  page); create answers ``{"id", "status": "submitted"}``; otherwise Ark (list and delete
  included, a guess).
* ``gateway000``: tasks at ``/v1/video/generations`` (a reseller's "Seedance Lite reference
  image" page); create answers ``{"id", "status": "submitted"}``; gets say
  ``submitted``/``processing``/``succeeded``/``failed`` (expired and cancelled show as
  ``failed``, a guess); no list or delete.

Simulator choices where the documentation is silent:

* DELETE of a running or cancelled task: HTTP 400 ``InvalidParameter.TaskStatus``.
* Unknown task id: HTTP 404 ``ResourceNotFound`` (type ``NotFound``).
* Queued and running task objects are sparse (id, model, status, times, service tier,
  expiry); the effective parameters appear once the task is final (as in Ark's examples).
* ``cancelled`` and ``expired`` objects carry no ``error``.
* Every GET of a succeeded task signs a fresh ``video_url`` (valid ``url_ttl`` seconds).
* Callbacks come from Ark itself, also for tasks created through a pass-through gateway
  (which hands ``callback_url`` on): their body is Ark's task object with Ark's status
  words, whatever the gateway's own vocabulary and quirks.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Mapping
from typing import Any

import attrs
from aiohttp import web

from seedance_async.simulator._ark_body import (
    DraftLookup,
    invalid,
    model_not_open,
    parse_ark_body,
    unknown_model,
    unsupported_on_2x,
)
from seedance_async.simulator._callbacks import ForgeKind
from seedance_async.simulator._faults import Faults, quota_reset_text
from seedance_async.simulator._http import read_json
from seedance_async.simulator._lifecycle import SimTask, State
from seedance_async.simulator._params import FPS, GenParams, Rejection
from seedance_async.simulator._provider import (
    Ctx,
    ErrorKind,
    Handler,
    Op,
    ProviderSim,
    Reply,
)

__all__ = ["ARK_STATUS", "ArkFlavor", "ArkSim", "ark_task_json", "cgt_id"]

ARK_STATUS: Mapping[State, str] = {
    s: s for s in ("queued", "running", "succeeded", "failed", "cancelled", "expired")
}
_GATEWAY000_STATUS: Mapping[State, str] = {
    "queued": "submitted",
    "running": "processing",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "failed",
    "expired": "failed",
}
_ID_CHARS = string.ascii_lowercase + string.digits
_TERMINAL = frozenset({"succeeded", "failed", "cancelled", "expired"})


@attrs.frozen(kw_only=True)
class ArkFlavor:
    """Paths and vocabulary of one Ark-format provider."""

    name: str
    api_prefix: str
    tasks_path: str
    create_status: str | None = None
    status_names: Mapping[State, str] = ARK_STATUS
    can_list: bool = True
    can_delete: bool = True


FLAVORS: Mapping[str, ArkFlavor] = {
    f.name: f
    for f in (
        ArkFlavor(
            name="ark", api_prefix="/api/v3", tasks_path="/api/v3/contents/generations/tasks"
        ),
        ArkFlavor(
            name="chainhub",
            api_prefix="",
            tasks_path="/volc/v1/contents/generations/tasks",
            create_status="submitted",
        ),
        ArkFlavor(
            name="gateway000",
            api_prefix="",
            tasks_path="/v1/video/generations",
            create_status="submitted",
            status_names=_GATEWAY000_STATUS,
            can_list=False,
            can_delete=False,
        ),
    )
}

_TYPES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    429: "TooManyRequests",
}


def cgt_id(now: float, rng: random.Random) -> str:
    """An Ark task id, ``cgt-<YYYYMMDDHHMMSS>-<5 chars>`` in UTC."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
    return f"cgt-{stamp}-{''.join(rng.choice(_ID_CHARS) for _ in range(5))}"


def ark_task_json(
    sim: ProviderSim,
    task: SimTask,
    now: float,
    names: Mapping[State, str],
    *,
    upstream: bool = False,
) -> dict[str, Any]:
    """Ark's task object (the answer of "Query a video generation task") at ``now``.

    ``upstream``: as Ark itself sends it (absolute result links), for callbacks.
    """
    state = task.state(now)
    p = task.params
    obj: dict[str, Any] = {
        "id": task.id,
        "model": p.model,
        "status": names[state],
        "created_at": int(task.created),
        "updated_at": int(task.updated_at(now)),
        "service_tier": p.service_tier,
        "execution_expires_after": p.execution_expires_after,
    }
    if state not in _TERMINAL:
        return obj
    obj["seed"] = p.seed
    obj["resolution"] = p.resolution
    obj["ratio"] = p.ratio
    if p.frames is not None:
        obj["frames"] = p.frames  # Ark returns only one of duration/frames
    else:
        obj["duration"] = p.duration
    obj["framespersecond"] = FPS
    if p.generate_audio is not None:
        obj["generate_audio"] = p.generate_audio
    if p.priority is not None:
        obj["priority"] = p.priority
    if p.info.draft or p.info.series == 2:
        obj["draft"] = p.draft
    if p.draft_task_id is not None:
        obj["draft_task_id"] = p.draft_task_id
    if p.safety_identifier is not None:
        obj["safety_identifier"] = p.safety_identifier
    if p.output_format is not None:
        obj["output_format"] = p.output_format
    if state == "succeeded":
        video, frame = sim.result_urls(task, upstream=upstream)
        obj["content"] = (
            {"video_url": video} if frame is None else {"video_url": video, "last_frame_url": frame}
        )
        usage: dict[str, Any] = {"completion_tokens": p.tokens, "total_tokens": p.tokens}
        if p.tools:
            # ``tools`` lists the tools that ran; the count is there whenever search was on.
            usage["tool_usage"] = {"web_search": p.web_searches}
            if p.web_searches:
                obj["tools"] = [{"type": "web_search"}]
        obj["usage"] = usage
    elif state == "failed" and task.failure is not None:
        code, message = task.failure
        obj["error"] = {"code": code, "message": message}
    elif state == "expired" and names[state] == "failed":
        # A gateway without an "expired" word reports a failure, and says why.
        obj["error"] = {"code": "TaskExpired", "message": "The task expired before it finished."}
    return obj


class ArkSim(ProviderSim):
    """Ark, ChainHub or the `/v1/video/generations` gateway, chosen by ``flavor``."""

    default_failure = (
        "OutputVideoSensitiveContentDetected.PolicyViolation",
        "The request failed because the output video may be related to copyright restrictions.",
    )
    posts_callbacks = True
    quirk_support = frozenset({"inactive_models", "reject_unsupported_params"})

    def __init__(self, *, flavor: ArkFlavor, **kwargs: Any) -> None:
        self.flavor = flavor
        self.name = flavor.name
        self.api_prefix = flavor.api_prefix
        super().__init__(**kwargs)

    # -- wire hooks -----------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Op, Handler]]:
        """Create and get always; list and delete when the flavour has them."""
        path = self.flavor.tasks_path
        found: list[tuple[str, str, Op, Handler]] = [
            ("POST", path, "create", self.create),
            ("GET", path + "/{task_id}", "get", self.get),
        ]
        if self.flavor.can_list:
            found.append(("GET", path, "list", self.list))
        if self.flavor.can_delete:
            found.append(("DELETE", path + "/{task_id}", "delete", self.delete))
        return found

    def new_task_id(self, now: float) -> str:
        """``cgt-<YYYYMMDDHHMMSS>-<5 chars>``, in UTC."""
        return cgt_id(now, self.task_rng)

    def extra_headers(self, ctx: Ctx) -> Mapping[str, str]:
        """``X-Request-Id`` on every answer, and the echoed ``X-Client-Request-Id`` (both are
        read by Ark's official SDK)."""
        if ctx.client_request_id:
            return {"X-Request-Id": ctx.request_id, "X-Client-Request-Id": ctx.client_request_id}
        return {"X-Request-Id": ctx.request_id}

    def error_reply(self, kind: ErrorKind, ctx: Ctx, rejection: Rejection | None = None) -> Reply:
        """Ark's envelope ``{"error": {code, message, param, type}}``."""
        status, code, message, param = _ark_error(
            kind, rejection, self.limits.max_queued, self.faults, ctx.now
        )
        return self._ark_reply(ctx, status, code, message, param)

    def _ark_reply(self, ctx: Ctx, status: int, code: str, message: str, param: str) -> Reply:
        body = {
            "error": {
                "code": code,
                "message": f"{message} Request id: {ctx.request_id}",
                "param": param,
                "type": _TYPES.get(
                    status, "InternalServerError" if status >= 500 else "BadRequest"
                ),
            }
        }
        return Reply(status=status, body=body)

    def injected_rate_limit(self, ctx: Ctx) -> Reply:
        """A 429 with ``Faults.rate_limit_code`` (Ark's RPM code by default)."""
        code = self.faults.rate_limit_code
        if code is None:
            return self.error_reply("rate_limit", ctx)
        message = _RATE_MESSAGES.get(
            code, f"The request failed because of a rate or quota limit ({code})."
        )
        if code == "QuotaExceeded":
            message = _FREE_QUOTA_MESSAGE
        return self._ark_reply(ctx, 429, code, message, "")

    def unknown_model(self, model: str, ctx: Ctx) -> Rejection:
        """Ark's 404 ``InvalidEndpointOrModel.NotFound`` (gateways relay it)."""
        return unknown_model(model)

    def model_not_open(self, model: str, ctx: Ctx) -> Rejection:
        """Ark's 404 ``ModelNotOpen`` (gateways relay it)."""
        # A stable, made-up account number per key, in Ark's ten-digit style.
        account = str(2_100_000_000 + int(ctx.key[:8] or "0", 16) % 100_000_000)
        return model_not_open(model, account)

    def render_task(self, task: SimTask, now: float) -> dict[str, Any]:
        """The task object this provider sends (gptproto overrides it)."""
        return ark_task_json(self, task, now, self.flavor.status_names)

    def callback_body(self, task: SimTask, at: float) -> dict[str, Any]:
        """Ark's task object at ``at``: Ark posts callbacks itself, gateway or not."""
        return ark_task_json(self, task, at, ARK_STATUS, upstream=True)

    def forged_callback(
        self, task: SimTask, kind: ForgeKind, now: float, rng: random.Random
    ) -> dict[str, Any]:
        """Ark's task object claiming success: for an id never created (``forged_task``)
        or for ``task`` with its video on a foreign host (``forged_url``)."""
        obj = ark_task_json(self, task.claimed("succeeded", now), now, ARK_STATUS)
        if kind == "forged_task":
            fake = cgt_id(now, rng)
            while fake in self.store:
                fake = cgt_id(now, rng)
            obj["id"] = fake
            # Looks like one of our links, but nothing was signed for this id: a 403.
            url = f"{self.cdn.base_url}/tos/{self.name}/{fake}/video.mp4?expires={int(now) + 86_400}&sig={rng.getrandbits(128):032x}"
        else:
            url = f"https://results.forged.invalid/{task.id}/video.mp4"
        obj["content"] = {"video_url": url}
        return obj

    # -- handlers -------------------------------------------------------------------------

    async def create(self, request: web.Request, ctx: Ctx) -> Reply:
        """``POST {tasks}``: validate, create, answer the id."""
        body, ok = await read_json(request)
        if not ok:
            return self.error_reply(
                "invalid", ctx, invalid("body", "the request body is not valid JSON")
            )
        model = body.get("model") if isinstance(body, Mapping) else None
        if isinstance(model, str) and model:
            refused = self.gate_model(model, ctx)
            if refused is None and self.quirks.reject_unsupported_params:
                refused = unsupported_on_2x(body, model)
            if refused is not None:
                return self.error_reply("invalid", ctx, refused)
        params = await parse_ark_body(
            body, self.task_rng, session=self.session, draft_of=self.draft_lookup(ctx)
        )
        if isinstance(params, Rejection):
            return self.error_reply("invalid", ctx, params)
        task = self.create_task(ctx, body, params)
        if isinstance(task, Reply):
            return task
        answer: dict[str, Any] = {"id": task.id}
        if self.flavor.create_status is not None:
            answer["status"] = self.flavor.create_status
        return Reply(status=200, body=answer, created=task)

    async def get(self, request: web.Request, ctx: Ctx) -> Reply:
        """``GET {tasks}/{id}``: the task object."""
        task = self._owned(request.match_info["task_id"], ctx)
        if task is None:
            return self.error_reply("not_found", ctx)
        return Reply(status=200, body=self.render_task(*self.view(task, ctx.now)))

    async def list(self, request: web.Request, ctx: Ctx) -> Reply:
        """``GET {tasks}?page_num&page_size&filter.*``, newest first."""
        query = request.query
        page: dict[str, int] = {}
        for name, default in (("page_num", 1), ("page_size", 10)):
            raw = query.get(name)
            try:
                page[name] = default if raw is None else int(raw)
            except ValueError:
                return self.error_reply("invalid", ctx, invalid(name, "expected an integer"))
            if not 1 <= page[name] <= 500:
                return self.error_reply("invalid", ctx, invalid(name, "must be within [1, 500]"))
        names = self.flavor.status_names
        status = query.get("filter.status")
        if status is not None and status not in names.values():
            return self.error_reply(
                "invalid", ctx, invalid("filter.status", f"unknown status {status!r}")
            )
        model = query.get("filter.model")
        tier = query.get("filter.service_tier")
        ids = frozenset(query.getall("filter.task_ids", []))
        views = [self.view(task, ctx.now) for task in self.store.newest_first(ctx.key, ctx.now)]
        matches = [
            (task, at)
            for task, at in views
            if (not ids or task.id in ids)
            and (model is None or task.params.model == model)
            and (tier is None or task.params.service_tier == tier)
            and (status is None or names[task.state(at)] == status)
        ]
        first = (page["page_num"] - 1) * page["page_size"]
        items = [self.render_task(*m) for m in matches[first : first + page["page_size"]]]
        return Reply(status=200, body={"total": len(matches), "items": items})

    async def delete(self, request: web.Request, ctx: Ctx) -> Reply:
        """``DELETE {tasks}/{id}``: a queued task is cancelled, a finished one deleted, a
        running or cancelled one refused (Ark's "Cancel or delete" page)."""
        task = self._owned(request.match_info["task_id"], ctx)
        if task is None:
            return self.error_reply("not_found", ctx)
        state = task.state(ctx.now)
        if state == "queued":
            self.store.cancel(task, ctx.now)
            self.counters["tasks.cancelled"] += 1
        elif state in ("succeeded", "failed", "expired"):
            self.store.delete(task)
            self.counters["tasks.deleted"] += 1
        else:
            return self.error_reply(
                "not_allowed",
                ctx,
                Rejection(
                    status=400,
                    code="InvalidParameter.TaskStatus",
                    message=f"The task {task.id} cannot be cancelled or deleted in status `{state}`.",
                    param="id",
                ),
            )
        return Reply(status=200, body={})

    def draft_lookup(self, ctx: Ctx) -> DraftLookup:
        """Resolves a final's ``draft_task`` id: a succeeded draft of this caller's, or the
        refusal (Ark: only a successfully generated draft makes a final)."""
        param = "content.draft_task.id"

        def lookup(draft_id: str) -> GenParams | Rejection:
            task = self._owned(draft_id, ctx)
            if task is None:
                return invalid(param, f"the draft task {draft_id} does not exist")
            if not task.params.draft:
                return invalid(param, f"the task {draft_id} is not a draft")
            if task.state(ctx.now) != "succeeded":
                return invalid(param, f"the draft task {draft_id} has not succeeded")
            return task.params

        return lookup

    def _owned(self, task_id: str, ctx: Ctx) -> SimTask | None:
        task = self.store.get(task_id, ctx.now)
        # Another key's task does not exist for this caller.
        return task if task is not None and task.key == ctx.key else None


_RATE_MESSAGES: Mapping[str, str] = {
    "RateLimitExceeded.EndpointRPMExceeded": "The request failed because you have exceeded the RPM limit of the endpoint. Please try again later.",
    "ModelAccountRpmRateLimitExceeded": "The request failed because you have exceeded the RPM limit of the model for your account. Please try again later.",
    "APIAccountRpmRateLimitExceeded": "The request failed because you have exceeded the RPM limit of your API key. Please try again later.",
    "AccountRateLimitExceeded": "The request failed because you have exceeded the rate limit of your account. Please try again later.",
    "InflightBatchsizeExceeded": "The request failed because the number of in-flight tasks has exceeded the limit. Please try again later.",
    "RequestBurstTooFast": "The request failed because the request rate increased too fast. Please slow down and try again later.",
    "ServerOverloaded": "The service is currently overloaded. Please try again later.",
    "SetLimitExceeded": "The request failed because your account has reached the spending limit you set. The service is paused until you raise it.",
}
# Injected QuotaExceeded is the other meaning of that code (the queue cap has its own
# message): the free quota is used up, which no retry fixes.
_FREE_QUOTA_MESSAGE = "The request failed because the free quota of the model has been used up. Please enable paid inference in the Ark Console."


def _ark_error(
    kind: ErrorKind, rejection: Rejection | None, max_queued: int | None, faults: Faults, now: float
) -> tuple[int, str, str, str]:
    """(status, code, message, param) of an Ark error (its error-code table)."""
    if rejection is not None:
        return rejection.status, rejection.code, rejection.message, rejection.param or ""
    if kind == "auth":
        return (
            401,
            "AuthenticationError",
            "The API key or AK/SK in the request is missing or invalid.",
            "",
        )
    if kind == "rate_limit":
        return (
            429,
            "RateLimitExceeded.EndpointRPMExceeded",
            "The request failed because you have exceeded the RPM limit of the endpoint. Please try again later.",
            "",
        )
    if kind == "queue_full":
        limit = "the limit" if max_queued is None else f"the limit of {max_queued}"
        return (
            429,
            "QuotaExceeded",
            f"The number of queued tasks has reached {limit}. Please try again later.",
            "",
        )
    if kind == "inflight":
        return (
            429,
            "InflightBatchsizeExceeded",
            "The request failed because the number of in-flight tasks has exceeded the limit. Please try again later.",
            "",
        )
    if kind == "credits":
        return (
            403,
            "AccountOverdueError",
            "The request failed because your account has an overdue balance.",
            "",
        )
    if kind == "not_found":
        return 404, "ResourceNotFound", "The specified task is not found.", "id"
    if kind == "account_quota":
        return (
            429,
            "AccountQuotaExceeded",
            f"You have exceeded the monthly usage quota. It will reset at {quota_reset_text(faults, now)}.",
            "",
        )
    if kind == "input_moderation":
        return (
            400,
            "InputTextSensitiveContentDetected",
            "The request failed because the input text may contain sensitive information.",
            "content",
        )
    return (
        faults.server_error_status,
        "InternalServiceError",
        "The service encountered an unexpected internal error.",
        "",
    )
