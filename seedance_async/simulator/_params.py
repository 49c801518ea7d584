"""What the simulated models can do, and the effective parameters of one generation.

The simulator keeps its own copy of the model facts (the Seedance model pages of Volcengine
Ark and BytePlus ModelArk: scenarios, ranges and pixel sizes per model) instead of importing
the client's tables: a simulator that shares the client's mistakes could not catch them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping

import attrs

__all__ = [
    "ARK_RATIOS",
    "FPS",
    "RESOLUTIONS",
    "RESOLUTIONS_2X",
    "GenParams",
    "ModelInfo",
    "Rejection",
    "dimensions",
    "model_info",
    "resolve_params",
]

FPS = 24
RESOLUTIONS = frozenset({"480p", "720p", "1080p"})
RESOLUTIONS_2X = frozenset({"480p", "720p", "1080p", "4k"})
ARK_RATIOS = frozenset({"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"})
_RATIO_ORDER = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")

# Pixel sizes WxH in the order of _RATIO_ORDER (Ark's model pages). 9:21 and keep_ratio
# (gateways only) reuse 9:16 and 16:9.
_DIMS_1_0: Mapping[str, tuple[tuple[int, int], ...]] = {
    "480p": ((864, 480), (736, 544), (640, 640), (544, 736), (480, 864), (960, 416)),
    "720p": ((1248, 704), (1120, 832), (960, 960), (832, 1120), (704, 1248), (1504, 640)),
    "1080p": ((1920, 1088), (1664, 1248), (1440, 1440), (1248, 1664), (1088, 1920), (2176, 928)),
}
_DIMS_1_5: Mapping[str, tuple[tuple[int, int], ...]] = {
    "480p": ((864, 496), (752, 560), (640, 640), (560, 752), (496, 864), (992, 432)),
    "720p": ((1280, 720), (1112, 834), (960, 960), (834, 1112), (720, 1280), (1470, 630)),
    "1080p": ((1920, 1080), (1664, 1248), (1440, 1440), (1248, 1664), (1080, 1920), (2206, 946)),
    # Seedance 2.0 standard only (its July 2026 model page).
    "4k": ((3840, 2160), (3326, 2494), (2880, 2880), (2494, 3326), (2160, 3840), (4398, 1886)),
}


@attrs.frozen(kw_only=True)
class ModelInfo:
    """The scenarios and ranges of one model family (Ark's model capability table)."""

    family: str
    text_to_video: bool = True
    first_frame: bool = True
    first_last_frame: bool = True
    reference_images: bool = False
    default_resolution: str = "720p"
    min_duration: int = 2
    max_duration: int = 12
    auto_duration: bool = False
    frames: bool = True
    audio: bool = False
    adaptive_text_to_video: bool = False
    seedance_1_5: bool = False
    resolutions: frozenset[str] = RESOLUTIONS
    series: int = 1
    max_images: int = 4
    max_videos: int = 0
    max_audios: int = 0
    max_reference_seconds: float = 15.0
    audio_only: bool = False
    draft: bool = False
    tools: bool = False

    @property
    def pixel_table(self) -> Mapping[str, tuple[tuple[int, int], ...]]:
        """1.5 pro and every 2.x model share one pixel table; 1.0 has its own."""
        return _DIMS_1_5 if self.seedance_1_5 or self.series == 2 else _DIMS_1_0


# What the 2.x models share (Ark's 2.0 create-task page): 4-15 s or -1, adaptive ratio,
# audio, 9 images + 3 videos + 3 audios as references, no frames, web search.
_SEEDANCE_2 = ModelInfo(
    family="seedance-2-0",
    reference_images=True,
    min_duration=4,
    max_duration=15,
    auto_duration=True,
    frames=False,
    audio=True,
    adaptive_text_to_video=True,
    resolutions=RESOLUTIONS_2X,
    series=2,
    max_images=9,
    max_videos=3,
    max_audios=3,
    tools=True,
)
_LOW = frozenset({"480p", "720p"})


_MODELS: Mapping[str, ModelInfo] = {
    m.family: m
    for m in (
        ModelInfo(family="seedance-1-0-lite-t2v", first_frame=False, first_last_frame=False),
        ModelInfo(family="seedance-1-0-lite-i2v", text_to_video=False, reference_images=True),
        ModelInfo(family="seedance-1-0-pro", default_resolution="1080p"),
        ModelInfo(
            family="seedance-1-0-pro-fast", default_resolution="1080p", first_last_frame=False
        ),
        ModelInfo(
            family="seedance-1-5-pro",
            min_duration=4,
            auto_duration=True,
            frames=False,
            audio=True,
            adaptive_text_to_video=True,
            seedance_1_5=True,
            draft=True,
        ),
        _SEEDANCE_2,
        attrs.evolve(_SEEDANCE_2, family="seedance-2-0-fast", resolutions=_LOW),
        attrs.evolve(_SEEDANCE_2, family="seedance-2-0-mini", resolutions=_LOW),
        # 2.5 (BytePlus ModelArk's model list and client code, August 2026): longer clips,
        # 30 + 10 + 10 references, audio-only references and drafts.
        attrs.evolve(
            _SEEDANCE_2,
            family="seedance-2-5",
            resolutions=RESOLUTIONS,
            max_duration=30,
            max_images=30,
            max_videos=10,
            max_audios=10,
            max_reference_seconds=30.0,
            audio_only=True,
            draft=True,
        ),
        attrs.evolve(
            _SEEDANCE_2,
            family="seedance-2-5-premium",
            resolutions=frozenset({"4k"}),
            default_resolution="4k",
            max_duration=30,
            max_images=30,
            max_videos=10,
            max_audios=10,
            max_reference_seconds=30.0,
            audio_only=True,
            draft=True,
        ),
    )
}
# Models the simulator does not describe in detail (endpoint ids, unknown 2.x ids): anything goes.
_GENERIC = ModelInfo(
    family="generic",
    reference_images=True,
    adaptive_text_to_video=True,
    resolutions=RESOLUTIONS_2X,
    max_images=9,
    max_videos=3,
    max_audios=3,
    draft=True,
    tools=True,
)
_ALIASES = {"seedance-1-0-pro-t2v": "seedance-1-0-pro", "seedance-1-0-pro-i2v": "seedance-1-0-pro"}
_DATE_SUFFIX = re.compile(r"-\d{6}$")


def model_info(model: str) -> ModelInfo | None:
    """The family of a model id in any provider's spelling, or None when it does not exist.

    ``doubao-seedance-1-0-pro-250528``, ``seedance-1-0-pro-250528`` (BytePlus) and
    ``bytedance/seedance-1-0-pro-t2v`` (AI/ML API) are the same family, as are
    ``doubao-seedance-2-0-260128``, ``dreamina-seedance-2-0-260128`` and
    ``bytedance/seedance-2-0``. Endpoint ids (``ep-...``) and 2.x ids of no known family
    exist but are not described: they allow everything.
    """
    name = model.strip().lower()
    if name.startswith(("ep-", "bot-")):
        return _GENERIC
    for prefix in ("bytedance/", "doubao-", "dreamina-"):
        name = name.removeprefix(prefix)
    name = _ALIASES.get(_DATE_SUFFIX.sub("", name), _DATE_SUFFIX.sub("", name))
    if name in _MODELS:
        return _MODELS[name]
    if name.startswith("seedance-2"):
        return _GENERIC
    return None


def dimensions(info: ModelInfo, resolution: str, ratio: str) -> tuple[int, int]:
    """Output pixel size (W, H); ``adaptive``/``keep_ratio`` are taken as 16:9 here."""
    table = info.pixel_table
    ratio = {"9:21": "9:16"}.get(ratio, ratio)
    index = _RATIO_ORDER.index(ratio) if ratio in _RATIO_ORDER else 0
    return table.get(resolution, table["720p"])[index]


@attrs.frozen(kw_only=True)
class Rejection:
    """A request the provider refuses, in neutral terms; each protocol renders its own body.

    Attributes:
        status: HTTP status.
        code: Ark-style code (``MissingParameter``, ``InvalidParameter``...).
        message: human text (without the request id).
        param: the offending field, when there is one.
    """

    status: int
    code: str
    message: str
    param: str | None = None


@attrs.frozen(kw_only=True)
class GenParams:
    """The effective values of one generation (what the task object reports).

    Attributes:
        model: the model id as the client sent it.
        info: its family.
        scenario: ``text``, ``first_frame``, ``first_last_frame`` or ``reference_images``.
        prompt: the text prompt.
        resolution / ratio / width / height: output format (ratio as effective, never
            ``adaptive``).
        duration / frames: exactly one is set (``frames`` when the request used frames).
        seed: the seed used (a random one when the request said -1 or nothing).
        return_last_frame / generate_audio / camera_fixed / watermark: flags.
        service_tier / execution_expires_after / priority: Ark scheduling fields.
        callback_url: where Ark posts status changes (None: nowhere).
        draft: a draft (a cheap 480p preview that a final can be made from).
        draft_task_id: the draft a final was made from.
        tools: the tools the request enabled (``web_search``).
        web_searches: how many searches the model ran (0 when it chose none).
        safety_identifier: the end-user hash the request carried, echoed.
        input_video_seconds: total length of the reference videos (they are billed too).
        output_format: ``mp4`` or ``mov`` when the request chose one (2.5).
    """

    model: str
    info: ModelInfo = attrs.field(eq=False)
    scenario: str
    prompt: str
    resolution: str
    ratio: str
    width: int
    height: int
    duration: int | None
    frames: int | None
    seed: int
    return_last_frame: bool = False
    generate_audio: bool | None = None
    camera_fixed: bool = False
    watermark: bool = False
    service_tier: str = "default"
    execution_expires_after: int = 172_800
    priority: int | None = None
    callback_url: str | None = None
    draft: bool = False
    draft_task_id: str | None = None
    tools: tuple[str, ...] = ()
    web_searches: int = 0
    safety_identifier: str | None = None
    input_video_seconds: float = 0.0
    output_format: str | None = None

    @property
    def seconds(self) -> float:
        """Video length in seconds (``frames / 24`` when frames were given)."""
        if self.frames is not None:
            return self.frames / FPS
        return float(self.duration or 5)

    @property
    def tokens(self) -> int:
        """Ark's billing estimate: width x height x fps x seconds / 1024 tokens, where 2.x
        counts the reference videos' seconds too (a draft is cheap because it is 480p)."""
        seconds = self.seconds + self.input_video_seconds
        return int(self.width * self.height * FPS * seconds / 1024)


def resolve_params(
    *,
    model: str,
    info: ModelInfo,
    scenario: str,
    prompt: str,
    rng: random.Random,
    resolution: str | None = None,
    ratio: str | None = None,
    duration: int | None = None,
    frames: int | None = None,
    seed: int | None = None,
    return_last_frame: bool | None = None,
    generate_audio: bool | None = None,
    camera_fixed: bool | None = None,
    watermark: bool | None = None,
    service_tier: str | None = None,
    execution_expires_after: int | None = None,
    priority: int | None = None,
    callback_url: str | None = None,
    draft: bool | None = None,
    draft_task_id: str | None = None,
    tools: tuple[str, ...] = (),
    safety_identifier: str | None = None,
    input_video_seconds: float = 0.0,
    adaptive_ratio: str | None = None,
    output_format: str | None = None,
) -> GenParams:
    """Fill provider defaults into already-validated options (Ark's create-task defaults).

    ``adaptive_ratio`` is what ``adaptive`` becomes (the ratio of the first reference clip,
    when the simulator read one); 16:9 otherwise.
    """
    resolution = "480p" if draft else resolution or info.default_resolution
    if ratio is None:
        # Defaults: T2V 16:9 (1.5 pro adaptive), first frame adaptive, references 16:9;
        # every 2.x scenario adaptive.
        ratio = "16:9" if scenario in ("text", "reference_images") else "adaptive"
        if (scenario == "text" and info.seedance_1_5) or info.series == 2:
            ratio = "adaptive"
    effective_ratio = ratio
    if ratio in ("adaptive", "keep_ratio"):
        effective_ratio = adaptive_ratio if ratio == "adaptive" and adaptive_ratio else "16:9"
    if frames is None and (duration is None or duration == -1):
        # -1 lets 1.5 pro and 2.x pick a length; the simulator picks one from its RNG.
        pick = rng.randint(max(4, info.min_duration), info.max_duration)
        duration = pick if duration == -1 else 5
    width, height = dimensions(info, resolution, effective_ratio)
    if seed is None or seed == -1:
        seed = rng.randrange(0, 2**31)
    if generate_audio is None and info.audio:
        generate_audio = True
    # With web search on, the model decides whether to search: 0 to 3 searches here.
    searches = rng.randint(0, 3) if "web_search" in tools else 0
    return GenParams(
        model=model,
        info=info,
        scenario=scenario,
        prompt=prompt,
        resolution=resolution,
        ratio=effective_ratio,
        width=width,
        height=height,
        duration=None if frames is not None else duration,
        frames=frames,
        seed=seed,
        return_last_frame=bool(return_last_frame),
        generate_audio=generate_audio if info.audio else None,
        camera_fixed=bool(camera_fixed),
        watermark=bool(watermark),
        service_tier=service_tier or "default",
        execution_expires_after=execution_expires_after or 172_800,
        priority=priority,
        callback_url=callback_url,
        draft=bool(draft),
        draft_task_id=draft_task_id,
        tools=tools,
        web_searches=searches,
        safety_identifier=safety_identifier,
        input_video_seconds=input_video_seconds,
        output_format=output_format,
    )
