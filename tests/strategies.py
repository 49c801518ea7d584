"""Hypothesis strategies: valid Seedance task specs per model and scenario, and any JSON.

``video_tasks()`` only builds specs that respect every universal and per-model rule of
docs/providers.md §7 (the same rules :mod:`seedance_async.spec._rules` enforces), so a
spec it draws must construct without error. Narrow it with ``model=`` / ``scenario=`` /
``sources=``.
"""

from __future__ import annotations

import base64
import string
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from seedance_async.spec._catalog import MODELS, ModelCapabilities, model_capabilities
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import Image, ImageRole, Ratio, Resolution, ServiceTier
from tests import imagedata

__all__ = [
    "MODEL_IDS",
    "SCENARIOS",
    "image_bytes",
    "json_values",
    "metadata",
    "model_ids",
    "prompts",
    "scenarios_of",
    "video_tasks",
]

SCENARIOS = ("text", "first_frame", "first_last_frame", "reference_images")
SOURCES = ("url", "data", "data_url", "path")

MODELS_1X = tuple(m for m in MODELS if m.generation == 1)
"""The Seedance 1.x families: what :func:`video_tasks` draws from (2.x has its own strategy)."""

MODEL_IDS: dict[str, str] = {m.family: m.model_ids[0] for m in MODELS}
"""Family name -> Volcengine model id (BytePlus's for a family only BytePlus serves)."""

# The same families as BytePlus (no ``doubao-``) and AI/ML API (``bytedance/...``) spell them.
_AIML_IDS: dict[str, tuple[str, ...]] = {
    "seedance-1-0-lite-t2v": ("bytedance/seedance-1-0-lite-t2v",),
    "seedance-1-0-lite-i2v": ("bytedance/seedance-1-0-lite-i2v",),
    "seedance-1-0-pro": ("bytedance/seedance-1-0-pro-t2v", "bytedance/seedance-1-0-pro-i2v"),
    "seedance-1-0-pro-fast": ("bytedance/seedance-1-0-pro-fast",),
    "seedance-1-5-pro": ("bytedance/seedance-1-5-pro",),
}


def model_ids(caps: ModelCapabilities, *, spellings: bool = True) -> st.SearchStrategy[str]:
    """Ids of one family: Volcengine, and with ``spellings`` also BytePlus and AI/ML API."""
    volc = caps.model_ids[0]
    if not spellings:
        return st.just(volc)
    return st.sampled_from((volc, volc.removeprefix("doubao-"), *_AIML_IDS[caps.family]))


def scenarios_of(caps: ModelCapabilities) -> tuple[str, ...]:
    """The scenarios a model family supports."""
    flags = (caps.text_to_video, caps.first_frame, caps.first_last_frame, caps.reference_images)
    return tuple(s for s, ok in zip(SCENARIOS, flags, strict=True) if ok)


_WORD = st.text(alphabet=string.ascii_letters + string.digits + ",.'!-", min_size=1, max_size=12)
_CJK = st.text(
    alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF), min_size=1, max_size=20
)


@st.composite
def prompts(draw: st.DrawFn, *, required: bool) -> str:
    """A prompt within the word and CJK limits; non-blank when ``required``."""
    parts = draw(st.lists(st.one_of(_WORD, _CJK), min_size=1 if required else 0, max_size=30))
    return " ".join(parts)


_FORMAT_BUILDERS = {
    "png": imagedata.png,
    "jpeg": imagedata.jpeg,
    "gif": imagedata.gif,
    "bmp": imagedata.bmp,
    "webp": imagedata.webp_vp8x,
    "tiff": imagedata.tiff,
}


@st.composite
def image_bytes(draw: st.DrawFn, formats: Sequence[str] = tuple(_FORMAT_BUILDERS)) -> bytes:
    """A small image whose header passes the size rules: sides in (300, 6000), aspect in (0.4, 2.5)."""
    fmt = draw(st.sampled_from([f for f in formats if f in _FORMAT_BUILDERS]))
    width = draw(st.integers(301, 2000))
    low = max(301, int(width / 2.5) + 1)
    high = min(5999, int(width / 0.4) - 1)
    height = draw(st.integers(low, high))
    return _FORMAT_BUILDERS[fmt](width, height)


@st.composite
def images(
    draw: st.DrawFn, role: ImageRole, caps: ModelCapabilities, sources: Sequence[str]
) -> Image:
    """One image with ``role`` from one of ``sources``."""
    source = draw(st.sampled_from(sources))
    name = draw(st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=10))
    if source == "url":
        return Image(url=f"https://example.com/{name}.png", role=role)
    if source == "path":
        return Image(path=f"images/{name}.png", role=role)
    raw = draw(image_bytes(sorted(caps.image_formats)))
    if source == "data":
        return Image(data=raw, role=role)
    from seedance_async.spec._image_sniff import sniff_bytes

    fmt = sniff_bytes(raw).format
    return Image(url=f"data:image/{fmt};base64,{base64.b64encode(raw).decode()}", role=role)


_JSON_SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)


def json_values(
    *, keys: st.SearchStrategy[str] | None = None, max_leaves: int = 20
) -> st.SearchStrategy[Any]:
    """Any JSON value (``st.recursive``); ``keys`` draws object keys."""
    key_strategy = keys if keys is not None else st.text(max_size=10)
    return st.recursive(
        _JSON_SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(key_strategy, children, max_size=5),
        ),
        max_leaves=max_leaves,
    )


def metadata() -> st.SearchStrategy[dict[str, Any]]:
    """A caller's metadata object (any JSON object)."""
    return st.dictionaries(st.text(max_size=10), json_values(max_leaves=8), max_size=4)


@st.composite
def video_tasks(
    draw: st.DrawFn,
    *,
    model: str | None = None,
    scenario: str | None = None,
    sources: Sequence[str] = SOURCES,
    spellings: bool = True,
    with_metadata: bool = True,
) -> VideoTask:
    """A VideoTask that breaks no universal or per-model rule.

    Args:
        model: a Seedance 1.x model id (any spelling) or None for any known 1.x model.
        scenario: one of :data:`SCENARIOS` supported by the model, or None for any.
        sources: image sources to draw from (``url``, ``data``, ``data_url``, ``path``).
        spellings: also use BytePlus and AI/ML API spellings of the model ids.
        with_metadata: attach random metadata.
    """
    if model is None:
        caps = draw(st.sampled_from(MODELS_1X))
        model_id = draw(model_ids(caps, spellings=spellings))
    else:
        found = model_capabilities(model)
        assert found is not None, f"not a known model: {model}"
        caps, model_id = found, model
    chosen = scenario or draw(st.sampled_from(scenarios_of(caps)))
    assert chosen in scenarios_of(caps), f"{caps.family} has no {chosen} scenario"

    roles: list[ImageRole] = []
    if chosen == "first_frame":
        roles = [ImageRole.FIRST_FRAME]
    elif chosen == "first_last_frame":
        roles = [ImageRole.FIRST_FRAME, ImageRole.LAST_FRAME]
    elif chosen == "reference_images":
        count = draw(st.integers(1, caps.max_reference_images))
        roles = [ImageRole.REFERENCE_IMAGE] * count
    task_images = [draw(images(role, caps, sources)) for role in roles]
    if chosen == "first_last_frame" and draw(st.booleans()):
        task_images.reverse()  # order does not decide the roles
    refs = chosen == "reference_images"

    resolutions = sorted(caps.resolutions - ({Resolution.P1080} if refs else set()))
    ratios = set(caps.ratios)
    if refs or (chosen == "text" and not caps.adaptive_text_to_video):
        ratios.discard(Ratio.ADAPTIVE)

    length = draw(
        st.sampled_from(["none", "duration", "frames"] if caps.frames else ["none", "duration"])
    )
    duration = frames = None
    if length == "duration":
        choices = st.integers(caps.min_duration, caps.max_duration)
        duration = draw(choices | st.just(-1) if caps.auto_duration else choices)
    elif length == "frames":
        frames = 29 + 4 * draw(st.integers(0, (289 - 29) // 4))

    def opt(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.none() | strategy)

    return VideoTask(
        model=model_id,
        prompt=draw(prompts(required=not task_images)),
        images=task_images,
        resolution=opt(st.sampled_from(resolutions)),
        ratio=opt(st.sampled_from(sorted(ratios))),
        duration=duration,
        frames=frames,
        seed=opt(st.integers(-1, 2**32 - 1)),
        camera_fixed=opt(st.just(False) if refs else st.booleans()),
        watermark=opt(st.booleans()),
        return_last_frame=opt(st.booleans()),
        generate_audio=opt(st.booleans() if caps.audio else st.just(False)),
        service_tier=opt(st.sampled_from(ServiceTier)),
        execution_expires_after=opt(st.integers(3600, 259200)),
        callback_url=opt(
            st.sampled_from(["https://example.com/hook", "http://hooks.local/cb?x=1"])
        ),
        metadata=draw(metadata()) if with_metadata else {},
    )


MODELS_2X = tuple(m for m in MODELS if m.generation == 2)
"""The Seedance 2.x families: what :func:`video_tasks_2x` draws from."""

_EXTRA_KEYS = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=12).map(
    lambda k: f"x_{k}"
)


@st.composite
def video_tasks_2x(draw: st.DrawFn, *, with_metadata: bool = False) -> VideoTask:
    """A Seedance 2.x VideoTask that breaks no universal or per-model rule.

    References are URLs or ``asset://`` ids (no files), drawn within the model's counts;
    every 2.x field the model takes is set or not, ``extra`` carries keys the library never
    writes.
    """
    from seedance_async.spec._vocab import Audio, Video

    caps = draw(st.sampled_from(MODELS_2X))
    naming = draw(st.sampled_from(sorted(caps.provider_ids)))
    model = draw(st.sampled_from([caps.provider_ids[naming], caps.family]))
    scenario = draw(
        st.sampled_from(["text", "first_frame", "first_last_frame", "reference", "multimodal"])
    )

    def url(kind: str) -> st.SearchStrategy[str]:
        name = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=8)
        return st.one_of(
            name.map(lambda n: f"https://example.com/{n}.{kind}"),
            name.map(lambda n: f"asset://{n}"),
        )

    images: list[Image] = []
    videos: list[Video] = []
    audios: list[Audio] = []
    if scenario == "first_frame":
        images = [Image(url=draw(url("png")))]
    elif scenario == "first_last_frame":
        images = [Image(url=draw(url("png"))), Image(url=draw(url("png")), role="last_frame")]
    elif scenario in ("reference", "multimodal"):
        n_images = draw(st.integers(1 if scenario == "reference" else 0, caps.max_reference_images))
        images = [Image(url=draw(url("png")), role="reference_image") for _ in range(n_images)]
        if scenario == "multimodal":
            n_videos = draw(st.integers(0, caps.max_reference_videos))
            videos = [Video(url=draw(url("mp4"))) for _ in range(n_videos)]
            need_audio = not images and not videos and not caps.audio_only_references
            n_audios = draw(
                st.integers(1 if not (images or videos) else 0, caps.max_reference_audios)
            )
            if need_audio:
                videos = [Video(url=draw(url("mp4")))]
            audios = [Audio(url=draw(url("mp3"))) for _ in range(n_audios)]
    draft = draw(st.none() | st.booleans()) if caps.draft else None
    resolutions = sorted(caps.resolutions)
    if draft:
        resolutions = [r for r in resolutions if r is Resolution.P480]

    def opt(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.none() | strategy)

    duration = opt(st.integers(caps.min_duration, caps.max_duration) | st.just(-1))
    return VideoTask(
        model=model,
        prompt=draw(prompts(required=not images)),
        images=images,
        videos=videos,
        audios=audios,
        resolution=opt(st.sampled_from(resolutions)) if resolutions else None,
        ratio=opt(st.sampled_from(sorted(caps.ratios))),
        duration=duration,
        watermark=opt(st.booleans()),
        return_last_frame=None if draft else opt(st.booleans()),
        generate_audio=opt(st.booleans()),
        execution_expires_after=opt(st.integers(3600, 259200)),
        callback_url=opt(st.just("https://example.com/hook")),
        tools=draw(st.lists(st.sampled_from(sorted(caps.tools)), max_size=1)) if caps.tools else (),
        priority=opt(st.integers(0, 9)) if caps.priority else None,
        safety_identifier=opt(st.text(alphabet=string.hexdigits, min_size=1, max_size=64))
        if caps.safety_identifier
        else None,
        draft=draft,
        omni_reference_task_type=opt(st.sampled_from(["auto", "reference"]))
        if caps.omni_reference_task_type
        else None,
        output_format=opt(st.sampled_from(["mp4", "mov"])) if caps.output_format else None,
        extra=draw(st.dictionaries(_EXTRA_KEYS, json_values(max_leaves=4), max_size=2)),
        metadata=draw(metadata()) if with_metadata else {},
    )
