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

Simulator choices where the docs are silent: an unknown task id answers 404 code ``task_not_found``; queue-full and
in-flight limits answer 429 ``rate_limit_exceeded`` like any other rate limit.
"""

from __future__ import annotations

from typing import Any

from seedance_async.simulator._ark import ARK_STATUS, ArkFlavor, ArkSim, ark_task_json
from seedance_async.simulator._lifecycle import SimTask
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


class GptProtoSim(ArkSim):
    """GPTProto's Ark pass-through."""

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

    def render_task(self, task: SimTask, now: float) -> dict[str, Any]:
        """The Ark task object with ``seed``/``created_at``/``updated_at`` as strings, as its docs show."""
        obj = ark_task_json(self, task, now, ARK_STATUS)
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
        else:
            status, etype, code = self.faults.server_error_status, "server_error", "internal_error"
            message = "An internal server error occurred."
        error: dict[str, Any] = {"message": message, "type": etype, "code": code}
        if rejection is not None and rejection.param:
            error["param"] = rejection.param
        return Reply(status=status, body={"error": error})
