"""Volcengine Ark / BytePlus ModelArk, and gateways that pass Ark's body through.

Wire contract: docs/providers.md §2 (Ark) and §3 (pass-through gateways); the § numbers
below are its sections.

* ``POST {base}{tasks_path}`` with ``{"model", "content": [...], <options>}`` → ``{"id"}``
* ``GET {base}{tasks_path}/{id}`` → the task object
* ``GET {base}{tasks_path}?page_num&page_size&filter.*`` → ``{"total", "items"}``
* ``DELETE {base}{tasks_path}/{id}`` → ``{}`` (cancels a queued task, deletes a finished one;
  refused for a running or cancelled one)

Gateways are configurations of this adapter: ChainHub is ``tasks_path=
"/volc/v1/contents/generations/tasks"`` on ``https://api.chainhub.tech``; the
``/v1/video/generations`` gateway is ``tasks_path="/v1/video/generations"``. Its
``submitted``/``processing`` statuses are understood everywhere. Whether those gateways
offer list and cancel is not documented (§3), so ``can_list`` and ``can_cancel`` are
options.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from seedance_async.config._catalog import wire_facts
from seedance_async.core._errors import (
    ConfigurationError,
    MalformedResponse,
    ProviderError,
    TaskNotCancellable,
    UnknownStatus,
    Violation,
)
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.providers._answers import state_of
from seedance_async.providers._body import (
    audio_url_of,
    image_url_of,
    merge_extra,
    video_url_of,
    wire_model,
)
from seedance_async.providers._checks import check_capabilities, model_violations
from seedance_async.providers._error_map import classify_error
from seedance_async.providers._failure import failure_category
from seedance_async.providers._json import Node, parse_json
from seedance_async.providers._protocol import (
    ListQuery,
    ProviderCapabilities,
    SubmitAccepted,
    TaskPage,
    bearer,
)
from seedance_async.spec._status import EffectiveParams, TaskState, TaskStatus, Usage
from seedance_async.spec._task import VideoTask

__all__ = [
    "ARK_BODY_FIELDS",
    "ARK_STATUS_MAP",
    "DEFAULT_TASKS_PATH",
    "ArkAdapter",
    "ark_effective",
    "ark_error_fields",
    "ark_error_param",
    "ark_usage",
]

DEFAULT_TASKS_PATH = "/contents/generations/tasks"

T = TypeVar("T")

ARK_STATUS_MAP: Mapping[str, TaskState] = {
    "queued": TaskState.QUEUED,
    "running": TaskState.RUNNING,
    "succeeded": TaskState.SUCCEEDED,
    "failed": TaskState.FAILED,
    "cancelled": TaskState.CANCELLED,
    "expired": TaskState.EXPIRED,
    # The /v1/video/generations gateway's vocabulary (§3.1).
    "submitted": TaskState.QUEUED,
    "processing": TaskState.RUNNING,
}

# Spec field → Ark body field; unset (None) fields are omitted, explicit false/0 kept
# (§2.2 and §8.7).
_BODY_FIELDS = (
    "callback_url",
    "return_last_frame",
    "service_tier",
    "execution_expires_after",
    "generate_audio",
    "camera_fixed",
    "watermark",
    "seed",
    "resolution",
    "ratio",
    "duration",
    "frames",
    # Seedance 2.x (docs/seedance-2 §4): omitted unless set, like the rest.
    "priority",
    "safety_identifier",
    "draft",
    "output_format",
)


ARK_BODY_FIELDS: frozenset[str] = frozenset(
    {"model", "content", "tools", "omni_reference_task_type", *_BODY_FIELDS}
)
"""The keys an Ark create body may have from the spec (``extra`` may not name them)."""


def ark_error_fields(root: Node | None, response: HttpResponse) -> tuple[str | None, str | None]:
    """(code, message) from Ark's ``{"error": {code, message, param, type}}`` envelope.

    Also reads OpenAI-style ``{"error": {"message", "type", "code"}}`` (GPTProto) and a bare
    ``{"code", "message"}``. Falls back to the body text when the body is not JSON.
    """
    if root is None or not root.is_object():
        text = response.text().strip()
        return None, text[:200] or None
    err = root.get("error")
    holder = err if err is not None and err.is_object() else root
    if err is not None and not err.is_object():
        return None, str(err.value)[:200]
    code_node = holder.get("code")
    code = None if code_node is None else str(code_node.value)
    if code is None:
        type_node = holder.get("type")
        code = None if type_node is None else str(type_node.value)
    msg_node = holder.get("message")
    message = None if msg_node is None else str(msg_node.value)
    return code, message


# "... missing `content` parameter", "The parameter `resolution` specified ...",
# "the value of parameter 'ratio' ...": how Ark's messages name a parameter when the
# envelope's ``param`` is empty.
_PARAM_IN_MESSAGE = re.compile(
    r"[`'\"](?P<a>[A-Za-z_][\w.\[\]]*)[`'\"]\s+parameter|parameter\s+[`'\"](?P<b>[A-Za-z_][\w.\[\]]*)[`'\"]"
)


def ark_error_param(root: Node | None, message: str | None) -> str | None:
    """The parameter an Ark error names: ``error.param``, else the one its message quotes."""
    if root is not None and root.is_object():
        err = root.get("error")
        if err is not None and err.is_object():
            try:
                param = err.opt_text("param")
            except MalformedResponse:
                param = None
            if param:
                return param
    found = _PARAM_IN_MESSAGE.search(message or "")
    return None if found is None else found.group("a") or found.group("b")


def _soft(read: Callable[[], T]) -> T | None:
    # Echoed values are extras: one of an odd type must not cost the whole status.
    try:
        return read()
    except MalformedResponse:
        return None


def ark_effective(node: Node) -> EffectiveParams | None:
    """The values an Ark task object says were used (duration, ratio, seed...), or None.

    Ark fills them in as the task runs: ``duration`` (or ``frames`` when the task asked for
    frames), ``ratio`` (what ``adaptive`` became), ``resolution``, ``seed`` (the random one
    when none was sent), ``framespersecond``, ``generate_audio``, ``service_tier``, and for
    Seedance 2.x ``draft``, ``draft_task_id``, the ``tools`` that ran, ``output_format`` and
    ``priority``. Numbers may come as strings (GPTProto) and the duration may be fractional.
    """
    duration = _soft(lambda: node.opt_number("duration"))
    effective = EffectiveParams(
        # -1 means "the model picks": not a length yet.
        duration=duration if duration is not None and duration >= 0 else None,
        frames=_soft(lambda: node.opt_int("frames")),
        ratio=_soft(lambda: node.opt_text("ratio")),
        resolution=_soft(lambda: node.opt_text("resolution")),
        seed=_soft(lambda: node.opt_int("seed")),
        fps=_soft(lambda: node.opt_number("framespersecond")),
        generate_audio=_soft(lambda: _opt_bool(node, "generate_audio")),
        service_tier=_soft(lambda: node.opt_text("service_tier")),
        draft=_soft(lambda: _opt_bool(node, "draft")),
        draft_task_id=_soft(lambda: node.opt_text("draft_task_id")),
        tools=_soft(lambda: _tools_used(node)) or (),
        output_format=_soft(lambda: _output_format(node)),
        priority=_soft(lambda: node.opt_int("priority")),
    )
    return None if effective == EffectiveParams() else effective


def _tools_used(node: Node) -> tuple[str, ...]:
    # ``tools`` lists the tools that ran (``[{"type": "web_search"}]``), absent when none did.
    tools = node.get("tools")
    if tools is None or not isinstance(tools.value, list):
        return ()
    out = []
    for item in tools.items():
        if item.is_object():
            kind = item.opt_text("type")
            if kind:
                out.append(kind)
    return tuple(out)


def _output_format(node: Node) -> str | None:
    # 2.5 echoes it at the top level, sometimes inside ``content``.
    found = node.opt_text("output_format")
    content = node.get("content")
    if found is None and content is not None and content.is_object():
        found = content.opt_text("output_format")
    return found


def _opt_bool(node: Node, key: str) -> bool | None:
    child = node.get(key)
    return None if child is None else child.boolean()


def ark_usage(node: Node | None) -> Usage | None:
    """Ark's ``usage`` object: tokens, and ``tool_usage`` counts (``{"web_search": 2}``)."""
    if node is None:
        return None
    node.object()
    tools: dict[str, int] = {}
    tool_usage = node.get("tool_usage")
    if tool_usage is not None and tool_usage.is_object():
        for name in tool_usage.value:
            try:
                count = tool_usage.opt_int(name)
            except MalformedResponse:
                continue
            if count is not None:
                tools[str(name)] = count
    return Usage(
        completion_tokens=node.opt_int("completion_tokens"),
        total_tokens=node.opt_int("total_tokens"),
        tool_usage=tools,
    )


class ArkAdapter:
    """Ark's content-generation task API, and pass-through gateways of it.

    Args:
        tasks_path: path of the tasks collection below the base URL.
        name: the name reported in statuses and errors.
        can_list: the list endpoint exists (Ark yes; gateways unknown).
        can_cancel: the DELETE endpoint exists (Ark yes; gateways unknown).
        status_map: extra provider status strings to neutral states, merged over the
            built-in map (for gateways with their own vocabulary). Words in neither map
            raise :class:`~seedance_async.core._errors.UnknownStatus`.
        callbacks: the provider posts status changes to ``callback_url`` (Ark does, and
            pass-through gateways hand the URL to Ark); turn off for a gateway that drops it.
        model_naming: whose model ids this host uses (``volcengine``: ``doubao-…``;
            ``byteplus``: ``dreamina-…`` for 2.x): a provider-neutral model name
            (``seedance-2.0-fast``) is sent as that naming's id, and a model this naming
            has retired is refused with its named replacement.
        task_type_names: how the neutral ``omni_reference_task_type`` values (``auto``,
            ``reference``, ``edit``, ``extend``) are spelled on the wire; the spellings are
            disputed, so a value left out is sent as its neutral name.

    Raises:
        ConfigurationError: a ``status_map`` value is not a neutral state name.
    """

    def __init__(
        self,
        *,
        tasks_path: str = DEFAULT_TASKS_PATH,
        name: str = "ark",
        can_list: bool = True,
        can_cancel: bool = True,
        status_map: Mapping[str, str] | None = None,
        callbacks: bool = True,
        task_type_names: Mapping[str, str] | None = None,
        model_naming: str = "volcengine",
    ) -> None:
        self.name = name
        self.model_naming = model_naming
        self.tasks_path = "/" + tasks_path.strip("/")
        self.status_map: dict[str, TaskState] = dict(ARK_STATUS_MAP)
        for raw, neutral in (status_map or {}).items():
            try:
                self.status_map[raw.strip().lower()] = TaskState(neutral)
            except ValueError:
                allowed = ", ".join(s.value for s in TaskState)
                raise ConfigurationError(
                    f"status_map maps {raw!r} to {neutral!r}; expected one of {allowed}"
                ) from None
        self.task_type_names = dict(task_type_names or {})
        wire = wire_facts("ark")
        self.capabilities = ProviderCapabilities(
            seed_min=wire.seed_min,
            seed_max=wire.seed_max,
            ratios=wire.ratios,
            durations=wire.durations,
            can_cancel=can_cancel,
            can_list=can_list,
            cancel_states=frozenset({TaskState.QUEUED}) if can_cancel else frozenset(),
            callbacks=callbacks,
            reference_videos=True,
            reference_audios=True,
            inline_audios=True,
            tools=True,
            body_fields=ARK_BODY_FIELDS,
        )

    def __repr__(self) -> str:
        return f"ArkAdapter(name={self.name!r}, tasks_path={self.tasks_path!r})"

    # -- rules and auth -------------------------------------------------------------------

    def check(self, task: VideoTask) -> list[Violation]:
        """Violations of what Ark's body can express (Ark takes every spec field), and of
        the model on this host (retired, or a neutral name without an id here)."""
        return model_violations(self.name, self.model_naming, task) + check_capabilities(
            self.name, self.capabilities, task
        )

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """``Authorization: Bearer <key>`` (§2.1)."""
        return bearer(api_key)

    # -- submit ---------------------------------------------------------------------------

    def submit_body(self, task: VideoTask) -> dict[str, Any]:
        """The create-task JSON body for a spec (also used by Ark-format gateways).

        Content items keep the spec's order per kind (text, images, videos, audio), which is
        how prompts address references ("Image 1", "Video 1", "Audio 1").
        """
        content: list[dict[str, Any]] = []
        if task.from_draft is not None:
            # A final: the draft item alone; the provider reuses the draft's text and media.
            content.append({"type": "draft_task", "draft_task": {"id": task.from_draft}})
        if task.prompt:
            content.append({"type": "text", "text": task.prompt})
        for n, image in enumerate(task.images):
            content.append(
                {
                    "type": "image_url",
                    "image_url": {"url": image_url_of(task, n)},
                    "role": image.role.value,
                }
            )
        for n, video in enumerate(task.videos):
            content.append(
                {
                    "type": "video_url",
                    "video_url": {"url": video_url_of(task, n)},
                    "role": video.role,
                }
            )
        for n, audio in enumerate(task.audios):
            content.append(
                {
                    "type": "audio_url",
                    "audio_url": {"url": audio_url_of(task, n)},
                    "role": audio.role,
                }
            )
        body: dict[str, Any] = {"model": wire_model(task, self.model_naming), "content": content}
        for name in _BODY_FIELDS:
            value = getattr(task, name)
            if value is not None:
                body[name] = value.value if hasattr(value, "value") else value
        kind = task.omni_reference_task_type
        if kind is not None:
            body["omni_reference_task_type"] = self.task_type_names.get(kind, kind)
        if task.tools:
            body["tools"] = [{"type": tool} for tool in task.tools]
        return merge_extra(body, task, self.name)

    def build_submit(self, task: VideoTask) -> HttpRequest:
        """``POST {tasks_path}`` with the Ark body."""
        return HttpRequest(
            method="POST", path=self.tasks_path, json=self.submit_body(task), paid=True
        )

    def parse_submit(self, response: HttpResponse) -> SubmitAccepted:
        """``{"id": "cgt-..."}``; gateways add ``"status": "submitted"``."""
        root = self._root_or_raise(response, "submit")
        task_id = root.object().require("id").text()
        status: TaskStatus | None = None
        status_node = root.get("status")
        if status_node is not None:
            raw_status = status_node.text()
            try:
                state = self._state(status_node, task_id=task_id)
            except UnknownStatus:
                # The id is what a create answer is for; an odd echo must not turn a
                # created (paid) task into an ambiguous submit. The first poll tells.
                return SubmitAccepted(task_id=task_id)
            status = TaskStatus(
                provider=self.name,
                task_id=task_id,
                state=state,
                provider_status=raw_status,
                raw=root.value,
            )
        return SubmitAccepted(task_id=task_id, status=status)

    # -- status ---------------------------------------------------------------------------

    def _task_path(self, task_id: str) -> str:
        return f"{self.tasks_path}/{quote(task_id, safe='')}"

    def build_status(self, task_id: str) -> HttpRequest:
        """``GET {tasks_path}/{id}``."""
        return HttpRequest(method="GET", path=self._task_path(task_id))

    def parse_status(self, response: HttpResponse, task_id: str) -> TaskStatus:
        """The task object of §2.3 as a neutral status."""
        root = self._root_or_raise(response, "status")
        return self.parse_task(root, fallback_id=task_id)

    def _state(self, word: Node, *, task_id: str) -> TaskState:
        return state_of(word, self.status_map, task_id=task_id, provider=self.name)

    def parse_task(self, node: Node, *, fallback_id: str = "") -> TaskStatus:
        """One Ark task object (from get or list) as a neutral status.

        Raises:
            UnknownStatus: the status word is not in this adapter's vocabulary.
            MalformedResponse: the object lacks an id or a status.
        """
        node.object()
        task_id = node.opt_text("id") or fallback_id
        if not task_id:
            raise MalformedResponse("task without id", path=f"{node.path}.id", provider=self.name)
        status_node = node.require("status")
        raw_status = status_node.text()
        state = self._state(status_node, task_id=task_id)
        content = node.get("content")
        video_url = last_frame_url = None
        if content is not None and content.is_object():
            video_url = content.opt_text("video_url") or content.opt_text("file_url")
            last_frame_url = content.opt_text("last_frame_url")
        error_code = error_message = None
        err = node.get("error")
        if err is not None:
            if err.is_object():
                error_code = err.opt_text("code")
                error_message = err.opt_text("message")
            else:
                error_message = str(err.value)[:500]
        return TaskStatus(
            provider=self.name,
            task_id=task_id,
            state=state,
            provider_status=raw_status,
            video_url=video_url,
            last_frame_url=last_frame_url,
            usage=ark_usage(node.get("usage")),
            error_code=error_code,
            error_message=error_message,
            failure=failure_category(state, error_code, error_message),
            effective=ark_effective(node),
            created_at=node.opt_time("created_at"),
            updated_at=node.opt_time("updated_at"),
            raw=node.value,
        )

    # -- cancel ---------------------------------------------------------------------------

    def build_cancel(self, task_id: str) -> HttpRequest | None:
        """``DELETE {tasks_path}/{id}``, or None when disabled for a gateway."""
        if not self.capabilities.can_cancel:
            return None
        return HttpRequest(method="DELETE", path=self._task_path(task_id))

    def parse_cancel(self, response: HttpResponse, task_id: str) -> None:
        """2xx means cancelled (queued) or deleted (finished).

        Raises:
            TaskNotCancellable: the task's state forbids it (running, or already cancelled).
                Ark documents the rule, not the answer: a ``...TaskStatus`` error code, an
                HTTP 409, or a 400 whose message is about the task's status are taken as it.
            ProviderError: any other error answer.
        """
        if response.ok:
            return
        error = self.classify_error(response)
        code = (error.code or "").lower()
        message = (error.provider_message or "").lower()
        refused = (
            "taskstatus" in code
            or response.status == 409
            or (response.status == 400 and "status" in message)
        )
        if not refused:
            raise error
        raise TaskNotCancellable(
            f"task {task_id} cannot be cancelled in its current state",
            provider=error.provider,
            status=error.status,
            code=error.code,
            provider_message=error.provider_message,
            request_id=error.request_id,
        )

    # -- list -----------------------------------------------------------------------------

    def build_list(self, query: ListQuery) -> HttpRequest | None:
        """``GET {tasks_path}`` with page and ``filter.*`` parameters (§2.4)."""
        if not self.capabilities.can_list:
            return None
        params: list[tuple[str, str]] = [
            ("page_num", str(query.page_num)),
            ("page_size", str(query.page_size)),
        ]
        if query.status is not None:
            params.append(("filter.status", query.status.value))
        if query.model is not None:
            params.append(("filter.model", query.model))
        if query.service_tier is not None:
            params.append(("filter.service_tier", query.service_tier))
        params += [("filter.task_ids", tid) for tid in query.task_ids]
        return HttpRequest(method="GET", path=self.tasks_path, query=params)

    def parse_list(self, response: HttpResponse) -> TaskPage:
        """``{"total", "items": [task, ...]}``."""
        root = self._root_or_raise(response, "list").object()
        items_node = root.get("items")
        items = () if items_node is None else tuple(self.parse_task(n) for n in items_node.items())
        total = root.opt_int("total")
        return TaskPage(total=len(items) if total is None else total, items=items)

    # -- errors ---------------------------------------------------------------------------

    def classify_error(self, response: HttpResponse) -> ProviderError:
        """The typed error of an Ark error answer (§2.8); a refused parameter is named."""
        try:
            root: Node | None = parse_json(response, self.name)
        except MalformedResponse:
            root = None
        code, message = ark_error_fields(root, response)
        return classify_error(
            self.name, response, code=code, message=message, param=ark_error_param(root, message)
        )

    def _root_or_raise(self, response: HttpResponse, what: str) -> Node:
        if not response.ok:
            raise self.classify_error(response)
        return parse_json(response, self.name)
