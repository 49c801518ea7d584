""" "Unified interface" gateways: ``POST /v2/videos/generations``.

Wire contract: docs/providers.md §5 (statuses §1, models §7, hazards §8.6-§8.7 and §8.10;
the § numbers below are its sections), from YutoAI's "Seedance Image-to-Video" page in the
Unified Interface Format. Several resellers share the format (YutoAI, t8star, comfly...).

* ``POST {base}{path}`` with ``{"prompt", "model", "images": [url, ...], ...}`` →
  ``{"task_id"}``
* ``GET {base}{path}/{task_id}`` → ``{"task_id", "status", "fail_reason", "submit_time",
  "start_time", "finish_time", "progress": "45%", "data": {"output", "outputs"}}``
* some deployments wrap both answers in ``{"code": "success", "message": "", "data": {...}}``
  and keep the upstream Ark task (and its ``error``) in ``data.data``
* no cancel and no list endpoint (§5)

Images travel as a bare list of URLs without roles, so the order carries the meaning:
first frame, then last frame. How the gateway maps such a list to reference images is not
documented, hence the ``reference_images`` option.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from seedance_async.config._catalog import wire_facts
from seedance_async.core._errors import (
    ConfigurationError,
    InvalidTaskSpec,
    MalformedResponse,
    ProviderError,
    Violation,
)
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.providers._answers import state_of
from seedance_async.providers._body import image_url_of
from seedance_async.providers._checks import check_capabilities
from seedance_async.providers._error_map import classify_error
from seedance_async.providers._failure import failure_category
from seedance_async.providers._json import Node, parse_json
from seedance_async.providers._protocol import (
    ProviderCapabilities,
    SubmitAccepted,
    WithoutCancelOrList,
    bearer,
)
from seedance_async.providers.ark import ark_effective, ark_usage
from seedance_async.spec._status import TaskState, TaskStatus
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import ImageRole

__all__ = ["DEFAULT_PATH", "UNIFIED_STATUS_MAP", "UnifiedAdapter"]

DEFAULT_PATH = "/v2/videos/generations"

UNIFIED_STATUS_MAP: Mapping[str, TaskState] = {
    "not_start": TaskState.QUEUED,
    "submitted": TaskState.QUEUED,
    "queued": TaskState.QUEUED,
    "in_progress": TaskState.RUNNING,
    "success": TaskState.SUCCEEDED,
    "failure": TaskState.FAILED,
    # The wrapped variant relays the upstream Ark task, so Ark's words are understood too
    # (§1). Anything else raises UnknownStatus, new-api's own "UNKNOWN" included: it means
    # the gateway lost track, which polling more may or may not mend.
    "running": TaskState.RUNNING,
    "succeeded": TaskState.SUCCEEDED,
    "failed": TaskState.FAILED,
    "cancelled": TaskState.CANCELLED,
    "expired": TaskState.EXPIRED,
}

# Wrapper codes that mean "this is the answer, not an error" (§5: "code": "success").
_OK_CODES = frozenset({"success", "ok", "0", "200"})

# Spec field → body key, in the order of the unified page's parameter table (§5).
_BODY_FIELDS = (
    ("duration", "duration"),
    ("resolution", "resolution"),
    ("ratio", "ratio"),
    ("watermark", "watermark"),
    ("seed", "seed"),
    ("camera_fixed", "camerafixed"),  # no underscore on this surface (§5, §8.6)
    ("return_last_frame", "return_last_frame"),
    ("generate_audio", "generate_audio"),
)

Documented = Literal["documented"]


def _loose_text(node: Node | None) -> str | None:
    """Any scalar as text, for error bodies that must never raise."""
    if node is None or isinstance(node.value, dict | list):
        return None
    return str(node.value) or None


def _is_ok_code(node: Node | None) -> bool:
    return node is None or str(node.value).lower() in _OK_CODES


def _first_text(node: Node | None) -> str | None:
    if node is None:
        return None
    items = node.items()
    return (items[0].text() or None) if items else None


class UnifiedAdapter(WithoutCancelOrList):
    """The ``/v2/videos/generations`` "unified interface" format (§5).

    Args:
        name: the name reported in statuses and errors.
        path: path of the generations collection below the base URL.
        reference_images: allow the reference-image scenario. Off by default because the
            format has only a bare ``images`` list and how a gateway maps it to
            first/last/reference roles is undocumented (§5): with this on, reference
            images go out as that bare list and the gateway decides.
        max_prompt_chars: refuse longer prompts. ``"documented"`` uses the limit at which
            the gateway's documentation says it silently truncates (``catalog/unified.toml``,
            800 characters); None turns the check off.

    The seed range, durations and ratios are the documented ones (``catalog/unified.toml``).
    """

    def __init__(
        self,
        *,
        name: str = "unified",
        path: str = DEFAULT_PATH,
        reference_images: bool = False,
        max_prompt_chars: int | Documented | None = "documented",
    ) -> None:
        self.name = name
        self.path = "/" + path.strip("/")
        if isinstance(max_prompt_chars, str) and max_prompt_chars != "documented":
            raise ConfigurationError(
                f"max_prompt_chars must be a number or 'documented', not {max_prompt_chars!r}"
            )
        wire = wire_facts("unified")
        self.capabilities = ProviderCapabilities(
            reference_images=reference_images,
            image_roles_on_wire=False,
            seed_min=wire.seed_min,
            seed_max=wire.seed_max,
            frames=False,
            durations=wire.durations,
            ratios=wire.ratios,
            max_prompt_chars=(
                wire.max_prompt_chars if isinstance(max_prompt_chars, str) else max_prompt_chars
            ),
            # "frames" is governed by frames=False above; leaving it out here as well
            # would make check_capabilities report it twice.
            fields=frozenset({"frames", *(spec for spec, _ in _BODY_FIELDS)}),
            can_cancel=False,
            can_list=False,
        )

    def __repr__(self) -> str:
        return f"UnifiedAdapter(name={self.name!r}, path={self.path!r})"

    # -- rules and auth -------------------------------------------------------------------

    def check(self, task: VideoTask) -> list[Violation]:
        """Violations of what the unified format can express (§5, §7)."""
        out = check_capabilities(self.name, self.capabilities, task)
        if not task.prompt.strip():
            # The unified page marks prompt as required, image-to-video included.
            out.append(
                Violation(field="prompt", rule=f"provider {self.name} requires a prompt", value="")
            )
        return out

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """``Authorization: Bearer <key>`` (§5)."""
        return bearer(api_key)

    # -- submit ---------------------------------------------------------------------------

    def submit_body(self, task: VideoTask) -> dict[str, Any]:
        """The §5 body; unset fields are omitted, false/0 kept (§8.7)."""
        body: dict[str, Any] = {"prompt": task.prompt, "model": task.model}
        if task.images:
            # No roles on the wire: the order says first frame, then last frame, so the
            # last frame goes last whatever order the spec lists them in.
            order = sorted(
                range(len(task.images)), key=lambda n: task.images[n].role is ImageRole.LAST_FRAME
            )
            body["images"] = [image_url_of(task, n) for n in order]
        for spec_name, wire_name in _BODY_FIELDS:
            value = getattr(task, spec_name)
            if value is not None:
                body[wire_name] = value.value if hasattr(value, "value") else value
        return body

    def build_submit(self, task: VideoTask) -> HttpRequest:
        """``POST {path}`` with the unified body.

        Raises:
            InvalidTaskSpec: the task has something this format cannot send (see
                :meth:`check`); nothing is dropped or truncated silently.
        """
        violations = self.check(task)
        if violations:
            raise InvalidTaskSpec(violations, context=self.name)
        return HttpRequest(method="POST", path=self.path, json=self.submit_body(task), paid=True)

    def parse_submit(self, response: HttpResponse) -> SubmitAccepted:
        """``{"task_id"}``, the same inside ``{"code", "message", "data"}``, or new-api's
        ``{"code": "success", "message": "", "data": "<task id>"}``.

        Raises:
            ProviderError: a subclass for an error answer, including a wrapper whose
                ``code`` is not a success code.
            MalformedResponse: no task id in the answer.
        """
        root = self._root_or_raise(response).object()
        data = root.get("data")
        if (
            root.get("task_id") is None
            and data is not None
            and isinstance(data.value, str)
            and _is_ok_code(root.get("code"))
        ):
            bare_id = data.text().strip()
            if bare_id:
                return SubmitAccepted(task_id=bare_id)
        holder = self._unwrap(root, response, "task_id")
        task_id = holder.opt_text("task_id")
        if task_id is None:
            raise MalformedResponse(
                "create answer without task_id",
                path=f"{holder.path}.task_id",
                provider=self.name,
                status=response.status,
            )
        return SubmitAccepted(task_id=task_id)

    # -- status ---------------------------------------------------------------------------

    def build_status(self, task_id: str) -> HttpRequest:
        """``GET {path}/{task_id}``."""
        return HttpRequest(method="GET", path=f"{self.path}/{quote(task_id, safe='')}")

    def parse_status(self, response: HttpResponse, task_id: str) -> TaskStatus:
        """The task object of §5, bare or wrapped, as a neutral status.

        Also reads new-api's task record (``{"code", "data": {"status": "SUCCESS",
        "result_url", "fail_reason", "data": <upstream answer>}}``).

        Raises:
            ProviderError: a subclass for an error answer.
            UnknownStatus: the status word is not in :data:`UNIFIED_STATUS_MAP`.
            MalformedResponse: the answer does not have the documented shape.
        """
        root = self._root_or_raise(response).object()
        task = self._unwrap(root, response, "status")
        task_id = task.opt_text("task_id") or task.opt_text("id") or task_id
        status_node = task.require("status")
        raw_status = status_node.text()
        state = state_of(status_node, UNIFIED_STATUS_MAP, task_id=task_id, provider=self.name)
        upstream = task.get("data")
        # new-api's task record names the result beside the upstream answer.
        video_url = task.opt_text("result_url")
        last_frame_url = error_code = upstream_message = None
        usage = effective = None
        if upstream is not None:
            upstream.object()
            video_url = (
                video_url or upstream.opt_text("output") or _first_text(upstream.get("outputs"))
            )
            content = upstream.get("content")
            if content is not None:
                # The wrapped variant relays the Ark task: content.video_url (§2.3).
                content.object()
                video_url = video_url or content.opt_text("video_url")
                last_frame_url = content.opt_text("last_frame_url")
            err = upstream.get("error")
            if err is not None:
                if err.is_object():
                    error_code = err.opt_text("code")
                    upstream_message = err.opt_text("message")
                else:
                    upstream_message = str(err.value)[:500] or None
            usage = ark_usage(upstream.get("usage"))
            effective = ark_effective(upstream)
        fail_reason = task.opt_text("fail_reason")
        # The gateway's own words and the upstream's may each be the only hint of why
        # (moderation often shows only in fail_reason): classify both.
        reasons = " | ".join(r for r in (fail_reason, upstream_message) if r) or None
        return TaskStatus(
            provider=self.name,
            task_id=task_id,
            state=state,
            provider_status=raw_status,
            video_url=video_url,
            last_frame_url=last_frame_url,
            usage=usage,
            error_code=error_code,
            error_message=fail_reason or upstream_message,
            failure=failure_category(state, error_code, reasons),
            effective=effective,
            created_at=task.opt_time("submit_time"),
            updated_at=task.opt_time("finish_time") or task.opt_time("start_time"),
            progress=self._progress(task.get("progress")),
            raw=task.value,
        )

    @staticmethod
    def _progress(node: Node | None) -> float | None:
        if node is None or node.value == "":
            return None
        # "45%" per the docs; a bare number is read as a percentage too (new-api sends ints).
        return min(1.0, max(0.0, node.number() / 100))

    # -- cancel and list: not offered (§5) -----------------------------------------------

    # -- errors ---------------------------------------------------------------------------

    def error_fields(
        self, root: Node | None, response: HttpResponse
    ) -> tuple[str | None, str | None]:
        """(code, message) of an error answer; never raises.

        The envelope is undocumented (§5): clients in the wild read ``message``, ``error``
        (a string or ``{"message", "code"}``) or ``fail_reason``. A string ``error`` next to
        a ``message`` is taken as the code, as is a wrapper's non-success ``code``.
        """
        if root is None or not root.is_object():
            return None, response.text().strip()[:200] or None
        code = None if _is_ok_code(root.get("code")) else _loose_text(root.get("code"))
        message = _loose_text(root.get("message"))
        err = root.get("error")
        if err is not None and err.is_object():
            code = _loose_text(err.get("code")) or _loose_text(err.get("type")) or code
            message = _loose_text(err.get("message")) or message
        elif err is not None and message:
            # Beside a message, a bare string "error" is a label ({"message", "error":
            # "invalid_request"}, or NestJS's "Bad Request"); alone it is the message.
            code = _loose_text(err) or code
        elif err is not None:
            message = _loose_text(err)
        return code, message or _loose_text(root.get("fail_reason"))

    def classify_error(self, response: HttpResponse) -> ProviderError:
        """The typed error of an error answer, by code first and HTTP status second."""
        try:
            root: Node | None = parse_json(response, self.name)
        except MalformedResponse:
            root = None
        code, message = self.error_fields(root, response)
        return classify_error(self.name, response, code=code, message=message)

    def _unwrap(self, root: Node, response: HttpResponse, key: str) -> Node:
        """The answer object itself, or the ``data`` of a ``{code, message, data}`` wrapper.

        Raises:
            ProviderError: a wrapper with a non-success code and no answer in it.
        """
        if root.get(key) is not None:
            return root
        data = root.get("data")
        if data is not None and data.is_object() and data.get(key) is not None:
            return data
        if not _is_ok_code(root.get("code")):
            # A 200 that carries an error: classify it like any error answer.
            code, message = self.error_fields(root, response)
            raise classify_error(self.name, response, code=code, message=message, what="refused")
        return data.object() if data is not None else root

    def _root_or_raise(self, response: HttpResponse) -> Node:
        if not response.ok:
            raise self.classify_error(response)
        return parse_json(response, self.name)
