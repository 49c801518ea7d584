"""VideoTask: construction, immutability, the JSONL format and the spec hash."""

from __future__ import annotations

import base64
import hashlib
import json
import typing
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_async import dump_task, load_task
from seedance_async.core._errors import InvalidTaskSpec
from seedance_async.spec import task_hash
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import (
    Image,
    ImageRole,
    Ratio,
    RatioName,
    Resolution,
    ResolutionName,
    RoleName,
    ServiceTier,
    ServiceTierName,
)
from tests import imagedata
from tests.strategies import metadata, video_tasks

LITE_I2V = "doubao-seedance-1-0-lite-i2v-250428"
PRO = "doubao-seedance-1-0-pro-250528"

# The example line of the "Foundation" issue, verbatim.
JSONL_LINE = (
    '{"model": "doubao-seedance-1-0-lite-i2v-250428", "prompt": "[Image1] a boy with [Image2] '
    'a corgi", "images": [{"url": "https://example.com/boy.png", "role": "reference_image"}, '
    '{"path": "corgi.png", "role": "reference_image"}], "resolution": "720p", "ratio": "16:9", '
    '"duration": 5, "seed": 42, "metadata": {"row": 17}}'
)


def example() -> dict[str, Any]:
    """A fresh copy of the issue's JSONL example as a dict."""
    loaded: dict[str, Any] = json.loads(JSONL_LINE)
    return loaded


# -- construction ------------------------------------------------------------------------


def test_minimal_task_has_unset_options() -> None:
    """A model and a prompt are enough; every option defaults to None (provider default)."""
    task = VideoTask(model=PRO, prompt="a cat")
    assert task.images == ()
    assert task.scenario == "text"
    options = attrs.asdict(task, recurse=False)
    for name in ("model", "prompt", "images", "videos", "audios", "tools", "metadata", "extra"):
        del options[name]
    assert set(options.values()) == {None}
    assert dict(task.metadata) == {}
    assert dict(task.extra) == {}
    assert (task.videos, task.audios, task.tools) == ((), (), ())


def test_images_list_is_stored_as_tuple() -> None:
    """A list of images becomes a tuple, so the task stays hashable."""
    task = VideoTask(model=PRO, images=[Image.from_url("https://example.com/a.png")])
    assert isinstance(task.images, tuple)
    assert hash(task) == hash(
        VideoTask(model=PRO, images=(Image.from_url("https://example.com/a.png"),))
    )


def test_image_factories_set_one_source_and_role() -> None:
    """from_url / from_path / from_bytes set exactly one source and accept role strings."""
    raw = imagedata.png(400, 400)
    assert Image.from_url("https://e.com/a.png", "last_frame") == Image(
        url="https://e.com/a.png", role=ImageRole.LAST_FRAME
    )
    assert Image.from_path("a.png").path == "a.png"
    assert Image.from_bytes(raw, "reference_image").data == raw
    assert all(
        i.source_count == 1
        for i in (Image.from_url("https://e.com"), Image.from_path("p"), Image.from_bytes(raw))
    )
    assert Image.from_path("a.png").is_local
    assert not Image.from_url("https://e.com").is_local


def test_image_bytes_are_not_dumped_in_repr() -> None:
    """repr shows the length of inline bytes, not the bytes."""
    raw = imagedata.png(400, 400)
    assert repr(Image.from_bytes(raw)).count(f"<{len(raw)} bytes>") == 1


def test_enum_values_given_as_strings_become_members() -> None:
    """Strings are converted to enum members, so rules and adapters see the same type."""
    task = VideoTask(
        model=PRO,
        prompt="x",
        resolution="720p",
        ratio="16:9",
        service_tier="flex",
    )
    assert task.resolution is Resolution.P720
    assert task.ratio is Ratio.R16_9
    assert task.service_tier is ServiceTier.FLEX
    assert (
        Image(url="https://e.com/a.png", role="reference_image").role is ImageRole.REFERENCE_IMAGE
    )


def test_string_enum_values_are_checked_by_the_rules() -> None:
    """A 1080p given as a string is still refused with reference images."""
    with pytest.raises(InvalidTaskSpec) as info:
        VideoTask(
            model=LITE_I2V,
            images=[Image(url="https://e.com/a.png", role="reference_image")],
            resolution="1080p",
        )
    assert info.value.fields == ("resolution",)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: VideoTask(model=PRO, prompt="x", resolution="8k"), "resolution"),  # type: ignore[arg-type]
        (lambda: VideoTask(model=PRO, prompt="x", ratio="2:1"), "ratio"),  # type: ignore[arg-type]
        (lambda: VideoTask(model=PRO, prompt="x", service_tier="fast"), "service_tier"),  # type: ignore[arg-type]
        (lambda: Image(url="https://e.com/a.png", role="middle_frame"), "role"),  # type: ignore[arg-type]
    ],
)
def test_unknown_enum_strings_are_invalid_specs(build: Any, field: str) -> None:
    """An unknown enum string raises InvalidTaskSpec naming the field and the allowed values.

    The type checker refuses the same typos (the ignores above are needed: mypy's
    ``warn_unused_ignores`` would fail on an ignore that suppressed nothing).
    """
    with pytest.raises(InvalidTaskSpec) as info:
        build()
    assert info.value.fields == (field,)
    assert "expected one of" in info.value.violations[0].rule


# -- immutability -------------------------------------------------------------------------


def test_task_is_frozen() -> None:
    """Assigning to a field of a built task fails."""
    task = VideoTask(model=PRO, prompt="x")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        task.prompt = "y"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        Image.from_url("https://e.com").role = ImageRole.LAST_FRAME  # type: ignore[misc]


def test_task_and_image_are_slotted() -> None:
    """No per-instance __dict__, so no attribute can be added either."""
    task = VideoTask(model=PRO, prompt="x")
    assert not hasattr(task, "__dict__")
    assert not hasattr(Image.from_url("https://e.com"), "__dict__")
    with pytest.raises((AttributeError, attrs.exceptions.FrozenInstanceError)):
        task.no_such_field = 1  # type: ignore[attr-defined]


def test_fields_are_keyword_only() -> None:
    """Positional arguments are refused (``VideoTask(**row)`` style mistakes stay visible)."""
    with pytest.raises(TypeError):
        VideoTask(PRO, "x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Image("https://e.com")  # type: ignore[call-arg]


def test_metadata_is_a_read_only_copy() -> None:
    """Changing the caller's dict later does not change the task; the task's view is read-only."""
    meta: dict[str, Any] = {"row": 1}
    task = VideoTask(model=PRO, prompt="x", metadata=meta)
    meta["row"] = 2
    assert task.metadata["row"] == 1
    with pytest.raises(TypeError):
        task.metadata["row"] = 3  # type: ignore[index]


def test_evolve_revalidates() -> None:
    """attrs.evolve builds a new task and checks the rules again."""
    task = VideoTask(model=PRO, prompt="x", duration=5)
    assert attrs.evolve(task, duration=10).duration == 10
    with pytest.raises(InvalidTaskSpec):
        attrs.evolve(task, duration=99)


# -- JSON round trip ------------------------------------------------------------------------


@given(video_tasks())
def test_to_dict_from_dict_round_trip(task: VideoTask) -> None:
    """Any valid task survives to_dict -> JSON text -> from_dict unchanged."""
    text = json.dumps(dump_task(task))
    again = load_task(json.loads(text))
    assert again == task
    assert dump_task(again) == dump_task(task)
    assert task_hash(again) == task_hash(task)


@given(video_tasks())
def test_to_dict_leaves_out_unset_fields(task: VideoTask) -> None:
    """to_dict holds no None values: unset options are simply absent."""
    dumped = dump_task(task)
    assert None not in dumped.values()
    for name in ("resolution", "ratio", "duration", "frames", "seed", "camera_fixed"):
        assert (name in dumped) == (getattr(task, name) is not None)


def test_issue_jsonl_example_loads() -> None:
    """The issue's example JSONL line loads into the expected task and dumps back equal."""
    task = load_task(example())
    assert task.model == LITE_I2V
    assert task.prompt == "[Image1] a boy with [Image2] a corgi"
    assert task.images == (
        Image(url="https://example.com/boy.png", role=ImageRole.REFERENCE_IMAGE),
        Image(path="corgi.png", role=ImageRole.REFERENCE_IMAGE),
    )
    assert task.scenario == "reference_images"
    assert (task.resolution, task.ratio, task.duration, task.seed) == (
        Resolution.P720,
        Ratio.R16_9,
        5,
        42,
    )
    assert dict(task.metadata) == {"row": 17}
    assert dump_task(task) == example()


def test_base64_data_field_loads_bytes() -> None:
    """An image ``data`` field is base64 text in JSON and raw bytes in the task."""
    raw = imagedata.png(640, 480)
    line = {"model": PRO, "images": [{"data": base64.b64encode(raw).decode()}]}
    task = load_task(line)
    assert task.images[0].data == raw
    assert task.images[0].role is ImageRole.FIRST_FRAME
    assert dump_task(task)["images"] == [
        {"data": base64.b64encode(raw).decode(), "role": "first_frame"}
    ]


def _with(changes: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    line = example()
    for key in drop:
        del line[key]
    line.update(changes)
    return line


def _image_patch(index: int, **changes: Any) -> dict[str, Any]:
    images = example()["images"]
    images[index] = {**images[index], **changes}
    return {"images": images}


JSON_ERRORS: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown role", _with(_image_patch(1, role="middle")), "images[1].role", "expected one of"),
    ("duration as string", _with({"duration": "5"}), "duration", "expected an integer, got str"),
    ("duration as float", _with({"duration": 5.0}), "duration", "expected an integer, got float"),
    ("true for an int", _with({"seed": True}), "seed", "expected an integer, got bool"),
    ("int for a bool", _with({"watermark": 1}), "watermark", "expected true or false"),
    (
        "string for a bool",
        _with({"camera_fixed": "false"}),
        "camera_fixed",
        "expected true or false",
    ),
    ("number for a string", _with({"prompt": 7}), "prompt", "expected a string"),
    ("null prompt", _with({"prompt": None}), "prompt", "expected a string"),
    ("unknown key", _with({"fps": 24}), "fps", "unknown field"),
    ("misspelled key", _with({"camerafixed": False}), "camerafixed", "unknown field"),
    (
        "unknown image key",
        _with(_image_patch(0, caption="x")),
        "images[0].caption",
        "unknown field",
    ),
    ("missing model", _with({}, drop=("model",)), "model", "required field is missing"),
    ("model not a string", _with({"model": 5}), "model", "expected a string"),
    ("unknown resolution", _with({"resolution": "8k"}), "resolution", "expected one of"),
    ("unknown ratio", _with({"ratio": "2:1"}), "ratio", "expected one of"),
    ("ratio as number", _with({"ratio": 1.5}), "ratio", "expected one of"),
    ("data not base64", _with({"images": [{"data": "not base64!"}]}), "images[0].data", "base64"),
    ("data not a string", _with({"images": [{"data": 12}]}), "images[0].data", "base64"),
    ("images not an array", _with({"images": "boy.png"}), "images", "expected a JSON array"),
    (
        "images an object",
        _with({"images": {"url": "https://e.com"}}),
        "images",
        "expected a JSON array",
    ),
    (
        "image not an object",
        _with({"images": ["https://e.com/a.png"]}),
        "images[0]",
        "expected a JSON object",
    ),
    ("metadata not an object", _with({"metadata": [1, 2]}), "metadata", "expected a JSON object"),
    ("rule broken after loading", _with({"duration": 30}), "duration", "[2, 12]"),
    (
        "nested rule names the image",
        _with(_image_patch(0, url="ftp://e.com/a.png")),
        "images[0].url",
        "http(s)",
    ),
]


@pytest.mark.parametrize(
    ("line", "field", "rule"), [c[1:] for c in JSON_ERRORS], ids=[c[0] for c in JSON_ERRORS]
)
def test_from_dict_errors_name_the_json_path(line: dict[str, Any], field: str, rule: str) -> None:
    """Each bad JSON line raises one InvalidTaskSpec violation naming its JSON path and rule."""
    with pytest.raises(InvalidTaskSpec) as info:
        load_task(line)
    assert info.value.fields == (field,), info.value
    assert rule in info.value.violations[0].rule
    assert field in str(info.value)


def test_from_dict_reports_all_type_errors_at_once() -> None:
    """Several mistakes in one line come back together, each with its own path."""
    line = _with({"duration": "5", "seed": 1.5, "bogus": 1, **_image_patch(1, role=3)})
    with pytest.raises(InvalidTaskSpec) as info:
        load_task(line)
    assert sorted(info.value.fields) == ["bogus", "duration", "images[1].role", "seed"]


@pytest.mark.parametrize("value", [[1], "text", 5, None])
def test_from_dict_needs_an_object(value: Any) -> None:
    """A JSON line that is not an object is refused at the root path ``$``."""
    with pytest.raises(InvalidTaskSpec) as info:
        load_task(value)
    assert info.value.fields == ("$",)


def test_invalid_spec_is_a_value_error() -> None:
    """InvalidTaskSpec can be caught as ValueError (it is bad input)."""
    with pytest.raises(ValueError, match="invalid task spec"):
        load_task(_with({"duration": "5"}))


# -- spec hash --------------------------------------------------------------------------------


def test_spec_hash_is_sha256_of_canonical_json() -> None:
    """The hash is the SHA-256 of the sorted, compact JSON dump: stable across processes."""
    line = example()
    canonical = json.dumps(line, sort_keys=True, separators=(",", ":"))
    assert task_hash(load_task(line)) == hashlib.sha256(canonical.encode()).hexdigest()


@given(st.randoms(use_true_random=False))
def test_spec_hash_ignores_key_order(rnd: Any) -> None:
    """Loading the same line with keys (and metadata keys) shuffled gives the same hash."""
    line = example()
    line["metadata"] = {"a": 1, "b": [1, {"y": 2, "x": 3}], "c": None}
    keys = list(line)
    rnd.shuffle(keys)
    shuffled = {k: line[k] for k in keys}
    meta_keys = list(line["metadata"])
    rnd.shuffle(meta_keys)
    shuffled["metadata"] = {k: line["metadata"][k] for k in meta_keys}
    assert task_hash(load_task(shuffled)) == task_hash(load_task(line))


@given(video_tasks(), video_tasks())
def test_spec_hash_differs_exactly_when_the_json_differs(a: VideoTask, b: VideoTask) -> None:
    """Two tasks share a hash exactly when they dump to the same JSON."""
    same_json = json.dumps(dump_task(a), sort_keys=True) == json.dumps(dump_task(b), sort_keys=True)
    assert (task_hash(a) == task_hash(b)) == same_json


def test_equal_tasks_built_separately_hash_equal() -> None:
    """Two separately built equal tasks have the same spec hash."""
    assert task_hash(load_task(example())) == task_hash(load_task(example()))


FIELD_CHANGES: list[tuple[str, Any]] = [
    ("model", "seedance-1-0-lite-i2v-250428"),
    ("prompt", "[Image1] a boy with [Image2] a dog"),
    ("images", (Image.from_url("https://example.com/boy.png", "reference_image"),)),
    ("resolution", Resolution.P480),
    ("ratio", Ratio.R4_3),
    ("duration", 6),
    ("frames", 57),
    ("seed", 43),
    ("camera_fixed", False),
    ("watermark", False),
    ("return_last_frame", False),
    ("generate_audio", False),
    ("service_tier", ServiceTier.DEFAULT),
    ("execution_expires_after", 3600),
    ("callback_url", "https://example.com/hook"),
    ("metadata", {"row": 18}),
]


@pytest.mark.parametrize(("name", "value"), FIELD_CHANGES, ids=[c[0] for c in FIELD_CHANGES])
def test_any_field_change_changes_the_hash(name: str, value: Any) -> None:
    """Changing any single field (even None -> False) gives a different spec hash."""
    task = load_task(example())
    changes: dict[str, Any] = {name: value}
    if name == "frames":
        changes["duration"] = None
    assert task_hash(attrs.evolve(task, **changes)) != task_hash(task)


# -- metadata is for the caller only -----------------------------------------------------------


@given(video_tasks(sources=("url", "data", "data_url"), with_metadata=False), metadata())
def test_metadata_never_reaches_the_ark_request(task: VideoTask, meta: dict[str, Any]) -> None:
    """Adding metadata changes nothing in the request the Ark adapter builds."""
    from seedance_async.providers.ark import ArkAdapter

    adapter = ArkAdapter()
    with_meta = attrs.evolve(task, metadata={**meta, "__canary__": "metadata-canary"})
    request = adapter.build_submit(with_meta)
    assert request == adapter.build_submit(task)
    assert "metadata-canary" not in json.dumps(request.json)
    assert "metadata" not in request.json


@pytest.mark.parametrize(
    ("alias", "enum_cls"),
    [
        (RoleName, ImageRole),
        (ResolutionName, Resolution),
        (RatioName, Ratio),
        (ServiceTierName, ServiceTier),
    ],
)
def test_literal_aliases_list_exactly_the_enum_values(alias: Any, enum_cls: Any) -> None:
    """The type checker's vocabulary and the run-time one are the same words."""
    assert set(typing.get_args(alias)) == {m.value for m in enum_cls}
