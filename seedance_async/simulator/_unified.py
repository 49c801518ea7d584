"""The "unified interface" gateways: ``POST /v2/videos/generations`` (the "Unified
Interface Format" Seedance pages of resellers such as YutoAI; they run the new-api gateway
software, whose task statuses these are).

* Create body ``{prompt (required, ≤800 chars: longer is truncated), model, images: [url],
  duration (5|10), resolution, ratio, watermark, seed ([0, 2147483647]), camerafixed,
  return_last_frame, generate_audio}`` → ``{"task_id"}``.
* ``GET /v2/videos/generations/{task_id}`` → ``{"task_id", "status", "fail_reason",
  "submit_time", "start_time", "finish_time", "progress": "NN%", "data": {"output",
  "outputs"}}``. Deployments differ in the envelope (``Quirks.shape``): ``wrapped`` puts
  both answers inside ``{"code": "success", "message": "", "data": {...}}``; ``new_api``
  answers as new-api's task API does (create: ``{"code": "success", "message": "",
  "data": "<task id>"}``; get: ``{"code", "message", "data": {"task_id", "status",
  "progress", "fail_reason", "result_url", "submit_time", "start_time", "finish_time",
  "data": <upstream Ark task object>}}``).

Simulator choices where the docs are silent:

* Images map to roles by count: 1 → first frame, 2 → first + last frame, 3-4 → reference
  images (the mapping is undocumented).
* Queued tasks report ``NOT_START``, then ``SUBMITTED``, then ``QUEUED`` over their queue
  time (each a third), and ``QUEUED`` while waiting for a running slot.
* ``data`` is null until the task succeeds; a failed task has ``fail_reason`` (the message)
  and ``data: {"error": {"code", "message"}}`` (the upstream Ark error, as wrapped
  deployments are described to do); expired tasks are ``FAILURE`` too. With
  ``Quirks(fail_reason_only=True)`` a failure has only its ``fail_reason`` text, no code.
  ``start_time`` and ``finish_time`` are 0 until known.
* Errors are ``{"message": <text>, "error": <code>}`` with codes ``invalid_request`` (400),
  ``model_not_found`` (400: a model this deployment does not serve; new-api's code),
  ``unauthorized`` (401), ``insufficient_quota`` (403), ``task_not_found`` (404),
  ``rate_limit_exceeded`` (429) and ``server_error`` (5xx), in every shape. Upstream Ark
  refusals are relayed with Ark's code: ``AccountQuotaExceeded`` (429),
  ``InputTextSensitiveContentDetected`` (400).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from seedance_async.simulator._ark import ARK_STATUS, ark_task_json, cgt_id
from seedance_async.simulator._faults import quota_reset_text
from seedance_async.simulator._http import read_json
from seedance_async.simulator._lifecycle import SimTask
from seedance_async.simulator._params import (
    ARK_RATIOS,
    RESOLUTIONS,
    GenParams,
    Rejection,
    model_info,
    resolve_params,
)
from seedance_async.simulator._provider import (
    Ctx,
    ErrorKind,
    Handler,
    Op,
    ProviderSim,
    Reply,
)

__all__ = ["UnifiedSim"]

PATH = "/v2/videos/generations"
MAX_PROMPT = 800
_RATIOS = ARK_RATIOS | {"9:21", "keep_ratio"}
_ERRORS: Mapping[str, tuple[int, str, str]] = {
    "auth": (401, "unauthorized", "Invalid token."),
    "rate_limit": (429, "rate_limit_exceeded", "Too many requests, please try again later."),
    "queue_full": (429, "rate_limit_exceeded", "Too many queued tasks, please try again later."),
    "inflight": (429, "rate_limit_exceeded", "Too many tasks in progress, please try again later."),
    "credits": (403, "insufficient_quota", "Insufficient quota."),
    "not_found": (404, "task_not_found", "Task not found."),
}


def _bad(field: str, why: str) -> Rejection:
    return Rejection(
        status=400, code="invalid_request", message=f"invalid {field}: {why}", param=field
    )


class UnifiedSim(ProviderSim):
    """A ``/v2/videos/generations`` gateway (its envelope is ``Quirks.shape``)."""

    name = "unified"
    default_failure = (
        "OutputVideoSensitiveContentDetected.PolicyViolation",
        "The request failed because the output video may be related to copyright restrictions.",
    )
    quirk_support = frozenset({"shape", "fail_reason_only"})
    shapes = frozenset({"wrapped", "new_api"})

    def routes(self) -> list[tuple[str, str, Op, Handler]]:
        """Create and get."""
        return [
            ("POST", PATH, "create", self.create),
            ("GET", PATH + "/{task_id}", "get", self.get),
        ]

    def new_task_id(self, now: float) -> str:
        """The upstream Ark id passed through (the documented example shows ``cgt-...``)."""
        return cgt_id(now, self.task_rng)

    def unknown_model(self, model: str, ctx: Ctx) -> Rejection:
        """400 ``model_not_found``."""
        return Rejection(
            status=400,
            code="model_not_found",
            message=f"model {model} is not available on this route",
            param="model",
        )

    def error_reply(self, kind: ErrorKind, ctx: Ctx, rejection: Rejection | None = None) -> Reply:
        """``{"message", "error"}`` (see the module docstring)."""
        if rejection is not None:
            status, code, message = rejection.status, rejection.code, rejection.message
        elif kind == "account_quota":
            status, code = 429, "AccountQuotaExceeded"
            message = (
                "You have exceeded the monthly usage quota. "
                f"It will reset at {quota_reset_text(self.faults, ctx.now)}."
            )
        elif kind == "input_moderation":
            status, code = 400, "InputTextSensitiveContentDetected"
            message = "The request failed because the input text may contain sensitive information."
        else:
            status, code, message = _ERRORS.get(
                kind, (self.faults.server_error_status, "server_error", "Internal server error.")
            )
        return Reply(status=status, body={"message": message, "error": code})

    def task_json(self, task: SimTask, now: float) -> dict[str, Any]:
        """The query answer at ``now``, in this deployment's shape."""
        state = task.state(now)
        data: dict[str, Any] | None = None
        fail_reason = ""
        url: str | None = None
        if state == "queued":
            status = "QUEUED"
            if now < task.ready and task.ready > task.created:
                third = (now - task.created) * 3 / (task.ready - task.created)
                status = ("NOT_START", "SUBMITTED", "QUEUED")[min(2, int(third))]
        elif state == "running":
            status = "IN_PROGRESS"
        elif state == "succeeded":
            status = "SUCCESS"
            url, _ = self.result_urls(task)
            data = {"output": url, "outputs": [url]}
        else:
            status = "FAILURE"
            code, fail_reason = task.failure or (
                "TaskExpired",
                "The task expired before it finished.",
            )
            data = (
                None
                if self.quirks.fail_reason_only
                else {"error": {"code": code, "message": fail_reason}}
            )
        end = task.end if task.end is not None and now >= task.end else None
        obj = {
            "task_id": task.id,
            "status": status,
            "fail_reason": fail_reason,
            "submit_time": int(task.created),
            "start_time": int(task.start) if task.start is not None else 0,
            "finish_time": int(end) if end is not None else 0,
            "progress": f"{int(task.progress(now) * 100)}%",
            "data": data,
        }
        shape = self.quirks.shape
        if shape == "new_api":
            # new-api keeps the upstream answer as it came; a failure without a code must
            # not leak Ark's code through it either.
            upstream = None
            if status != "FAILURE" or not self.quirks.fail_reason_only:
                upstream = ark_task_json(self, task, now, ARK_STATUS)
                if url is not None:
                    upstream["content"] = {"video_url": url}
            obj["data"] = upstream
            if url is not None:
                obj["result_url"] = url
        if shape != "default":
            return {"code": "success", "message": "", "data": obj}
        return obj

    async def create(self, request: web.Request, ctx: Ctx) -> Reply:
        """Validate, create, answer ``{"task_id"}``."""
        body, ok = await read_json(request)
        if not ok or not isinstance(body, Mapping):
            return self.error_reply("invalid", ctx, _bad("body", "expected a JSON object"))
        params = self._params(body, ctx)
        if isinstance(params, Rejection):
            return self.error_reply("invalid", ctx, params)
        task = self.create_task(ctx, body, params)
        if isinstance(task, Reply):
            return task
        answer: dict[str, Any] = {"task_id": task.id}
        if self.quirks.shape == "wrapped":
            answer = {"code": "success", "message": "", "data": answer}
        elif self.quirks.shape == "new_api":
            # new-api answers a task submit with the id as a bare string in ``data``.
            answer = {"code": "success", "message": "", "data": task.id}
        return Reply(status=200, body=answer, created=task)

    async def get(self, request: web.Request, ctx: Ctx) -> Reply:
        """The task object (wrapped or not)."""
        task = self.store.get(request.match_info["task_id"], ctx.now)
        if task is None or task.key != ctx.key:
            return self.error_reply("not_found", ctx)
        return Reply(status=200, body=self.task_json(*self.view(task, ctx.now)))

    def _params(self, body: Mapping[str, Any], ctx: Ctx) -> GenParams | Rejection:
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return _bad("prompt", "prompt is required")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _bad("model", f"expected a model name, got {model!r}")
        refused = self.gate_model(model, ctx)
        if refused is not None:
            return refused
        info = model_info(model)
        if info is None:
            return self.unknown_model(model, ctx)
        images = body.get("images") or []
        if not isinstance(images, list) or not all(isinstance(i, str) and i for i in images):
            return _bad("images", "expected an array of image URLs")
        if len(images) > 4:
            return _bad("images", "at most 4 images")
        scenario = (
            "text",
            "first_frame",
            "first_last_frame",
            "reference_images",
            "reference_images",
        )[len(images)]
        allowed = {
            "text": info.text_to_video,
            "first_frame": info.first_frame,
            "first_last_frame": info.first_last_frame,
            "reference_images": info.reference_images,
        }[scenario]
        if not allowed:
            return _bad("images", f"model {model} does not take {len(images)} image(s)")
        duration, seed = body.get("duration"), body.get("seed")
        if duration is not None and (isinstance(duration, bool) or duration not in (5, 10)):
            return _bad("duration", "must be 5 or 10")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2_147_483_647
        ):
            return _bad("seed", "must be an integer within [0, 2147483647]")
        resolution, ratio = body.get("resolution"), body.get("ratio")
        if resolution is not None and resolution not in RESOLUTIONS:
            return _bad("resolution", "must be 480p, 720p or 1080p")
        if ratio is not None and ratio not in _RATIOS:
            return _bad("ratio", f"unsupported ratio {ratio!r}")
        flags: dict[str, bool | None] = {}
        for name in ("watermark", "camerafixed", "return_last_frame", "generate_audio"):
            value = body.get(name)
            if value is not None and not isinstance(value, bool):
                return _bad(name, "expected a boolean")
            flags[name] = value
        return resolve_params(
            model=model,
            info=info,
            scenario=scenario,
            prompt=prompt[:MAX_PROMPT],  # documented: longer prompts are truncated, not refused
            rng=self.task_rng,
            resolution=resolution,
            ratio=ratio,
            duration=duration,
            seed=seed,
            return_last_frame=flags["return_last_frame"],
            generate_audio=flags["generate_audio"],
            camera_fixed=flags["camerafixed"],
            watermark=flags["watermark"],
        )
