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
    "GenParams",
    "ModelInfo",
    "Rejection",
    "dimensions",
    "model_info",
    "resolve_params",
]

FPS = 24
RESOLUTIONS = frozenset({"480p", "720p", "1080p"})
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
        ),
    )
}
# Models the simulator does not describe in detail (endpoint ids, 2.x): anything goes.
_GENERIC = ModelInfo(family="generic", reference_images=True, adaptive_text_to_video=True)
_ALIASES = {"seedance-1-0-pro-t2v": "seedance-1-0-pro", "seedance-1-0-pro-i2v": "seedance-1-0-pro"}
_DATE_SUFFIX = re.compile(r"-\d{6}$")


def model_info(model: str) -> ModelInfo | None:
    """The family of a model id in any provider's spelling, or None when it does not exist.

    ``doubao-seedance-1-0-pro-250528``, ``seedance-1-0-pro-250528`` (BytePlus) and
    ``bytedance/seedance-1-0-pro-t2v`` (AI/ML API) are the same family. Endpoint ids
    (``ep-...``) and Seedance 2.x ids exist but are not described: they allow everything.
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
    table = _DIMS_1_5 if info.seedance_1_5 else _DIMS_1_0
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

    @property
    def seconds(self) -> float:
        """Video length in seconds (``frames / 24`` when frames were given)."""
        if self.frames is not None:
            return self.frames / FPS
        return float(self.duration or 5)

    @property
    def tokens(self) -> int:
        """Ark's billing estimate: width x height x fps x seconds / 1024 tokens."""
        return int(self.width * self.height * FPS * self.seconds / 1024)


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
) -> GenParams:
    """Fill provider defaults into already-validated options (Ark's create-task defaults)."""
    resolution = resolution or info.default_resolution
    if ratio is None:
        # Defaults: T2V 16:9 (1.5 pro adaptive), first frame adaptive, references 16:9.
        ratio = "16:9" if scenario in ("text", "reference_images") else "adaptive"
        if scenario == "text" and info.seedance_1_5:
            ratio = "adaptive"
    effective_ratio = "16:9" if ratio in ("adaptive", "keep_ratio") else ratio
    if frames is None and (duration is None or duration == -1):
        # -1 lets 1.5 pro pick a length; the simulator picks one from its RNG.
        duration = rng.randint(4, 12) if duration == -1 else 5
    width, height = dimensions(info, resolution, effective_ratio)
    if seed is None or seed == -1:
        seed = rng.randrange(0, 2**31)
    if generate_audio is None and info.audio:
        generate_audio = True
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
    )
