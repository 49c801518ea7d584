"""The one codec: every JSON form of the spec layer's values, with cattrs.

Tasks (the JSONL batch format), handles, statuses and results are written to journals,
Redis, results files and handed between processes; all of them go through the converters
here, so the stores, the CLI and the library can never disagree about a shape.

Two converters: ``_converter`` reads what users wrote (batch lines, handles) and is strict —
cattrs would happily turn ``"5"`` into ``5`` and ``5.9`` into ``5``, which would hide typos
in a batch file that costs money; unknown keys are refused too, since Ark silently ignores
misspelled fields. ``_store`` reads back what the library wrote itself (statuses in a
journal) and keeps cattrs' defaults for the fields the library added later.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

import cattrs
import cattrs.gen
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from seedance_async.core._errors import InvalidTaskSpec, Violation
from seedance_async.spec._handle import Attempt, DownloadPart, Outcome, TaskHandle, TaskResult
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask, trusted_specs
from seedance_async.spec._vocab import (
    OPTIONAL_FIELDS,
    Audio,
    Image,
    ImageRole,
    Ratio,
    Resolution,
    ServiceTier,
    ToolName,
    Video,
)

__all__ = [
    "dump_attempts",
    "dump_handle",
    "dump_result",
    "dump_status",
    "dump_task",
    "dumps",
    "load_attempts",
    "load_handle",
    "load_result",
    "load_status",
    "load_stored_task",
    "load_task",
    "task_hash",
]

E = TypeVar("E", bound=enum.Enum)


class _WrongType(TypeError):
    pass


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _WrongType(f"expected an integer, got {type(value).__name__}")
    return value


def _strict_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise _WrongType(f"expected a string, got {type(value).__name__}")
    return value


def _strict_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise _WrongType(f"expected true or false, got {type(value).__name__}")
    return value


def _enum(value: Any, cls: type[E]) -> E:
    allowed = [m.value for m in cls]
    if not isinstance(value, str) or value not in allowed:
        raise _WrongType(f"expected one of {', '.join(map(str, allowed))}")
    return cls(value)


def _b64(value: Any, _: type) -> bytes:
    if not isinstance(value, str):
        raise _WrongType("expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise _WrongType("expected base64 text") from exc


def _mapping(value: Any, _: type) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _WrongType("expected a JSON object")
    return dict(value)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook(bytes, _b64)
    conv.register_structure_hook_func(lambda t: t == Mapping[str, Any], _mapping)
    # Each enum by name: StrEnums subclass str, so the strict str hook would catch them.
    for enum_cls in (ImageRole, Ratio, Resolution, ServiceTier):
        conv.register_structure_hook(enum_cls, _enum)
    conv.register_unstructure_hook(bytes, lambda b: base64.b64encode(b).decode())
    # cattrs iterates whatever it is given: a string became one image per character and an
    # object one image per key, with confusing messages. Demand the JSON shapes first.
    for item_cls in (Image, Video, Audio):
        _demand_shapes(conv, item_cls)
    tools_hook = conv.get_structure_hook(tuple[ToolName, ...])

    def _tools(value: Any, cls: type) -> tuple[ToolName, ...]:
        if not isinstance(value, list | tuple):
            raise _WrongType(f"expected a JSON array of tool names, got {type(value).__name__}")
        result: tuple[ToolName, ...] = tools_hook(value, cls)
        return result

    conv.register_structure_hook_func(lambda t: t == tuple[ToolName, ...], _tools)
    return conv


def _demand_shapes(conv: cattrs.Converter, item_cls: type[Any]) -> None:
    """Items must be JSON objects, and lists of them JSON arrays."""
    item_hook = conv.get_structure_hook(item_cls)

    def _item(value: Any, cls: type) -> Any:
        if not isinstance(value, Mapping):
            raise _WrongType(f"expected a JSON object, got {type(value).__name__}")
        return item_hook(value, cls)

    conv.register_structure_hook(item_cls, _item)
    many = tuple[item_cls, ...]  # type: ignore[valid-type]
    items_hook = conv.get_structure_hook(many)

    def _items(value: Any, cls: type) -> Any:
        if not isinstance(value, list | tuple):
            raise _WrongType(f"expected a JSON array, got {type(value).__name__}")
        return items_hook(value, cls)

    conv.register_structure_hook_func(lambda t: t == many, _items)


_converter = _make_converter()


def _violations(exc: BaseException, path: str) -> Iterator[Violation]:
    if isinstance(exc, ForbiddenExtraKeysError):
        for key in sorted(exc.extra_fields):
            yield Violation(field=_join(path, key), rule="unknown field", value=key)
    elif isinstance(exc, IterableValidationError):
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            yield from _violations(sub, f"{path}[{note.index!r}]")
        for sub in without:
            yield from _violations(sub, path)
    elif isinstance(exc, ClassValidationError):
        attr_notes, rest = exc.group_exceptions()
        for sub, attr_note in attr_notes:
            yield from _violations(sub, _join(path, attr_note.name))
        for sub in rest:
            yield from _violations(sub, path)
    elif isinstance(exc, InvalidTaskSpec):
        # Rule violations raised by a nested constructor: re-root their field paths.
        for v in exc.violations:
            yield Violation(field=_join(path, v.field), rule=v.rule, value=v.value)
    elif isinstance(exc, KeyError):
        # cattrs already put the missing field's name on the path.
        yield Violation(field=path, rule="required field is missing")
    else:
        rule = str(exc) or exc.__class__.__name__
        yield Violation(field=path or "$", rule=rule)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def load_task(data: Mapping[str, Any]) -> VideoTask:
    """Load one task from a plain JSON object (one JSONL batch line).

    Raises:
        InvalidTaskSpec: wrong types, unknown keys or broken rules; each violation
            names the JSON path (``images[1].role``).
    """
    if not isinstance(data, Mapping):
        raise InvalidTaskSpec(
            [Violation(field="$", rule="a task must be a JSON object", value=type(data).__name__)]
        )
    try:
        return _converter.structure(data, VideoTask)
    except InvalidTaskSpec:
        raise
    except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError) as exc:
        # Under ``-W error`` an UnknownModelWarning arrives here as an exception; it is a
        # warning about the model, not a broken rule, so it goes out as itself.
        warning = _first_warning(exc)
        if warning is not None:
            raise warning from None
        raise InvalidTaskSpec(list(_violations(exc, ""))) from None


def _first_warning(exc: BaseException) -> Warning | None:
    if isinstance(exc, Warning):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            found = _first_warning(sub)
            if found is not None:
                return found
    return None


def _media_dict(item: Image | Video | Audio) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if item.url is not None:
        out["url"] = item.url
    if item.path is not None:
        out["path"] = item.path
    if item.data is not None:
        out["data"] = base64.b64encode(item.data).decode()
    out["role"] = item.role.value if isinstance(item, Image) else item.role
    return out


def dump_task(task: VideoTask) -> dict[str, Any]:
    """Dump a task to a plain JSON object that :func:`load_task` reads back unchanged.

    Unset options are left out, so a spec without the fields a later version added dumps
    (and hashes) exactly as it did before them.
    """
    out: dict[str, Any] = {"model": task.model}
    if task.prompt:
        out["prompt"] = task.prompt
    if task.images:
        out["images"] = [_media_dict(i) for i in task.images]
    if task.videos:
        out["videos"] = [_media_dict(v) for v in task.videos]
    if task.audios:
        out["audios"] = [_media_dict(a) for a in task.audios]
    for name in OPTIONAL_FIELDS:
        value = getattr(task, name)
        if value is not None:
            out[name] = value.value if isinstance(value, enum.Enum) else value
    if task.tools:
        out["tools"] = list(task.tools)
    if task.extra:
        out["extra"] = dict(task.extra)
    if task.metadata:
        out["metadata"] = dict(task.metadata)
    return out


def task_hash(task: VideoTask) -> str:
    """A stable hash of the spec (metadata included) for journals and dedup.

    Equal for two tasks that dump to the same JSON, across processes and versions of
    Python; local images are hashed by path, not by content.
    """
    cached = task._hash
    if cached is None:
        canonical = json.dumps(dump_task(task), sort_keys=True, separators=(",", ":"))
        cached = hashlib.sha256(canonical.encode()).hexdigest()
        object.__setattr__(task, "_hash", cached)  # frozen, but the hash is derived
    return cached


def load_stored_task(data: Mapping[str, Any]) -> VideoTask:
    """Rebuild a task this library stored itself: types checked, rules not re-run.

    Raises:
        InvalidTaskSpec: the stored JSON does not have the task's shape.
    """
    with trusted_specs():
        return load_task(data)


def dumps(value: Any) -> str:
    """Compact JSON, as stored in journal columns and Redis fields."""
    return json.dumps(value, separators=(",", ":"))


# -- handles ---------------------------------------------------------------------------


def dump_handle(handle: TaskHandle) -> dict[str, Any]:
    """A handle as a plain JSON object that :func:`load_handle` reads back."""
    return {
        "provider": handle.provider,
        "adapter": handle.adapter,
        "model": handle.model,
        "task_id": handle.task_id,
        "created_at": handle.created_at,
        "spec_hash": handle.spec_hash,
    }


def load_handle(data: Mapping[str, Any]) -> TaskHandle:
    """Read a handle written by :func:`dump_handle` (perhaps by another process or host).

    Raises:
        InvalidTaskSpec: not an object, a field missing or of the wrong type; each
            violation names the field.
    """
    if not isinstance(data, Mapping):
        raise InvalidTaskSpec(
            [Violation(field="$", rule="a handle must be a JSON object")], context="task handle"
        )
    try:
        return _handles.structure(data, TaskHandle)
    except (ClassValidationError, ForbiddenExtraKeysError) as exc:
        raise InvalidTaskSpec(list(_violations(exc, "")), context="task handle") from None


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _WrongType(f"expected a number, got {type(value).__name__}")
    return float(value)


def _make_handle_converter() -> cattrs.Converter:
    # Extra keys are tolerated: a newer version may add fields to handles it hands over.
    conv = cattrs.Converter(detailed_validation=True)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(float, _strict_float)
    return conv


_handles = _make_handle_converter()


# -- statuses --------------------------------------------------------------------------


def _make_store_converter() -> cattrs.Converter:
    conv = cattrs.Converter()
    conv.register_unstructure_hook(datetime, datetime.isoformat)
    conv.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))
    # The provider's whole answer stays out of every store: large and unvetted.
    status_unstructure = cattrs.gen.make_dict_unstructure_fn(
        TaskStatus, conv, raw=cattrs.gen.override(omit=True)
    )
    conv.register_unstructure_hook(TaskStatus, status_unstructure)
    return conv


_store = _make_store_converter()


def dump_status(status: TaskStatus) -> dict[str, Any]:
    """A status as a plain JSON object, without the provider's raw answer."""
    data: dict[str, Any] = _store.unstructure(status)
    return data


def load_status(data: Mapping[str, Any]) -> TaskStatus:
    """Read back :func:`dump_status` output (written by this library: trusted)."""
    return _store.structure(data, TaskStatus)


# -- results ---------------------------------------------------------------------------


def _attempt(attempt: Attempt) -> dict[str, Any]:
    return {
        "provider": attempt.provider,
        "task_id": attempt.task_id,
        "outcome": attempt.outcome,
        "reason": attempt.reason,
    }


def dump_attempts(attempts: Iterable[Attempt]) -> list[dict[str, Any]]:
    """Attempts as result lines and journals write them."""
    return [_attempt(a) for a in attempts]


def load_attempts(data: Iterable[Mapping[str, Any]] | None) -> tuple[Attempt, ...]:
    """Read back :func:`dump_attempts` output (written by this library: types checked)."""
    return tuple(_load_attempt(a) for a in data or ())


def _effective(status: TaskStatus | None) -> dict[str, Any] | None:
    # The values the provider chose (duration for -1, ratio for adaptive, seed...): they
    # exist nowhere else once the task is gone.
    if status is None or status.effective is None:
        return None
    data: dict[str, Any] = _store.unstructure(status.effective)
    return data


def _cost(result: TaskResult) -> dict[str, Any] | None:
    cost = result.cost
    return None if cost is None else {"amount": cost[0], "currency": cost[1]}


def dump_result(result: TaskResult) -> dict[str, Any]:
    """One results-JSONL line: ids, URLs, usage and timings; no secrets, no spec body."""
    status = result.status
    handle = result.handle
    return {
        "key": result.key,
        "outcome": result.outcome.value,
        "reason": result.reason,
        "provider": result.provider,
        "task_id": result.task_id,
        "model": result.model,
        "handle": dump_handle(handle) if handle else None,
        "video_url": status.video_url if status else None,
        "last_frame_url": status.last_frame_url if status else None,
        "error_code": status.error_code if status else None,
        "error_message": status.error_message if status else None,
        "failure": status.failure if status else None,
        "effective": _effective(status),
        "usage": _store.unstructure(result.usage) if result.usage else None,
        "cost": _cost(result),
        "video_path": result.video_path,
        "last_frame_path": result.last_frame_path,
        "download_failed": result.download_failed,
        "attempts": dump_attempts(result.attempts),
        "submitted_at": result.submitted_at,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "metadata": dict(result.task.metadata),
        "spec_hash": task_hash(result.task),
    }


def _optional_str(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name}: expected a string, got {type(value).__name__}")
    return value


def _optional_float(data: Mapping[str, Any], name: str) -> float | None:
    value = data.get(name)
    return None if value is None else _strict_float(value, float)


def _load_attempt(data: Mapping[str, Any]) -> Attempt:
    return Attempt(
        provider=_strict_str(data["provider"], str),
        task_id=_optional_str(data, "task_id"),
        outcome=_strict_str(data["outcome"], str),
        reason=_optional_str(data, "reason"),
    )


def _download_part(value: object) -> DownloadPart | None:
    # Lines written before the field existed have none; anything else is not ours to trust.
    return value if value == "video" or value == "last_frame" else None


def load_result(
    data: Mapping[str, Any],
    task: VideoTask,
    *,
    status: TaskStatus | None = None,
    handle: TaskHandle | None = None,
) -> TaskResult:
    """Read back a :func:`dump_result` line this library wrote, for the spec it belongs to.

    A line keeps the status's URLs and errors, not the status itself: pass the whole
    ``status`` when it is known (a journal keeps it). ``handle`` defaults to the line's.

    Raises:
        KeyError, TypeError, ValueError: not a result line (a field missing or of the
            wrong type).
    """
    line_handle = data.get("handle")
    return TaskResult(
        key=_strict_str(data["key"], str),
        task=task,
        outcome=Outcome(data["outcome"]),
        status=status,
        handle=handle if handle is not None or line_handle is None else load_handle(line_handle),
        attempts=load_attempts(data.get("attempts")),
        reason=_optional_str(data, "reason"),
        video_path=_optional_str(data, "video_path"),
        last_frame_path=_optional_str(data, "last_frame_path"),
        download_failed=_download_part(data.get("download_failed")),
        submitted_at=_optional_float(data, "submitted_at"),
        started_at=_optional_float(data, "started_at"),
        finished_at=_optional_float(data, "finished_at"),
    )
