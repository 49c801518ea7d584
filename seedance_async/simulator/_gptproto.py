"""GPTProto's "official format": Ark's body and task object under ``/api/v3`` (its
docs.gptproto.com "official format" pages for the Seedance models).

Differences from Ark that the simulator reproduces:

* GET answers carry ``seed``, ``created_at`` and ``updated_at`` as strings, as its docs show.
* Auth accepts ``Authorization: Bearer <key>`` and the raw ``Authorization: <key>`` (the
  docs say Bearer, every curl example sends the bare key).
* Errors are OpenAI-style ``{"error": {"message", "type", "code"}}``: ``invalid_api_key``,
  ``rate_limit_exceeded``, ``insufficient_quota`` (403, "insufficient balance"), Ark codes
  (``MissingParameter``...) for validation with type ``invalid_request_error``.
* No list and no cancel endpoint (none documented).
* Input moderation answers 400 ``content_policy_violation`` (its page lists "503 content
  policy violation (actual status code is 400)").
* ``Quirks(shape="wrapped")``: the older query page's answer, ``{"code": 0, "message":
  "Success", "data": {"task_id", "status": "pending"|"completed"|"failed", "video_url",
  "error"}}``.

Simulator choices where the docs are silent: an unknown task id answers 404 code
``task_not_found``; queue-full and in-flight limits answer 429 ``rate_limit_exceeded`` like
any other rate limit; Ark's own refusals (unknown model, ``ModelNotOpen``,
``AccountQuotaExceeded``) are relayed with Ark's code in the OpenAI-style envelope;
callbacks (undocumented) are off unless enabled, and then come from Ark.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seedance_async.simulator._ark import ARK_STATUS, ArkFlavor, ArkSim, ark_task_json
from seedance_async.simulator._faults import quota_reset_text
from seedance_async.simulator._lifecycle import SimTask, State
from seedance_async.simulator._params import Rejection
from seedance_async.simulator._provider import Ctx, ErrorKind, Reply

__all__ = ["GPTPROTO_FLAVOR", "GptProtoSim"]

GPTPROTO_FLAVOR = ArkFlavor(
    name="gptproto",
    api_prefix="/api/v3",
    tasks_path="/api/v3/contents/generations/tasks",
    status_names=ARK_STATUS,
    can_list=False,
    can_delete=False,
)

_STRING_FIELDS = ("seed", "created_at", "updated_at")
_WRAPPED_STATUS: Mapping[State, str] = {
    "queued": "pending",
    "running": "pending",
    "succeeded": "completed",
    "failed": "failed",
    "cancelled": "failed",
    "expired": "failed",
}


class GptProtoSim(ArkSim):
    """GPTProto's Ark pass-through."""

    quirk_support = ArkSim.quirk_support | {"shape"}
    shapes = frozenset({"wrapped"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(flavor=GPTPROTO_FLAVOR, **kwargs)

    def authenticate(self, header: str) -> str | None:
        """``Bearer <key>`` or the bare key."""
        value = header.strip()
        scheme, _, rest = value.partition(" ")
        if scheme.lower() == "bearer":
            return rest.strip() or None
        return value or None

    def extra_headers(self, ctx: Ctx) -> dict[str, str]:
        """No Ark request id header on GPTProto."""
        return {}

    def injected_rate_limit(self, ctx: Ctx) -> Reply:
        """GPTProto's own 429 (``Faults.rate_limit_code`` is an Ark-only knob)."""
        return self.error_reply("rate_limit", ctx)

    def render_task(self, task: SimTask, now: float) -> dict[str, Any]:
        """The Ark task object with ``seed``/``created_at``/``updated_at`` as strings, or
        the older ``{"code": 0, "message": "Success", "data": ...}`` answer."""
        obj = ark_task_json(self, task, now, ARK_STATUS)
        if self.quirks.shape == "wrapped":
            state = task.state(now)
            content = obj.get("content") or {}
            error = obj.get("error")
            data = {
                "task_id": task.id,
                "status": _WRAPPED_STATUS[state],
                "video_url": content.get("video_url", ""),
                "error": "" if error is None else error.get("message", ""),
            }
            return {"code": 0, "message": "Success", "data": data}
        for name in _STRING_FIELDS:
            if name in obj:
                obj[name] = str(obj[name])
        return obj

    def error_reply(self, kind: ErrorKind, ctx: Ctx, rejection: Rejection | None = None) -> Reply:
        """OpenAI-style error bodies."""
        if rejection is not None:
            status, etype, code, message = (
                rejection.status,
                "invalid_request_error",
                rejection.code,
                rejection.message,
            )
        elif kind == "auth":
            status, etype, code = 401, "invalid_request_error", "invalid_api_key"
            message = "Invalid API key provided."
        elif kind in ("rate_limit", "queue_full", "inflight"):
            status, etype, code = 429, "rate_limit_error", "rate_limit_exceeded"
            message = "Rate limit exceeded. Please slow down and try again later."
        elif kind == "credits":
            status, etype, code = 403, "insufficient_quota", "insufficient_quota"
            message = "Insufficient balance for the requested operation."
        elif kind == "not_found":
            status, etype, code = 404, "invalid_request_error", "task_not_found"
            message = "Task not found."
        elif kind == "account_quota":
            status, etype, code = 429, "rate_limit_error", "AccountQuotaExceeded"
            message = (
                "You have exceeded the monthly usage quota. "
                f"It will reset at {quota_reset_text(self.faults, ctx.now)}."
            )
        elif kind == "input_moderation":
            status, etype, code = 400, "invalid_request_error", "content_policy_violation"
            message = "Your request was rejected as a result of our safety system."
        else:
            status, etype, code = self.faults.server_error_status, "server_error", "internal_error"
            message = "An internal server error occurred."
        error: dict[str, Any] = {"message": message, "type": etype, "code": code}
        if rejection is not None and rejection.param:
            error["param"] = rejection.param
        return Reply(status=status, body={"error": error})
