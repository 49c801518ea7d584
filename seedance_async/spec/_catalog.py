"""What each Seedance model can do, and the rules every model shares: ``catalog/seedance.toml``.

The facts are data, shipped in the package and read on first use through the strict
converter (a malformed file fails loudly, naming the field). This module holds the shapes
they load into and the few lookups the rules need. BytePlus ids are the Volcengine ids
without ``doubao-``; AI/ML API ids (``bytedance/seedance-1-0-pro-t2v``) name the same
families.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import attrs

from seedance_async.core._errors import ConfigurationError
from seedance_async.core._strict_data import read_catalog, strict_converter, structure_strictly
from seedance_async.spec._vocab import Ratio, Resolution

__all__ = [
    "MODELS",
    "DefaultLimits",
    "MediaLimits",
    "ModelCapabilities",
    "ModelCatalog",
    "RetiredModelWarning",
    "Retirement",
    "UniversalRules",
    "is_neutral_model",
    "model_capabilities",
    "model_catalog",
    "model_deprecation",
    "model_for_provider",
    "normalise_model_id",
    "override_model_catalog",
    "universal_rules",
]

_FILE = "seedance.toml"


@attrs.frozen(kw_only=True)
class MediaLimits:
    """What reference videos and audio clips must be (Seedance 2.x), from ``[media.*]``.

    Bounds are inclusive. Upper time bounds get ``seconds_tolerance`` on top: containers
    round durations, and a clip cut at 15 s often reads as 15.04 s.
    """

    video_formats: frozenset[str]
    video_codecs: frozenset[str]
    video_min_seconds: float
    video_max_seconds: float
    video_total_seconds: float
    video_max_bytes: int
    video_pixels_min: int
    video_pixels_max: int
    video_side_min: int
    video_side_max: int
    video_aspect_min: float
    video_aspect_max: float
    video_fps_min: float
    video_fps_max: float
    audio_formats: frozenset[str]
    audio_min_seconds: float
    audio_max_seconds: float
    audio_total_seconds: float
    audio_max_bytes: int
    seconds_tolerance: float


@attrs.frozen(kw_only=True)
class Retirement:
    """A model a provider has stopped (``retired``) or announced it will stop (``deprecated``)."""

    status: str = attrs.field(validator=attrs.validators.in_(("retired", "deprecated")))
    on: str
    replacement: str


@attrs.frozen(kw_only=True)
class ModelCapabilities:
    """The documented abilities and limits of one model family.

    Attributes:
        family: normalised family name, e.g. ``seedance-1-0-lite-i2v``.
        model_ids: the ids of this family (Volcengine's where it has one).
        text_to_video / first_frame / first_last_frame / reference_images: scenarios.
        max_reference_images: the most reference images one task may carry.
        audio: whether ``generate_audio`` is supported.
        resolutions: allowed resolutions; ``default_resolution`` the provider default.
        min_duration / max_duration: seconds; ``auto_duration`` allows ``-1`` (model picks).
        frames: whether ``frames`` is supported.
        adaptive_text_to_video: whether ``ratio=adaptive`` works without an image.
        image_formats: accepted input image formats.
        ratios: the documented output ratios.
        submit_rpm / max_running: Volcengine per-account defaults (creates per minute,
            concurrently running tasks), used as the default budgets.
        max_reference_videos / max_reference_audios: reference videos and audio clips one
            task may carry (Seedance 2.x); ``audio_only_references`` allows audio without
            an image or video.
        reference_1080p / reference_adaptive / reference_camera_fixed: whether 1080p,
            ``ratio=adaptive`` and ``camera_fixed`` work in the reference scenario.
        camera_fixed / service_tier / seed / draft / priority / safety_identifier /
            omni_reference_task_type / output_format: whether the model takes the field.
        tools: the tools the model can use (``web_search``).
        media: the limits on reference videos and audio, or None without such references.
        provider_ids: the model's id per provider naming (``volcengine``, ``byteplus``,
            ``aimlapi``...): how a neutral name (``seedance-2.0-fast``) is sent.
        retired: per provider naming, a retirement with the named replacement.
        generation: 1 for Seedance 1.x, 2 for 2.x.
    """

    family: str
    model_ids: tuple[str, ...]
    text_to_video: bool
    first_frame: bool
    first_last_frame: bool
    reference_images: bool
    audio: bool
    resolutions: frozenset[Resolution]
    default_resolution: Resolution
    min_duration: int
    max_duration: int
    auto_duration: bool
    frames: bool
    adaptive_text_to_video: bool
    max_reference_images: int
    image_formats: frozenset[str]
    ratios: frozenset[Ratio]
    submit_rpm: int
    max_running: int
    max_reference_videos: int = 0
    max_reference_audios: int = 0
    audio_only_references: bool = False
    reference_1080p: bool = False
    reference_adaptive: bool = False
    reference_camera_fixed: bool = False
    camera_fixed: bool = True
    service_tier: bool = True
    seed: bool = True
    draft: bool = False
    priority: bool = False
    safety_identifier: bool = False
    omni_reference_task_type: bool = False
    output_format: bool = False
    tools: frozenset[str] = frozenset()
    media: MediaLimits | None = None
    provider_ids: Mapping[str, str] = attrs.field(factory=dict)
    retired: Mapping[str, Retirement] = attrs.field(factory=dict)
    generation: int = 1

    def id_for(self, naming: str) -> str | None:
        """The model's id under a provider naming (``byteplus``...), or None if it has none.

        A naming with a fallback in ``[ids.naming_fallback]`` (GPTProto uses Volcengine's ids
        unless a family says otherwise) falls back to it.
        """
        seen: set[str] = set()
        fallbacks = model_catalog().ids.naming_fallback
        current: str | None = naming
        while current is not None and current not in seen:
            found = self.provider_ids.get(current)
            if found is not None:
                return found
            seen.add(current)
            current = fallbacks.get(current)
        return None


@attrs.frozen(kw_only=True)
class UniversalRules:
    """The numbers behind the rules every task obeys, whatever its model.

    Bounds named ``_excl`` are exclusive; the others inclusive. ``expires_default`` is the
    provider's ``execution_expires_after`` when the field is not sent.
    """

    prompt_max_words: int
    prompt_max_cjk_chars: int
    seed_min: int
    seed_max: int
    frames_min: int
    frames_max: int
    expires_min: int
    expires_max: int
    expires_default: int
    max_reference_images: int
    max_reference_videos: int
    max_reference_audios: int
    priority_min: int
    priority_max: int
    safety_identifier_max_chars: int
    image_max_bytes: int
    request_max_bytes: int
    image_side_min_excl: int
    image_side_max_excl: int
    image_aspect_min_excl: float
    image_aspect_max_excl: float
    image_formats: frozenset[str]


@attrs.frozen(kw_only=True)
class IdSpellings:
    """How provider spellings of a model id map to family names."""

    strip_prefixes: tuple[str, ...]
    aliases: Mapping[str, str]
    neutral: Mapping[str, str] = attrs.field(factory=dict)
    naming_fallback: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class DefaultLimits:
    """An account's default creates per minute and running tasks for one model."""

    submit_rpm: int
    max_running: int


@attrs.frozen(kw_only=True)
class _SeedanceFile:
    rules: UniversalRules
    ids: IdSpellings
    unknown_model: DefaultLimits
    family_defaults: Mapping[str, Any]
    families: Mapping[str, Mapping[str, Any]]
    media: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ModelCatalog:
    """Everything ``catalog/seedance.toml`` says, loaded and checked."""

    rules: UniversalRules
    ids: IdSpellings
    unknown_model: DefaultLimits
    families: tuple[ModelCapabilities, ...]
    _by_family: Mapping[str, ModelCapabilities] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_by_family", {m.family: m for m in self.families})

    def family(self, name: str) -> ModelCapabilities | None:
        """The row of a normalised family name, or None."""
        return self._by_family.get(name)

    def limits_for(self, model: str) -> DefaultLimits:
        """The default account limits of a model id (unknown ids: the conservative pair)."""
        caps = model_capabilities(model)
        if caps is None:
            return self.unknown_model
        return DefaultLimits(submit_rpm=caps.submit_rpm, max_running=caps.max_running)


def load_model_catalog(data: Mapping[str, Any], *, where: str = f"catalog/{_FILE}") -> ModelCatalog:
    """A :class:`ModelCatalog` from parsed TOML in the shape of ``catalog/seedance.toml``.

    Each ``[families.<name>]`` table is laid over ``[family_defaults]``.

    Raises:
        ConfigurationError: a missing, unknown or mistyped field, named by its path.
    """
    converter = strict_converter()
    parsed = structure_strictly(converter, data, _SeedanceFile, where=where)
    families = []
    for name, table in parsed.families.items():
        merged = {**parsed.family_defaults, **table, "family": name}
        profile = merged.get("media")
        if profile is not None:
            # A family names its media profile; the profile's table is what it loads.
            if not isinstance(profile, str) or profile not in parsed.media:
                known = ", ".join(sorted(parsed.media)) or "none"
                raise ConfigurationError(
                    f"{where}: $.families.{name}.media names no [media.*] table "
                    f"(got {profile!r}; known: {known})"
                )
            merged["media"] = parsed.media[profile]
        families.append(
            structure_strictly(
                converter, merged, ModelCapabilities, where=where, path=f"$.families.{name}"
            )
        )
    return ModelCatalog(
        rules=parsed.rules,
        ids=parsed.ids,
        unknown_model=parsed.unknown_model,
        families=tuple(families),
    )


_OVERLAY_ENV = "SEEDANCE_MODEL_CATALOG"
_overlay: tuple[Mapping[str, Any], str] | None = None


def _lay_over(base: Mapping[str, Any], top: Mapping[str, Any], depth: int) -> dict[str, Any]:
    # Tables merge key by key down to ``depth`` levels; anything else is replaced.
    out = dict(base)
    for key, value in top.items():
        below = out.get(key)
        if depth > 0 and isinstance(value, Mapping) and isinstance(below, Mapping):
            out[key] = _lay_over(below, value, depth - 1)
        else:
            out[key] = value
    return out


def override_model_catalog(source: str | os.PathLike[str] | Mapping[str, Any] | None) -> None:
    """Lay your own model facts over the shipped ``catalog/seedance.toml``, for this process.

    ``source`` is a TOML file (or its parsed mapping) in the same shape: a key you set in
    ``[rules]``, ``[family_defaults]``, ``[families.<name>]``, ``[media.<name>]`` or
    ``[ids.*]`` replaces the shipped one, and a new ``[families.<name>]`` adds a model.
    Use it where the providers' documents disagree (``seed`` on 2.x, the media caps, a
    model's resolutions) or for a model newer than this release. None restores the shipped
    catalog. The environment variable ``SEEDANCE_MODEL_CATALOG`` names such a file for
    every process (the CLI and its workers included).

    Raises:
        ConfigurationError: the file cannot be read, or the result is malformed (named by
            its path); the catalog in use is then unchanged.
    """
    global _overlay
    previous = _overlay
    if source is None:
        _overlay = None
    elif isinstance(source, Mapping):
        _overlay = (source, "model catalog overlay")
    else:
        _overlay = (_read_overlay(source), os.fspath(source))
    _forget()
    try:
        model_catalog()
    except ConfigurationError:
        _overlay = previous
        _forget()
        raise


def _read_overlay(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(
            f"{os.fspath(path)}: cannot read the model catalog ({exc})"
        ) from None


def _forget() -> None:
    model_catalog.cache_clear()
    normalise_model_id.cache_clear()
    model_capabilities.cache_clear()


@functools.cache
def model_catalog() -> ModelCatalog:
    """The model catalog, read once: the shipped file, with any overlay laid over it.

    Raises:
        ConfigurationError: the shipped file is missing or malformed (a broken install), or
            an overlay makes it malformed.
    """
    data: Mapping[str, Any] = read_catalog(_FILE)
    overlay = _overlay
    if overlay is None and os.environ.get(_OVERLAY_ENV):
        path = os.environ[_OVERLAY_ENV]
        overlay = (_read_overlay(path), path)
    if overlay is None:
        return load_model_catalog(data)
    top, where = overlay
    return load_model_catalog(_lay_over(data, top, 2), where=f"catalog/{_FILE} + {where}")


def universal_rules() -> UniversalRules:
    """The rules every task obeys, from the shipped catalog."""
    return model_catalog().rules


class _Models(Sequence[ModelCapabilities]):
    """The family rows, read from the catalog on first use (a tuple-like view)."""

    @overload
    def __getitem__(self, index: int) -> ModelCapabilities: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[ModelCapabilities]: ...
    def __getitem__(self, index: int | slice) -> ModelCapabilities | Sequence[ModelCapabilities]:
        return model_catalog().families[index]

    def __len__(self) -> int:
        return len(model_catalog().families)

    def __iter__(self) -> Iterator[ModelCapabilities]:
        return iter(model_catalog().families)

    def __repr__(self) -> str:
        return repr(model_catalog().families)


MODELS: Sequence[ModelCapabilities] = _Models()
"""Every known model family, in the catalog's order."""

_DATE_SUFFIX = re.compile(r"-\d{6}$")


@functools.lru_cache(maxsize=1024)
def normalise_model_id(model: str) -> str:
    """The family name of a model id in any provider's spelling.

    ``doubao-seedance-1-0-pro-250528``, ``seedance-1-0-pro-250528`` and
    ``bytedance/seedance-1-0-pro-t2v`` all give ``seedance-1-0-pro``.
    """
    ids = model_catalog().ids
    name = model.strip().lower()
    for prefix in ids.strip_prefixes:
        name = name.removeprefix(prefix)
    name = _DATE_SUFFIX.sub("", name)
    return ids.aliases.get(name) or ids.neutral.get(name) or name


def is_neutral_model(model: str) -> bool:
    """True for a provider-neutral name: a family (``seedance-2-0-fast``) or a name of
    ``[ids.neutral]`` (``seedance-2.0-fast``). Each provider alias sends its own id for it."""
    catalog = model_catalog()
    name = model.strip().lower()
    return name in catalog.ids.neutral or catalog.family(name) is not None


class RetiredModelWarning(FutureWarning):
    """The provider has announced the model's retirement; the message names the replacement."""


def model_for_provider(model: str, naming: str) -> tuple[str, str | None]:
    """(the id to send, a problem) for a task's model on a provider with ``naming``.

    A provider-neutral name (``seedance-2.0-fast``, ``seedance-2-0-fast``) becomes the
    family's id under ``naming`` (``volcengine``, ``byteplus``, ``aimlapi``...); any other
    id is sent as written. The problem names a retired model and its replacement, or a
    neutral name the provider has no id for.
    """
    caps = model_capabilities(model)
    if caps is None:
        return model, None
    retirement = caps.retired.get(naming)
    if retirement is not None and retirement.status == "retired":
        return model, (
            f"model {caps.family} was retired on {naming} on {retirement.on}; "
            f"use {retirement.replacement}"
        )
    if not is_neutral_model(model):
        return model, None
    wire = caps.id_for(naming)
    if wire is None:
        return model, f"model {caps.family} has no {naming} id (name it by the provider's own id)"
    return wire, None


def model_deprecation(model: str, naming: str) -> str | None:
    """The notice for a model the provider has announced it will retire, or None."""
    caps = model_capabilities(model)
    retirement = None if caps is None else caps.retired.get(naming)
    if caps is None or retirement is None or retirement.status != "deprecated":
        return None
    return (
        f"model {caps.family} is deprecated on {naming} and stops on {retirement.on}; "
        f"use {retirement.replacement}"
    )


@functools.lru_cache(maxsize=1024)
def model_capabilities(model: str) -> ModelCapabilities | None:
    """The capability row of a model id, or None for a model this table does not know."""
    return model_catalog().family(normalise_model_id(model))
