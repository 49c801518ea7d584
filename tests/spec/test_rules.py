"""Every validation rule: one spec that breaks exactly that rule, and the boundaries that pass.

Rules: docs/providers.md §7 (models, common rules) and §8.8-§8.9; the § numbers below are
its sections.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from seedance_async import load_task
from seedance_async.core._errors import InvalidTaskSpec, Violation
from seedance_async.providers import ProviderCapabilities, create_adapter
from seedance_async.providers._checks import check_capabilities
from seedance_async.spec._catalog import model_capabilities, normalise_model_id, universal_rules
from seedance_async.spec._image_rules import check_local_images
from seedance_async.spec._rules import UnknownModelWarning, collect_violations
from seedance_async.spec._task import VideoTask, validate
from seedance_async.spec._vocab import Image, ImageRole, Ratio, Resolution
from tests import imagedata
from tests.strategies import video_tasks

LITE_T2V = "doubao-seedance-1-0-lite-t2v-250428"
LITE_I2V = "doubao-seedance-1-0-lite-i2v-250428"
PRO = "doubao-seedance-1-0-pro-250528"
PRO_FAST = "doubao-seedance-1-0-pro-fast-251015"
PRO15 = "doubao-seedance-1-5-pro-251215"

URL = "https://example.com/frame.png"
FIRST = Image.from_url(URL, ImageRole.FIRST_FRAME)
LAST = Image.from_url("https://example.com/last.png", ImageRole.LAST_FRAME)
REF = Image.from_url("https://example.com/ref.png", ImageRole.REFERENCE_IMAGE)
PNG = imagedata.png(800, 600)
MB = 1024 * 1024
MAX_IMAGE_BYTES = universal_rules().image_max_bytes


def data_url(raw: bytes, fmt: str) -> str:
    """``data:image/<fmt>;base64,...`` of ``raw``."""
    return f"data:image/{fmt};base64,{base64.b64encode(raw).decode()}"


def padded_png(width: int, height: int, size: int) -> bytes:
    """A PNG header followed by zero bytes up to ``size`` bytes in total."""
    head = imagedata.png(width, height)
    return head + bytes(size - len(head))


Spec = Callable[[], dict[str, Any]]


def spec(**kwargs: Any) -> Spec:
    """A lazily built spec (big inline images are only allocated when the case runs)."""
    return lambda: kwargs


# (description, spec kwargs, expected field, substring of the rule)
SINGLE_RULE_CASES: list[tuple[str, Spec, str, str]] = [
    # scenarios
    (
        "first frame mixed with reference images",
        spec(model=LITE_I2V, images=[FIRST, REF]),
        "images",
        "cannot be mixed",
    ),
    (
        "last frame mixed with reference images",
        spec(model=LITE_I2V, images=[FIRST, LAST, REF]),
        "images",
        "cannot be mixed",
    ),
    (
        "two first frames",
        spec(model=PRO, images=[FIRST, FIRST]),
        "images",
        "at most one first_frame",
    ),
    (
        "two last frames",
        spec(model=PRO, images=[FIRST, LAST, LAST]),
        "images",
        "at most one first_frame and one last_frame",
    ),
    (
        "last frame without first",
        spec(model=PRO, images=[LAST]),
        "images",
        "last_frame image needs a first_frame",
    ),
    (
        "five reference images",
        spec(model=LITE_I2V, images=[REF] * 5),
        "images",
        "1 to 4 reference images",
    ),
    (
        "t2v-only model with a first frame",
        spec(model=LITE_T2V, images=[FIRST]),
        "images",
        "does not support the first frame scenario",
    ),
    (
        "t2v-only model with first+last",
        spec(model=LITE_T2V, images=[FIRST, LAST]),
        "images",
        "does not support the first last frame scenario",
    ),
    (
        "i2v model without an image",
        spec(model=LITE_I2V, prompt="a corgi"),
        "model",
        "does not support the text scenario",
    ),
    (
        "reference images on 1.0 pro",
        spec(model=PRO, images=[REF]),
        "images",
        "does not support the reference images scenario",
    ),
    (
        "reference images on 1.5 pro",
        spec(model=PRO15, images=[REF, REF]),
        "images",
        "does not support the reference images scenario",
    ),
    (
        "first+last on pro-fast",
        spec(model=PRO_FAST, images=[FIRST, LAST]),
        "images",
        "does not support the first last frame scenario",
    ),
    (
        "1080p with reference images",
        spec(model=LITE_I2V, images=[REF], resolution=Resolution.P1080),
        "resolution",
        "1080p is not supported with reference images",
    ),
    (
        "camera_fixed with reference images",
        spec(model=LITE_I2V, images=[REF], camera_fixed=True),
        "camera_fixed",
        "not supported with reference images",
    ),
    (
        "adaptive ratio with reference images",
        spec(model=LITE_I2V, images=[REF], ratio=Ratio.ADAPTIVE),
        "ratio",
        "adaptive is not supported with reference images",
    ),
    (
        "adaptive ratio text-to-video on 1.0 pro",
        spec(model=PRO, prompt="x", ratio=Ratio.ADAPTIVE),
        "ratio",
        "adaptive needs an input image",
    ),
    (
        "adaptive ratio text-to-video on lite t2v",
        spec(model=LITE_T2V, prompt="x", ratio=Ratio.ADAPTIVE),
        "ratio",
        "adaptive needs an input image",
    ),
    # length
    (
        "duration and frames together",
        spec(model=PRO, prompt="x", duration=5, frames=57),
        "frames",
        "either duration or frames",
    ),
    ("frames 28", spec(model=PRO, prompt="x", frames=28), "frames", "25 + 4n within [29, 289]"),
    ("frames 30", spec(model=PRO, prompt="x", frames=30), "frames", "25 + 4n within [29, 289]"),
    ("frames 293", spec(model=PRO, prompt="x", frames=293), "frames", "25 + 4n within [29, 289]"),
    ("frames 25", spec(model=PRO, prompt="x", frames=25), "frames", "25 + 4n within [29, 289]"),
    (
        "frames on 1.5 pro",
        spec(model=PRO15, prompt="x", frames=57),
        "frames",
        "does not support frames",
    ),
    ("duration 1 on 1.0", spec(model=PRO, prompt="x", duration=1), "duration", "[2, 12] seconds"),
    (
        "duration 13 on 1.0",
        spec(model=LITE_T2V, prompt="x", duration=13),
        "duration",
        "[2, 12] seconds",
    ),
    (
        "duration -1 on 1.0",
        spec(model=PRO_FAST, prompt="x", duration=-1),
        "duration",
        "[2, 12] seconds",
    ),
    (
        "duration 3 on 1.5 pro",
        spec(model=PRO15, prompt="x", duration=3),
        "duration",
        "[4, 12] or -1 seconds",
    ),
    (
        "duration 13 on 1.5 pro",
        spec(model=PRO15, prompt="x", duration=13),
        "duration",
        "[4, 12] or -1 seconds",
    ),
    (
        "duration -2 on 1.5 pro",
        spec(model=PRO15, prompt="x", duration=-2),
        "duration",
        "[4, 12] or -1 seconds",
    ),
    # resolution, seed, prompt, options
    (
        "1080p on 1.5 pro",
        spec(model=PRO15, prompt="x", resolution=Resolution.P1080),
        "resolution",
        "supports resolution 480p, 720p",
    ),
    ("seed -2", spec(model=PRO, prompt="x", seed=-2), "seed", "[-1, 2^32-1]"),
    ("seed 2^32", spec(model=PRO, prompt="x", seed=2**32), "seed", "[-1, 2^32-1]"),
    ("no prompt and no image", spec(model=PRO), "prompt", "needs a non-empty prompt"),
    (
        "blank prompt and no image",
        spec(model=PRO, prompt=" \n\t"),
        "prompt",
        "needs a non-empty prompt",
    ),
    (
        "1001 words",
        spec(model=PRO, prompt=" ".join(["word"] * 1001)),
        "prompt",
        "at most 1000 words",
    ),
    ("501 CJK characters", spec(model=PRO, prompt="猫" * 501), "prompt", "at most 500 characters"),
    (
        "generate_audio on 1.0 pro",
        spec(model=PRO, prompt="x", generate_audio=True),
        "generate_audio",
        "cannot generate audio",
    ),
    (
        "generate_audio on lite i2v",
        spec(model=LITE_I2V, images=[FIRST], generate_audio=True),
        "generate_audio",
        "cannot generate audio",
    ),
    (
        "execution_expires_after 3599",
        spec(model=PRO, prompt="x", execution_expires_after=3599),
        "execution_expires_after",
        "[3600, 259200]",
    ),
    (
        "execution_expires_after 259201",
        spec(model=PRO, prompt="x", execution_expires_after=259201),
        "execution_expires_after",
        "[3600, 259200]",
    ),
    (
        "callback_url ftp",
        spec(model=PRO, prompt="x", callback_url="ftp://example.com/cb"),
        "callback_url",
        "http(s) URL",
    ),
    (
        "callback_url relative",
        spec(model=PRO, prompt="x", callback_url="/hook"),
        "callback_url",
        "http(s) URL",
    ),
    ("model blank", spec(model=" ", prompt="x"), "model", "non-empty"),
    (
        "metadata not JSON",
        spec(model=PRO, prompt="x", metadata={"when": object()}),
        "metadata",
        "JSON-serialisable",
    ),
    (
        "metadata with a non-string key",
        spec(model=PRO, prompt="x", metadata={1: "row"}),
        "metadata",
        "keys must be strings",
    ),
    # images: sources and URLs
    (
        "image with two sources",
        spec(model=PRO, images=[Image(url=URL, data=PNG)]),
        "images[0]",
        "exactly one source",
    ),
    (
        "image with url and path",
        spec(model=PRO, images=[Image(url=URL, path="a.png")]),
        "images[0]",
        "exactly one source",
    ),
    (
        "image with no source",
        spec(model=PRO, prompt="x", images=[Image()]),
        "images[0]",
        "exactly one source",
    ),
    (
        "image url ftp",
        spec(model=PRO, images=[Image(url="ftp://example.com/a.png")]),
        "images[0].url",
        "http(s) URL",
    ),
    (
        "image url without scheme",
        spec(model=PRO, images=[Image(url="example.com/a.png")]),
        "images[0].url",
        "http(s) URL",
    ),
    (
        "data URL not an image type",
        spec(model=PRO, images=[Image(url="data:text/plain;base64,aGk=")]),
        "images[0].url",
        "data:image/<format>;base64",
    ),
    (
        "data URL not base64-flagged",
        spec(model=PRO, images=[Image(url="data:image/png," + "x" * 8)]),
        "images[0].url",
        "data:image/<format>;base64",
    ),
    (
        "data URL broken base64",
        spec(model=PRO, images=[Image(url="data:image/png;base64,@@@@")]),
        "images[0].url",
        "not valid base64",
    ),
    (
        "data URL format mismatch",
        spec(model=PRO, images=[Image(url=data_url(PNG, "jpeg"))]),
        "images[0].url",
        "must match the image bytes",
    ),
    (
        "data URL format upper case",
        spec(model=PRO, images=[Image(url=data_url(PNG, "PNG"))]),
        "images[0].url",
        "lowercase format",
    ),
    # in-memory images
    (
        "bytes not an image",
        spec(model=PRO, images=[Image.from_bytes(b"hello world")]),
        "images[0]",
        "known image format",
    ),
    (
        "data URL bytes not an image",
        spec(model=PRO, images=[Image(url=data_url(b"hello", "png"))]),
        "images[0]",
        "known image format",
    ),
    (
        "heic on a 1.0 model",
        spec(model=PRO, images=[Image.from_bytes(imagedata.heic())]),
        "images[0]",
        "image format must be one of",
    ),
    (
        "image of 30 MB",
        lambda: {"model": PRO, "images": [Image.from_bytes(padded_png(800, 600, MAX_IMAGE_BYTES))]},
        "images[0]",
        "smaller than 30 MB",
    ),
    (
        "width 300",
        spec(model=PRO, images=[Image.from_bytes(imagedata.png(300, 400))]),
        "images[0]",
        "within (300, 6000) px",
    ),
    (
        "height 300",
        spec(model=PRO, images=[Image.from_bytes(imagedata.gif(400, 300))]),
        "images[0]",
        "within (300, 6000) px",
    ),
    (
        "width 6000",
        spec(model=PRO, images=[Image.from_bytes(imagedata.webp_vp8x(6000, 5000))]),
        "images[0]",
        "within (300, 6000) px",
    ),
    (
        "height 6000",
        spec(model=PRO, images=[Image.from_bytes(imagedata.jpeg(5000, 6000))]),
        "images[0]",
        "within (300, 6000) px",
    ),
    (
        "aspect exactly 2.5",
        spec(model=PRO, images=[Image.from_bytes(imagedata.bmp(1000, 400))]),
        "images[0]",
        "aspect ratio",
    ),
    (
        "aspect exactly 0.4",
        spec(model=PRO, images=[Image.from_bytes(imagedata.tiff(400, 1000))]),
        "images[0]",
        "aspect ratio",
    ),
    (
        "data URL image too small",
        spec(model=PRO, images=[Image(url=data_url(imagedata.png(200, 200), "png"))]),
        "images[0]",
        "within (300, 6000) px",
    ),
    (
        "inline images over 64 MB",
        lambda: {
            "model": LITE_I2V,
            "images": [Image.from_bytes(padded_png(800, 600, 25 * MB), "reference_image")] * 2,
        },
        "images",
        "at most 64 MB",
    ),
]


@pytest.mark.parametrize(
    ("build", "field", "rule"),
    [c[1:] for c in SINGLE_RULE_CASES],
    ids=[c[0] for c in SINGLE_RULE_CASES],
)
def test_each_rule_is_reported_alone_with_its_field(build: Spec, field: str, rule: str) -> None:
    """A spec breaking exactly one rule raises one violation naming that field and rule."""
    with pytest.raises(InvalidTaskSpec) as info:
        VideoTask(**build())
    assert [(v.field, rule in v.rule) for v in info.value.violations] == [(field, True)], info.value
    assert rule in str(info.value)


PASSING_CASES: list[tuple[str, Spec]] = [
    ("frames 29", spec(model=PRO, prompt="x", frames=29)),
    ("frames 57", spec(model=LITE_T2V, prompt="x", frames=57)),
    ("frames 289", spec(model=PRO_FAST, prompt="x", frames=289)),
    ("duration 2 and 12 on 1.0", spec(model=PRO, prompt="x", duration=2)),
    ("duration 12 on 1.0", spec(model=LITE_I2V, images=[FIRST], duration=12)),
    ("duration 4 on 1.5 pro", spec(model=PRO15, prompt="x", duration=4)),
    ("duration 12 on 1.5 pro", spec(model=PRO15, prompt="x", duration=12)),
    ("duration -1 on 1.5 pro", spec(model=PRO15, prompt="x", duration=-1)),
    ("seed -1", spec(model=PRO, prompt="x", seed=-1)),
    ("seed 0", spec(model=PRO, prompt="x", seed=0)),
    ("seed 2^32-1", spec(model=PRO, prompt="x", seed=2**32 - 1)),
    ("expires 3600", spec(model=PRO, prompt="x", execution_expires_after=3600)),
    ("expires 259200", spec(model=PRO, prompt="x", execution_expires_after=259200)),
    ("1000 words", spec(model=PRO, prompt=" ".join(["word"] * 1000))),
    ("500 CJK characters", spec(model=PRO, prompt="猫" * 500)),
    ("adaptive text-to-video on 1.5 pro", spec(model=PRO15, prompt="x", ratio=Ratio.ADAPTIVE)),
    ("adaptive with a first frame", spec(model=PRO, images=[FIRST], ratio=Ratio.ADAPTIVE)),
    (
        "1080p first frame on lite i2v",
        spec(model=LITE_I2V, images=[FIRST], resolution=Resolution.P1080),
    ),
    ("720p with reference images", spec(model=LITE_I2V, images=[REF], resolution=Resolution.P720)),
    (
        "camera_fixed false with reference images",
        spec(model=LITE_I2V, images=[REF], camera_fixed=False),
    ),
    ("four reference images", spec(model=LITE_I2V, images=[REF] * 4, prompt="[Image1]")),
    (
        "same image as first and last",
        spec(model=PRO15, images=[FIRST, Image(url=URL, role=ImageRole.LAST_FRAME)]),
    ),
    ("last frame listed first", spec(model=LITE_I2V, images=[LAST, FIRST])),
    ("generate_audio on 1.5 pro", spec(model=PRO15, prompt="x", generate_audio=True)),
    ("generate_audio false on 1.0", spec(model=PRO, prompt="x", generate_audio=False)),
    ("http callback", spec(model=PRO, prompt="x", callback_url="http://hooks.local/cb")),
    ("image without prompt", spec(model=PRO, images=[FIRST])),
    ("http image url", spec(model=PRO, images=[Image(url="http://example.com/a.png")])),
    (
        "data URL jpg alias",
        spec(model=PRO, images=[Image(url=data_url(imagedata.jpeg(800, 600), "jpg"))]),
    ),
    (
        "data URL tif alias",
        spec(model=PRO, images=[Image(url=data_url(imagedata.tiff(800, 600), "tif"))]),
    ),
    ("width 301 and 5999", spec(model=PRO, images=[Image.from_bytes(imagedata.png(5999, 2401))])),
    ("aspect just inside", spec(model=PRO, images=[Image.from_bytes(imagedata.png(401, 1000))])),
    ("heic on 1.5 pro", spec(model=PRO15, images=[Image.from_bytes(imagedata.heic())])),
    ("heif on 1.5 pro", spec(model=PRO15, images=[Image.from_bytes(imagedata.heic(b"mif1"))])),
    (
        "local path not read at construction",
        spec(model=PRO, images=[Image.from_path("/nonexistent/a.png")]),
    ),
]


@pytest.mark.parametrize("build", [c[1] for c in PASSING_CASES], ids=[c[0] for c in PASSING_CASES])
def test_boundary_values_pass(build: Spec) -> None:
    """Values on the allowed side of each boundary construct without error."""
    task = VideoTask(**build())
    assert collect_violations(task) == []


@given(video_tasks(sources=("url", "data", "data_url")))
def test_strategy_tasks_pass_every_check(task: VideoTask) -> None:
    """Tasks from the valid-task strategy pass construction, Ark's check and validate()."""
    assert collect_violations(task) == []
    validate(task, provider=create_adapter("ark"))


def test_all_violations_are_reported_at_once() -> None:
    """One InvalidTaskSpec lists every broken rule, not just the first."""
    with pytest.raises(InvalidTaskSpec) as info:
        VideoTask(
            model=PRO15,
            prompt="",
            frames=30,
            duration=3,
            seed=-5,
            resolution=Resolution.P1080,
            execution_expires_after=1,
            callback_url="mailto:me@example.com",
        )
    fields = info.value.fields
    assert set(fields) == {
        "prompt",
        "frames",
        "duration",
        "seed",
        "resolution",
        "execution_expires_after",
        "callback_url",
    }
    assert fields.count("frames") == 3  # both set, not 25+4n, not on 1.5 pro
    assert f"({len(fields)} problems)" in str(info.value)


def test_i2v_model_without_image_and_prompt_reports_both() -> None:
    """An image-to-video model given nothing names both the scenario and the prompt."""
    with pytest.raises(InvalidTaskSpec) as info:
        VideoTask(model=LITE_I2V)
    assert info.value.fields == ("prompt", "model")


# -- unknown models and model id spellings -------------------------------------------------


def test_unknown_model_gets_universal_rules_and_a_warning() -> None:
    """An unknown id (an Ark endpoint) warns and is checked only against universal rules."""
    with pytest.warns(UnknownModelWarning, match="ep-20250101-abcde"):
        task = VideoTask(
            model="ep-20250101-abcde",
            images=[REF],
            ratio=Ratio.R9_21,
            frames=57,
            generate_audio=True,
            duration=None,
        )
    assert task.scenario == "reference_images"


def test_unknown_model_takes_reference_1080p() -> None:
    """The 1.x reference-image limits (no 1080p) are per family: an endpoint id is not blocked."""
    with pytest.warns(UnknownModelWarning):
        task = VideoTask(model="ep-20250101-abcde", images=[REF], resolution=Resolution.P1080)
    assert task.resolution is Resolution.P1080


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prompt": "x", "seed": 2**32}, "seed"),
        ({"prompt": "x", "frames": 30}, "frames"),
        ({"prompt": "x", "duration": 0}, "duration"),
        ({"images": [FIRST, REF]}, "images"),
        ({}, "prompt"),
        ({"prompt": "x", "priority": 10}, "priority"),
        ({"prompt": "x", "extra": {"duration": 5}}, "extra.duration"),
    ],
)
def test_unknown_model_still_gets_universal_rules(kwargs: dict[str, Any], field: str) -> None:
    """Universal rules apply to an unknown model too, after the warning."""
    with pytest.warns(UnknownModelWarning), pytest.raises(InvalidTaskSpec) as info:
        VideoTask(model="doubao-seedance-9-9-990101", **kwargs)
    assert info.value.fields == (field,)


def test_unknown_model_warning_points_at_the_caller() -> None:
    """The warning is attributed to the line that built the task, not to library code."""
    with pytest.warns(UnknownModelWarning) as record:
        VideoTask(model="ep-x", prompt="x")
    assert record[0].filename == __file__


def test_unknown_model_from_json_warns_too() -> None:
    """from_dict warns like the constructor and returns the task."""
    with pytest.warns(UnknownModelWarning):
        task = load_task({"model": "ep-x", "prompt": "x", "frames": 57})
    assert task.frames == 57


def test_unknown_model_from_json_as_error_stays_a_warning() -> None:
    """With warnings as errors (as here) from_dict raises the warning, not InvalidTaskSpec."""
    with pytest.raises(UnknownModelWarning):
        load_task({"model": "ep-x", "prompt": "x"})


def test_unknown_model_duration_minus_one_is_allowed() -> None:
    """-1 (model picks) is accepted for a model whose range is unknown."""
    with pytest.warns(UnknownModelWarning):
        assert VideoTask(model="ep-x", prompt="x", duration=-1).duration == -1


@pytest.mark.parametrize(
    ("model_id", "family"),
    [
        ("doubao-seedance-1-0-lite-t2v-250428", "seedance-1-0-lite-t2v"),
        ("seedance-1-0-lite-t2v-250428", "seedance-1-0-lite-t2v"),
        ("bytedance/seedance-1-0-lite-t2v", "seedance-1-0-lite-t2v"),
        ("seedance-1-0-lite-i2v-250428", "seedance-1-0-lite-i2v"),
        ("bytedance/seedance-1-0-lite-i2v", "seedance-1-0-lite-i2v"),
        ("seedance-1-0-pro-250528", "seedance-1-0-pro"),
        ("bytedance/seedance-1-0-pro-t2v", "seedance-1-0-pro"),
        ("bytedance/seedance-1-0-pro-i2v", "seedance-1-0-pro"),
        ("seedance-1-0-pro-fast-251015", "seedance-1-0-pro-fast"),
        ("bytedance/seedance-1-0-pro-fast", "seedance-1-0-pro-fast"),
        ("seedance-1-5-pro-251215", "seedance-1-5-pro"),
        ("bytedance/seedance-1-5-pro", "seedance-1-5-pro"),
        ("  Doubao-Seedance-1-5-Pro-251215 ", "seedance-1-5-pro"),
    ],
)
def test_provider_spellings_resolve_to_the_same_family(model_id: str, family: str) -> None:
    """BytePlus ids (no ``doubao-``) and AI/ML ``bytedance/...`` ids name the same family."""
    assert normalise_model_id(model_id) == family
    caps = model_capabilities(model_id)
    assert caps is not None
    assert caps.family == family


@pytest.mark.parametrize(
    ("model_id", "kwargs", "field"),
    [
        ("seedance-1-0-pro-250528", {"images": [REF]}, "images"),
        ("bytedance/seedance-1-0-pro-i2v", {"images": [REF]}, "images"),
        ("seedance-1-5-pro-251215", {"prompt": "x", "frames": 57}, "frames"),
        ("bytedance/seedance-1-5-pro", {"prompt": "x", "duration": 2}, "duration"),
        ("bytedance/seedance-1-0-pro-fast", {"images": [FIRST, LAST]}, "images"),
        ("seedance-1-0-lite-t2v-250428", {"images": [FIRST]}, "images"),
    ],
)
def test_other_spellings_get_the_per_model_rules_without_warning(
    model_id: str, kwargs: dict[str, Any], field: str
) -> None:
    """A BytePlus or AI/ML id is a known model: its family's rules apply and nothing warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownModelWarning)
        with pytest.raises(InvalidTaskSpec) as info:
            VideoTask(model=model_id, **kwargs)
    assert info.value.fields == (field,)


# -- provider rules ---------------------------------------------------------------------------


@pytest.mark.parametrize("ratio", [Ratio.R9_21, Ratio.KEEP_RATIO])
def test_ark_refuses_gateway_only_ratios(ratio: Ratio) -> None:
    """Ark's body knows only the seven Ark ratios; 9:21 and keep_ratio fail validate()."""
    task = VideoTask(model=PRO, prompt="x", ratio=ratio)
    with pytest.raises(InvalidTaskSpec) as info:
        validate(task, provider=create_adapter("ark"))
    assert info.value.fields == ("ratio",)
    assert "provider ark" in info.value.violations[0].rule


@pytest.mark.parametrize("seed", [-1, 0, 2**31, 2**32 - 1])
def test_ark_accepts_its_whole_seed_range(seed: int) -> None:
    """Ark takes seeds in [-1, 2^32-1] (§2.2), wider than the gateways' range."""
    validate(VideoTask(model=PRO, prompt="x", seed=seed), provider=create_adapter("ark"))


@pytest.mark.parametrize("seed", [-2, 2**32])
def test_ark_check_has_its_own_seed_range(seed: int) -> None:
    """Ark's check refuses seeds outside [-1, 2^32-1] even if a task skipped construction."""
    task = VideoTask(model=PRO, prompt="x")
    object.__setattr__(task, "seed", seed)  # bypass the universal rule on purpose
    violations = create_adapter("ark").check(task)
    assert [(v.field, v.rule) for v in violations] == [
        ("seed", "provider ark takes seed within [-1, 4294967295]")
    ]


NARROW = ProviderCapabilities(
    reference_images=False,
    first_last_frame=False,
    image_roles_on_wire=False,
    inline_images=False,
    seed_min=0,
    seed_max=2147483647,
    frames=False,
    durations=frozenset({5, 10}),
    ratios=frozenset({Ratio.R16_9, Ratio.R9_16}),
    max_prompt_chars=800,
    models=frozenset({"seedance-1-0-pro", "seedance-1-0-lite-i2v"}),
    fields=frozenset({"resolution", "ratio", "duration", "seed", "watermark"}),
)

PROVIDER_CASES: list[tuple[str, Spec, str, str]] = [
    (
        "seed -1 outside a gateway range",
        spec(model=PRO, prompt="x", seed=-1),
        "seed",
        "seed within [0, 2147483647]",
    ),
    (
        "seed 2^31 outside a gateway range",
        spec(model=PRO, prompt="x", seed=2**31),
        "seed",
        "seed within [0, 2147483647]",
    ),
    (
        "reference images not expressible",
        spec(model=LITE_I2V, images=[REF]),
        "images",
        "cannot send reference images",
    ),
    (
        "last frame not expressible",
        spec(model=PRO, images=[FIRST, LAST]),
        "images",
        "cannot send a last frame",
    ),
    (
        "inline data not accepted",
        spec(model=PRO, images=[Image.from_bytes(PNG)]),
        "images[0]",
        "image URLs only",
    ),
    (
        "local path not accepted",
        spec(model=PRO, images=[Image.from_path("a.png")]),
        "images[0]",
        "image URLs only",
    ),
    (
        "frames not expressible",
        spec(model=PRO, prompt="x", frames=57),
        "frames",
        "cannot send frames",
    ),
    (
        "duration not offered",
        spec(model=PRO, prompt="x", duration=6),
        "duration",
        "takes duration 5, 10",
    ),
    (
        "ratio not offered",
        spec(model=PRO, prompt="x", ratio=Ratio.R4_3),
        "ratio",
        "takes ratio 16:9, 9:16",
    ),
    (
        "prompt too long",
        spec(model=PRO, prompt="x" * 801),
        "prompt",
        "at most 800 prompt characters",
    ),
    (
        "model not offered",
        spec(model=PRO_FAST, prompt="x"),
        "model",
        "does not offer model seedance-1-0-pro-fast",
    ),
    (
        "field not expressible",
        spec(model=PRO, prompt="x", camera_fixed=True),
        "camera_fixed",
        "cannot send camera_fixed",
    ),
    (
        "callback not expressible",
        spec(model=PRO, prompt="x", callback_url="https://e.com/cb"),
        "callback_url",
        "cannot send callback_url",
    ),
]


@pytest.mark.parametrize(
    ("build", "field", "rule"), [c[1:] for c in PROVIDER_CASES], ids=[c[0] for c in PROVIDER_CASES]
)
def test_each_provider_capability_rule(build: Spec, field: str, rule: str) -> None:
    """A narrow provider's capabilities refuse exactly what its wire cannot express."""
    task = VideoTask(**build())
    violations = check_capabilities("narrow", NARROW, task)
    assert [(v.field, rule in v.rule) for v in violations] == [(field, True)], violations
    assert "provider narrow" in violations[0].rule


def test_provider_defaults_that_match_are_harmless() -> None:
    """Explicit false / "default" values of fields a provider cannot send are not violations."""
    task = VideoTask(
        model=PRO,
        prompt="x",
        camera_fixed=False,
        return_last_frame=False,
        service_tier="default",
    )
    assert check_capabilities("narrow", NARROW, task) == []


def test_provider_reading_roles_from_order_accepts_any_listing_order() -> None:
    """Without roles on the wire the adapter orders the images, so listing order is free."""
    caps = ProviderCapabilities(image_roles_on_wire=False)
    for images in ([LAST, FIRST], [FIRST, LAST]):
        assert check_capabilities("p", caps, VideoTask(model=PRO, images=images)) == []


class _Checker:
    """A provider checker that always reports one violation."""

    def check(self, task: VideoTask) -> list[Violation]:
        return [Violation(field="model", rule="provider says no", value=task.model)]


def test_validate_joins_provider_and_file_violations(tmp_path: Path) -> None:
    """validate() reports provider and local-file problems together in one error."""
    task = VideoTask(model=PRO, images=[Image.from_path(str(tmp_path / "missing.png"))])
    with pytest.raises(InvalidTaskSpec) as info:
        validate(task, provider=_Checker())
    assert info.value.fields == ("model", "images[0].path")


def test_validate_without_file_checks_does_not_touch_disk() -> None:
    """check_files=False skips local files (and so their problems)."""
    task = VideoTask(model=PRO, images=[Image.from_path("/nonexistent/a.png")])
    validate(task, check_files=False)
    with pytest.raises(InvalidTaskSpec):
        validate(task)


# -- local image files -------------------------------------------------------------------------


def local(path: Path, role: ImageRole = ImageRole.FIRST_FRAME) -> Image:
    """An image read from ``path``."""
    return Image.from_path(str(path), role)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.png", imagedata.png(1280, 720)),
        ("a.gif", imagedata.gif(640, 480)),
        ("a.bmp", imagedata.bmp(1024, 768)),
        ("a.jpg", imagedata.jpeg(1920, 1080)),
        ("a.webp", imagedata.webp_vp8(800, 800)),
        ("a.tif", imagedata.tiff(2000, 1500)),
    ],
)
def test_good_local_files_pass(tmp_path: Path, name: str, content: bytes) -> None:
    """Real small image files within every limit pass validate()."""
    path = tmp_path / name
    path.write_bytes(content)
    validate(VideoTask(model=PRO, images=[local(path)]), provider=create_adapter("ark"))


LOCAL_CASES: list[tuple[str, bytes | None, int | None, str]] = [
    ("missing file", None, None, "must be readable"),
    ("text file", b"just some text, not pixels", None, "known image format"),
    ("too small", imagedata.png(200, 200), None, "within (300, 6000) px"),
    ("too large", imagedata.gif(6000, 4000), None, "within (300, 6000) px"),
    ("bad aspect", imagedata.bmp(2000, 500), None, "aspect ratio"),
    ("oversized file", imagedata.png(800, 600), MAX_IMAGE_BYTES, "smaller than 30 MB"),
    ("heic on a 1.0 model", imagedata.heic(), None, "image format must be one of"),
]


@pytest.mark.parametrize(
    ("content", "size", "rule"), [c[1:] for c in LOCAL_CASES], ids=[c[0] for c in LOCAL_CASES]
)
def test_each_local_file_rule(
    tmp_path: Path, content: bytes | None, size: int | None, rule: str
) -> None:
    """Each bad local file gives one violation naming ``images[0].path``."""
    path = tmp_path / "image"
    if content is not None:
        imagedata.sparse_copy(path, content, size or len(content))
    task = VideoTask(model=PRO, images=[local(path)])
    violations = check_local_images(task)
    assert [(v.field, rule in v.rule) for v in violations] == [("images[0].path", True)], violations
    with pytest.raises(InvalidTaskSpec) as info:
        validate(task)
    assert info.value.fields == ("images[0].path",)


def test_directory_is_not_readable_as_an_image(tmp_path: Path) -> None:
    """A directory path is reported as unreadable, not as a crash."""
    violations = check_local_images(VideoTask(model=PRO, images=[local(tmp_path)]))
    assert [v.field for v in violations] == ["images[0].path"]
    assert "readable" in violations[0].rule


def test_file_just_under_30_mb_passes(tmp_path: Path) -> None:
    """A 30 MB - 1 byte file is within the per-image limit."""
    path = imagedata.sparse_copy(tmp_path / "big.png", imagedata.png(800, 600), MAX_IMAGE_BYTES - 1)
    assert check_local_images(VideoTask(model=PRO, images=[local(path)])) == []


def test_whole_request_limit_counts_all_local_files(tmp_path: Path) -> None:
    """Three 25 MB files are each fine but together exceed the 64 MB body limit."""
    paths = [
        imagedata.sparse_copy(tmp_path / f"ref{i}.png", imagedata.png(800, 600), 25 * MB)
        for i in range(3)
    ]
    task = VideoTask(model=LITE_I2V, images=[local(p, ImageRole.REFERENCE_IMAGE) for p in paths])
    violations = check_local_images(task)
    assert [v.field for v in violations] == ["images"]
    assert "64 MB" in violations[0].rule
    two = VideoTask(model=LITE_I2V, images=[local(p, ImageRole.REFERENCE_IMAGE) for p in paths[:1]])
    assert check_local_images(two) == []


def test_whole_request_limit_counts_inline_and_local_images(tmp_path: Path) -> None:
    """Inline bytes and local files share the 64 MB body budget."""
    path = imagedata.sparse_copy(tmp_path / "ref.png", imagedata.png(800, 600), 25 * MB)
    inline = Image.from_bytes(padded_png(800, 600, 25 * MB), ImageRole.REFERENCE_IMAGE)
    task = VideoTask(model=LITE_I2V, images=[inline, local(path, ImageRole.REFERENCE_IMAGE)])
    assert [v.field for v in check_local_images(task)] == ["images"]


def test_local_file_violations_are_all_reported(tmp_path: Path) -> None:
    """Problems in several files come back together, each under its own index."""
    small = tmp_path / "small.png"
    small.write_bytes(imagedata.png(100, 100))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    task = VideoTask(
        model=LITE_I2V,
        images=[
            local(small, ImageRole.REFERENCE_IMAGE),
            local(text, ImageRole.REFERENCE_IMAGE),
            local(tmp_path / "gone.png", ImageRole.REFERENCE_IMAGE),
        ],
    )
    with pytest.raises(InvalidTaskSpec) as info:
        validate(task)
    assert info.value.fields == ("images[0].path", "images[1].path", "images[2].path")


def test_heic_file_passes_on_1_5_pro(tmp_path: Path) -> None:
    """1.5 pro takes HEIC/HEIF input (§7); its size is not in the ftyp header."""
    path = tmp_path / "photo.heic"
    path.write_bytes(imagedata.heic())
    assert check_local_images(VideoTask(model=PRO15, images=[local(path)])) == []
