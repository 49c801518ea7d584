"""Properties every built-in adapter must have, checked with hypothesis.

(a) any valid spec its ``check`` accepts builds a JSON-serialisable body without nulls or
metadata; (b) any answer (arbitrary JSON or bytes, any HTTP status) makes the parsers raise
only :class:`SeedanceError` subclasses; (c) status strings an adapter does not know raise
:class:`UnknownStatus` carrying the word and the task id, never a guessed state.

The § numbers below are sections of docs/providers.md.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from seedance_async.core._errors import SeedanceError, UnknownStatus
from seedance_async.core._wire import HttpResponse
from seedance_async.providers import ListQuery, ProviderAdapter, available_adapters, create_adapter
from seedance_async.spec._task import VideoTask
from tests.strategies import json_values, metadata, video_tasks

BUILTIN_ADAPTERS = ("ark", "aimlapi", "unified", "gptproto")
_OPTIONAL_FIELDS = (
    "resolution",
    "ratio",
    "duration",
    "frames",
    "seed",
    "camera_fixed",
    "watermark",
    "return_last_frame",
    "generate_audio",
    "service_tier",
    "execution_expires_after",
    "callback_url",
)


def adapter_module(name: str) -> ModuleType:
    """The module of a built-in adapter, or skip when a colleague has not written it yet."""
    module_name = f"seedance_async.providers.{name}"
    if importlib.util.find_spec(module_name) is None:
        pytest.skip(f"adapter module {module_name} does not exist yet")
    return importlib.import_module(module_name)


def adapter_named(name: str) -> ProviderAdapter:
    """The built-in adapter ``name`` with default options (skipped if not written yet)."""
    adapter_module(name)
    return create_adapter(name)


def test_builtins_are_listed() -> None:
    """Every built-in adapter name is offered by the registry."""
    assert set(BUILTIN_ADAPTERS) <= set(available_adapters())


# -- (a) requests ----------------------------------------------------------------------------


def _repair(adapter: ProviderAdapter, task: VideoTask) -> VideoTask:
    """Drop options the adapter cannot send, so most drawn tasks become acceptable."""
    for _ in range(3):
        violations = adapter.check(task)
        if not violations:
            break
        changes: dict[str, Any] = {v.field: None for v in violations if v.field in _OPTIONAL_FIELDS}
        if any(v.field == "prompt" for v in violations) and not task.prompt:
            changes["prompt"] = "a red fox running through snow"
        if not changes:
            break
        task = attrs.evolve(task, **changes)
    return task


def _nulls(value: Any, path: str = "$") -> list[str]:
    """JSON paths of every null inside ``value``."""
    if value is None:
        return [path]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _nulls(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in _nulls(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("name", BUILTIN_ADAPTERS)
@settings(suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=st.data())
def test_accepted_specs_build_clean_json_bodies(name: str, data: st.DataObject) -> None:
    """A spec the adapter accepts gives a JSON body with no nulls and no metadata."""
    adapter = adapter_named(name)
    task = data.draw(video_tasks(sources=("url", "data", "data_url"), with_metadata=False))
    task = _repair(adapter, task)
    assume(not adapter.check(task))
    meta = {**data.draw(metadata()), "__canary__": "metadata-canary-7f3a"}
    request = adapter.build_submit(attrs.evolve(task, metadata=meta))
    text = json.dumps(request.json, allow_nan=False)
    assert request.json is not None
    assert _nulls(request.json) == []
    assert "metadata-canary-7f3a" not in text
    assert "__canary__" not in text
    assert request == adapter.build_submit(task)  # metadata changes nothing at all
    assert request.method == "POST"
    assert request.paid
    assert not any(h.lower() == "authorization" for h in request.headers)


# -- (b) parsing never crashes -----------------------------------------------------------------

_KEYS = st.sampled_from(
    [
        "id",
        "task_id",
        "generation_id",
        "status",
        "error",
        "code",
        "message",
        "data",
        "items",
        "total",
        "content",
        "video_url",
        "last_frame_url",
        "file_url",
        "usage",
        "completion_tokens",
        "total_tokens",
        "video",
        "url",
        "meta",
        "credits_used",
        "tokens_used",
        "created_at",
        "updated_at",
        "progress",
        "fail_reason",
        "output",
        "outputs",
        "submit_time",
        "finish_time",
        "requestId",
        "statusCode",
        "name",
        "type",
    ]
) | st.text(max_size=6)

_WORDS = st.sampled_from(
    [
        "queued",
        "running",
        "succeeded",
        "failed",
        "cancelled",
        "expired",
        "submitted",
        "processing",
        "completed",
        "generating",
        "error",
        "SUCCESS",
        "FAILURE",
        "IN_PROGRESS",
        "pending",
        "success",
        "0",
        "200",
        "45%",
        "1766663633",
        "2025-03-11T07:13:27.813Z",
        "https://e.com/v.mp4",
        "",
    ]
)


def _provider_json() -> st.SearchStrategy[Any]:
    """JSON shaped like provider answers: known keys and words, at any depth, plus noise."""
    values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | _WORDS
        | st.text(max_size=8),
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(_KEYS, children, max_size=5)
        ),
        max_leaves=25,
    )
    return st.dictionaries(_KEYS, values, max_size=6) | values | json_values()


def _bodies() -> st.SearchStrategy[bytes]:
    as_json = _provider_json().map(lambda v: json.dumps(v).encode())
    return as_json | st.binary(max_size=64) | st.just(b"")


_HEADERS = st.dictionaries(
    st.sampled_from(["retry-after", "retry-after-ms", "x-request-id", "content-type"]),
    st.text(max_size=30)
    | st.sampled_from(["30", "-1", "1e309", "nan", "Thu, 11 Jun 2026 12:00:05 GMT"]),
    max_size=3,
)


def _only_seedance_errors(call: Callable[[], object]) -> None:
    """Run ``call``; a SeedanceError is fine, any other exception fails the test."""
    with contextlib.suppress(SeedanceError):
        call()


@pytest.mark.parametrize("name", BUILTIN_ADAPTERS)
@given(
    status=st.integers(100, 599) | st.sampled_from([200, 201, 400, 401, 403, 404, 429, 500]),
    body=_bodies(),
    headers=_HEADERS,
)
def test_parsers_raise_only_seedance_errors(
    name: str, status: int, body: bytes, headers: dict[str, str]
) -> None:
    """Arbitrary answers make every parser raise only SeedanceError subclasses."""
    adapter = adapter_named(name)
    response = HttpResponse(status=status, body=body, headers=headers)
    _only_seedance_errors(lambda: adapter.parse_submit(response))
    _only_seedance_errors(lambda: adapter.parse_status(response, "task-1"))
    _only_seedance_errors(lambda: adapter.parse_cancel(response, "task-1"))
    if adapter.build_list(ListQuery()) is not None:
        _only_seedance_errors(lambda: adapter.parse_list(response))
    error = adapter.classify_error(response)
    assert isinstance(error, SeedanceError)
    str(error), repr(error)  # rendering never fails either


# -- (c) unknown statuses ---------------------------------------------------------------------


def _known_status_words(name: str, adapter: ProviderAdapter) -> set[str]:
    """Every status word an adapter module maps (module-level maps and the adapter's own)."""
    maps = [v for v in vars(adapter_module(name)).values() if isinstance(v, Mapping)]
    own = getattr(adapter, "status_map", None)
    if isinstance(own, Mapping):
        maps.append(own)
    return {k.strip().lower() for m in maps for k in m if isinstance(k, str)}


def _status_bodies(status: str) -> list[Any]:
    """Minimal task answers carrying ``status`` in each documented shape (§2.3, §4.3, §5, §6)."""
    task = {"id": "task-1", "task_id": "task-1", "generation_id": "task-1", "status": status}
    return [
        task,
        {"code": "success", "message": "", "data": task},
        {"code": 0, "message": "Success", "data": task},
    ]


@pytest.mark.parametrize("name", BUILTIN_ADAPTERS)
@given(word=st.text(max_size=20))
def test_unknown_status_words_are_typed_errors(name: str, word: str) -> None:
    """A status word the adapter does not know raises UnknownStatus with the word and the id.

    It is never read as some state: "running" would poll a finished task forever, a final
    state would end one that is still going.
    """
    adapter = adapter_named(name)
    assume(word.strip().lower() not in _known_status_words(name, adapter))
    unknown: list[UnknownStatus] = []
    for body in _status_bodies(word):
        try:
            status = adapter.parse_status(HttpResponse.from_json(200, body), "task-1")
        except UnknownStatus as exc:
            unknown.append(exc)
            continue
        except SeedanceError:
            continue
        raise AssertionError(f"{name} read unknown word {word!r} as {status.state}")
    assert unknown, f"{name} parsed none of the documented shapes"
    assert {(e.word, e.task_id) for e in unknown} == {(word, "task-1")}


@pytest.mark.parametrize("name", BUILTIN_ADAPTERS)
def test_known_terminal_words_are_terminal(name: str) -> None:
    """Sanity check for (c): the shapes used above do reach the status mapping."""
    adapter = adapter_named(name)
    finished = [
        w
        for w in ("succeeded", "completed", "success", "failed", "error", "failure")
        if w in _known_status_words(name, adapter)
    ]
    assert finished
    for word in finished:
        states = []
        for body in _status_bodies(word):
            try:
                states.append(adapter.parse_status(HttpResponse.from_json(200, body), "task-1"))
            except SeedanceError:
                continue
        assert any(s.is_terminal for s in states), (name, word)
