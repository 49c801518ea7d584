"""GPTProto (``https://gptproto.com/api/v3``), "official format": Ark's body passed through.

Wire contract: docs/providers.md §6.1 (Ark body and task object §2.2-§2.3, statuses §1,
hazards §8.6 and §8.10; the § numbers below are its sections), from GPTProto's Seedance
pages ("Seedance-1-0-Lite-I2v-250428 - Image To Video" and the other official-format ones).

* ``POST {base}/contents/generations/tasks`` with the Ark body → ``{"id"}``
* ``GET {base}/contents/generations/tasks/{id}`` → the Ark task object, with numbers sent as
  strings (``"seed": "16108"``, ``"created_at": "1766663633"``), or on older pages
  ``{"code": 0, "message": "Success", "data": {"task_id", "status", "video_url", "error"}}``
  with statuses ``pending | completed | failed``
* cancel and list: not documented, so off unless enabled

Everything else is :class:`~seedance_async.providers.ark.ArkAdapter`; this class only
changes what GPTProto does differently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from seedance_async.config._catalog import wire_facts
from seedance_async.core._errors import (
    ConfigurationError,
    ContentPolicyViolation,
    InvalidTaskSpec,
    MalformedResponse,
    ProviderError,
    UnknownStatus,
)
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.providers._error_map import classify_error, request_id_of
from seedance_async.providers._failure import failure_category
from seedance_async.providers._json import Node, parse_json
from seedance_async.providers._protocol import SubmitAccepted, bearer
from seedance_async.providers.ark import (
    DEFAULT_TASKS_PATH,
    ArkAdapter,
    ark_error_fields,
    ark_error_param,
)
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = ["GptProtoAdapter"]

AuthScheme = Literal["bearer", "raw"]
CameraField = Literal["camera_fixed", "camerafixed"]

# The older "{code, message, data}" query page (§6.1).
_LEGACY_STATUSES = {"pending": "queued", "completed": "succeeded"}
_OK_CODES = frozenset({"0", "200", "success"})
# GPTProto's error table: "503 Content policy violation (actual status code is 400)" —
# the class must follow the words, not the status, or a moderated request would be
# retried as a 5xx.
_POLICY_TEXT = re.compile(r"content[\s_-]*policy|policy[\s_-]*violation", re.IGNORECASE)


class GptProtoAdapter(ArkAdapter):
    """GPTProto's Ark pass-through ("official format", §6.1).

    Args:
        tasks_path: path of the tasks collection below ``https://gptproto.com/api/v3``.
        name: the name reported in statuses and errors.
        can_list / can_cancel: GPTProto documents neither endpoint (§6.1), so both are off;
            turn one on to use Ark's list / DELETE call on this host.
        status_map: extra status strings to neutral states, merged over Ark's map plus
            GPTProto's older ``pending`` / ``completed``.
        auth_scheme: ``"bearer"`` sends ``Authorization: Bearer <key>`` as the
            authentication page says; ``"raw"`` sends ``Authorization: <key>`` as every
            curl example does. Which one the server takes is unknown (§6.1).
        camera_fixed_field: the body key for ``camera_fixed``. Ark's own key
            ``camera_fixed`` by default; GPTProto's table says ``camerafixed``, which is
            the prompt flag's name and a key Ark silently ignores (§2.2, §6.1, §9).
        undocumented_fields: also send ``return_last_frame``, ``service_tier``,
            ``execution_expires_after`` and ``callback_url``. GPTProto does not list them,
            and a pass-through that drops a field does so silently (a dropped ``flex``
            tier costs full price), so by default :meth:`check` refuses them. Seedance 2.x's
            ``priority``, ``safety_identifier``, ``draft``, ``omni_reference_task_type`` and
            ``output_format`` are in the same list.
        reference_media: also send reference videos and audio (``video_url`` /
            ``audio_url`` items) and ``tools``. GPTProto's 2.0 pages show images only, so
            whether it forwards them is unknown; off by default.

    Raises:
        ConfigurationError: an option has a value outside its documented set.
    """

    def __init__(
        self,
        *,
        tasks_path: str = DEFAULT_TASKS_PATH,
        name: str = "gptproto",
        can_list: bool = False,
        can_cancel: bool = False,
        status_map: Mapping[str, str] | None = None,
        auth_scheme: AuthScheme = "bearer",
        camera_fixed_field: CameraField = "camera_fixed",
        undocumented_fields: bool = False,
        reference_media: bool = False,
    ) -> None:
        if auth_scheme not in ("bearer", "raw"):
            raise ConfigurationError(f"auth_scheme must be 'bearer' or 'raw', not {auth_scheme!r}")
        if camera_fixed_field not in ("camera_fixed", "camerafixed"):
            raise ConfigurationError(
                "camera_fixed_field must be 'camera_fixed' or 'camerafixed', "
                f"not {camera_fixed_field!r}"
            )
        super().__init__(
            tasks_path=tasks_path,
            name=name,
            can_list=can_list,
            can_cancel=can_cancel,
            status_map={**_LEGACY_STATUSES, **(status_map or {})},
            # Whether GPTProto relays callback_url is undocumented: only when it is sent.
            callbacks=undocumented_fields,
            model_naming="gptproto",
        )
        self.auth_scheme: AuthScheme = auth_scheme
        self.camera_fixed_field: CameraField = camera_fixed_field
        wire = wire_facts("gptproto")
        self.capabilities = attrs.evolve(
            self.capabilities,
            seed_min=wire.seed_min,
            seed_max=wire.seed_max,
            ratios=wire.ratios,
            durations=wire.durations,
            reference_videos=reference_media,
            reference_audios=reference_media,
            tools=reference_media,
            body_fields=self.capabilities.body_fields | {camera_fixed_field},
        )
        if not undocumented_fields:
            # The Ark fields its parameter table leaves out (catalog/gptproto.toml).
            self.capabilities = attrs.evolve(
                self.capabilities, fields=self.capabilities.fields - wire.undocumented_fields
            )

    def __repr__(self) -> str:
        return f"GptProtoAdapter(name={self.name!r}, tasks_path={self.tasks_path!r})"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """``Authorization: Bearer <key>`` or ``Authorization: <key>`` (``auth_scheme``)."""
        if self.auth_scheme == "raw":
            return {"Authorization": api_key}
        return bearer(api_key)

    # -- submit ---------------------------------------------------------------------------

    def submit_body(self, task: VideoTask) -> dict[str, Any]:
        """Ark's body with the configured camera-fixed key."""
        body = super().submit_body(task)
        if self.camera_fixed_field != "camera_fixed" and "camera_fixed" in body:
            body[self.camera_fixed_field] = body.pop("camera_fixed")
        return body

    def build_submit(self, task: VideoTask) -> HttpRequest:
        """``POST {tasks_path}`` with the Ark body.

        Raises:
            InvalidTaskSpec: the task has something GPTProto's format cannot carry (see
                :meth:`check`); nothing is dropped silently.
        """
        violations = self.check(task)
        if violations:
            raise InvalidTaskSpec(violations, context=self.name)
        return super().build_submit(task)

    def parse_submit(self, response: HttpResponse) -> SubmitAccepted:
        """``{"id"}`` as on Ark, or ``{"code", "message", "data": {"task_id"}}``.

        Raises:
            ProviderError: a subclass for an error answer.
            MalformedResponse: no task id in the answer.
        """
        root = self._checked_root(response)
        data = self._legacy_data(root, response)
        if data is None:
            return super().parse_submit(response)
        task_id = data.opt_text("task_id") or data.opt_text("id")
        if task_id is None:
            raise MalformedResponse(
                "create answer without task_id",
                path=f"{data.path}.task_id",
                provider=self.name,
                status=response.status,
            )
        status = None
        if data.get("status") is not None:
            try:
                status = self._parse_legacy(data, task_id)
            except UnknownStatus:
                # The id is what a create answer is for: the first poll tells the state.
                status = None
        return SubmitAccepted(task_id=task_id, status=status)

    # -- status ---------------------------------------------------------------------------

    def parse_status(self, response: HttpResponse, task_id: str) -> TaskStatus:
        """The Ark task object (numbers may be strings) or the older wrapper (§6.1).

        Raises:
            ProviderError: a subclass for an error answer.
            MalformedResponse: the answer does not have either documented shape.
        """
        root = self._checked_root(response)
        data = self._legacy_data(root, response)
        if data is None:
            return self.parse_task(root, fallback_id=task_id)
        return self._parse_legacy(data, task_id)

    def _parse_legacy(self, data: Node, fallback_id: str) -> TaskStatus:
        task_id = data.opt_text("task_id") or data.opt_text("id") or fallback_id
        status_node = data.require("status")
        raw_status = status_node.text()
        state = self._state(status_node, task_id=task_id)
        error_code = error_message = None
        err = data.get("error")
        if err is not None:
            if err.is_object():
                error_code = err.opt_text("code")
                error_message = err.opt_text("message")
            else:
                error_message = str(err.value)[:500] or None
        return TaskStatus(
            provider=self.name,
            task_id=task_id,
            state=state,
            provider_status=raw_status,
            video_url=data.opt_text("video_url"),
            error_code=error_code,
            error_message=error_message,
            failure=failure_category(state, error_code, error_message),
            raw=data.value,
        )

    def _legacy_data(self, root: Node, response: HttpResponse) -> Node | None:
        """The ``data`` of the older ``{code, message, data}`` wrapper, or None for Ark's shape.

        Raises:
            ProviderError: a wrapper that carries an error code instead of data.
        """
        root.object()
        if root.get("status") is not None or root.get("id") is not None:
            return None
        code = root.get("code")
        data = root.get("data")
        if code is None and data is None:
            return None  # neither shape: Ark's parser names the missing field
        if data is None or (code is not None and str(code.value).lower() not in _OK_CODES):
            raise self._error_from(root, response, what="refused")
        return data.object()

    def _checked_root(self, response: HttpResponse) -> Node:
        if not response.ok:
            raise self.classify_error(response)
        return parse_json(response, self.name)

    # -- errors ---------------------------------------------------------------------------

    def classify_error(self, response: HttpResponse) -> ProviderError:
        """The typed error of a GPTProto error answer (§6.1, GPTProto's error table).

        Reads OpenAI-style ``{"error": {"message", "type", "code"}}`` (``invalid_api_key``,
        ``rate_limit_exceeded``) and Ark's envelope. A content-policy refusal is a
        :class:`ContentPolicyViolation` whether it comes as 400 or as 503.
        """
        try:
            root: Node | None = parse_json(response, self.name)
        except MalformedResponse:
            root = None
        return self._error_from(root, response)

    def _error_from(
        self, root: Node | None, response: HttpResponse, *, what: str = "request failed"
    ) -> ProviderError:
        code, message = ark_error_fields(root, response)
        param = ark_error_param(root, message)
        error = classify_error(
            self.name, response, code=code, message=message, what=what, param=param
        )
        if isinstance(error, ContentPolicyViolation) or not _POLICY_TEXT.search(
            f"{code or ''} {message or ''}"
        ):
            return error
        return ContentPolicyViolation(
            f"{what}: refused by content policy",
            provider=self.name,
            status=response.status,
            code=code,
            provider_message=message,
            request_id=request_id_of(response, message),
        )
