"""What each Seedance model can do, and the rules every model shares: ``catalog/seedance.toml``.

The facts are data, shipped in the package and read on first use through the strict
converter (a malformed file fails loudly, naming the field). This module holds the shapes
they load into and the few lookups the rules need. BytePlus ids are the Volcengine ids
without ``doubao-``; AI/ML API ids (``bytedance/seedance-1-0-pro-t2v``) name the same
families.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import attrs

from seedance_async.core._strict_data import read_catalog, strict_converter, structure_strictly
from seedance_async.spec._vocab import Ratio, Resolution

__all__ = [
    "MODELS",
    "DefaultLimits",
    "ModelCapabilities",
    "ModelCatalog",
    "UniversalRules",
    "model_capabilities",
    "model_catalog",
    "normalise_model_id",
    "universal_rules",
]

_FILE = "seedance.toml"


@attrs.frozen(kw_only=True)
class ModelCapabilities:
    """The documented abilities and limits of one model family.

    Attributes:
        family: normalised family name, e.g. ``seedance-1-0-lite-i2v``.
        model_ids: the Volcengine ids of this family (BytePlus drops ``doubao-``).
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


@functools.cache
def model_catalog() -> ModelCatalog:
    """The shipped model catalog, read once.

    Raises:
        ConfigurationError: the shipped file is missing or malformed (a broken install).
    """
    return load_model_catalog(read_catalog(_FILE))


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
    return ids.aliases.get(name, name)


def model_capabilities(model: str) -> ModelCapabilities | None:
    """The capability row of a model id, or None for a model this table does not know."""
    return model_catalog().family(normalise_model_id(model))
