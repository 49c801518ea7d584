"""What a task will cost before it is sent, and what a finished one cost.

Seedance bills a video by its output tokens, ``width x height x fps x seconds / 1024``, and
only when it succeeds. The pixel size follows from the model generation, the resolution and
the ratio; the seconds from ``duration`` or ``frames``. On 2.x, reference videos add their
seconds at the output's size, and a task with video input has its own unit price. A draft
renders at 480p. Where the spec leaves a choice to the model (``duration = -1``,
``ratio = "adaptive"``, reference clips whose length is not known here), the estimate is a
range over what the model may choose, never a guess. Prices come from ``catalog/pricing.toml`` (per provider alias, per
model family, per tier and sound), which users override with their own file: a family or alias
without a price is ``unknown`` — never 0.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from pathlib import Path

import attrs

from seedance_async.core._errors import ConfigurationError
from seedance_async.core._strict_data import read_catalog, strict_converter, structure_strictly
from seedance_async.spec._catalog import model_capabilities, normalise_model_id
from seedance_async.spec._status import Usage
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import ServiceTier

__all__ = [
    "CostEstimate",
    "ModelPrice",
    "PriceTable",
    "ResolutionPrice",
    "estimate_cost",
    "estimate_tokens",
    "load_price_table",
    "price_table",
    "usage_cost",
]

_FILE = "pricing.toml"
_DEFAULT_DURATION = 5  # seconds, every 1.x family's default when neither duration nor frames
_DRAFT_RESOLUTION = "480p"  # a draft renders at 480p (1.5 pro and 2.5)
_FALLBACK_RATIO = "16:9"  # text-to-video's default ratio on every 1.x family


@attrs.frozen(kw_only=True)
class ResolutionPrice:
    """Prices per 1M output tokens at one resolution (2.x prices differ by resolution)."""

    online: float | None = None
    with_video_input: float | None = None


@attrs.frozen(kw_only=True)
class ModelPrice:
    """Prices per 1M output tokens of one model family on one alias (None = unknown).

    ``with_video_input`` applies to a task with reference videos (2.x); ``draft`` to a draft
    task. A family priced by resolution lists every priced resolution in ``resolutions``:
    one missing there is unknown.
    """

    online: float | None = None
    flex: float | None = None
    online_silent: float | None = None
    flex_silent: float | None = None
    with_video_input: float | None = None
    draft: float | None = None
    resolutions: Mapping[str, ResolutionPrice] = attrs.field(factory=dict)

    def per_million(
        self,
        *,
        flex: bool,
        sound: bool,
        resolution: str | None = None,
        video_input: bool = False,
        draft: bool = False,
    ) -> float | None:
        """The price that applies to a tier, a sound setting, a resolution, video input and
        a draft (None when any of them is unpriced)."""
        if draft:
            return self.draft
        if self.resolutions:
            tier = self.resolutions.get(resolution or "")
            if tier is None or flex:
                return None
            return tier.with_video_input if video_input else tier.online
        if video_input:
            return self.with_video_input
        if flex:
            return self.flex if sound else (self.flex_silent or self.flex)
        return self.online if sound else (self.online_silent or self.online)


@attrs.frozen(kw_only=True)
class AliasPrices:
    """One alias's price list: a currency, when it was read, where from, and the models."""

    currency: str
    as_of: str
    source: str
    models: Mapping[str, ModelPrice] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class PriceTable:
    """Output sizes and prices: the shipped table, or a user's file laid over it."""

    fps: int
    sizes: Mapping[str, Mapping[str, Mapping[str, tuple[int, int]]]]
    size_sets: Mapping[str, str]
    prices: Mapping[str, AliasPrices] = attrs.field(factory=dict)

    def size_table(self, model: str) -> Mapping[str, Mapping[str, tuple[int, int]]] | None:
        """Resolution → ratio → (width, height) for a model id, or None when unknown."""
        name = self.size_sets.get(normalise_model_id(model))
        return None if name is None else self.sizes.get(name)

    def price(self, alias: str, model: str) -> tuple[AliasPrices, ModelPrice] | None:
        """The price list and model row for ``alias`` and ``model``, or None when unpriced."""
        table = self.prices.get(alias)
        row = None if table is None else table.models.get(normalise_model_id(model))
        return None if table is None or row is None else (table, row)


@attrs.frozen(kw_only=True)
class CostEstimate:
    """Tokens and money of one task, as a range when the model chooses part of the output.

    ``low``/``high`` are in ``currency``; all three are None when the task is unpriced
    (``reason`` says why). Tokens are None when the model's output size is unknown.
    """

    tokens_low: int | None
    tokens_high: int | None
    low: float | None = None
    high: float | None = None
    currency: str | None = None
    reason: str | None = None

    @property
    def priced(self) -> bool:
        """True when a money figure is known."""
        return self.high is not None


def _seconds(task: VideoTask, fps: int) -> tuple[float, float] | None:
    if task.frames is not None:
        return (task.frames / fps, task.frames / fps)
    if task.duration == -1:
        caps = model_capabilities(task.model)
        if caps is None:
            return None
        return (float(caps.min_duration), float(caps.max_duration))
    seconds = float(task.duration if task.duration is not None else _DEFAULT_DURATION)
    return (seconds, seconds)


def _input_seconds(task: VideoTask) -> tuple[float, float]:
    """(fewest, most) seconds of reference video a task sends (2.x bills them too).

    The clips' own lengths are not read here: each is at least the catalog's minimum, and
    all together at most its total.
    """
    if not task.videos:
        return (0.0, 0.0)
    caps = model_capabilities(task.model)
    media = caps.media if caps is not None else None
    if media is None:
        return (0.0, 0.0)
    return (len(task.videos) * media.video_min_seconds, media.video_total_seconds)


def _resolution(task: VideoTask, default: str) -> str:
    if task.draft:
        return _DRAFT_RESOLUTION
    return (task.resolution.value if task.resolution else None) or default


def estimate_tokens(task: VideoTask, table: PriceTable | None = None) -> tuple[int, int] | None:
    """(fewest, most) tokens the task can bill, or None for an unknown model.

    Output seconds, plus on 2.x the seconds of reference video, at the output's size.

    Args:
        task: the spec.
        table: sizes and fps; the shipped table by default.
    """
    table = table or price_table()
    sizes = table.size_table(task.model)
    caps = model_capabilities(task.model)
    seconds = _seconds(task, table.fps)
    if sizes is None or caps is None or seconds is None:
        return None
    extra = _input_seconds(task)
    seconds = (seconds[0] + extra[0], seconds[1] + extra[1])
    resolution = _resolution(task, caps.default_resolution)
    by_ratio = sizes.get(resolution)
    if by_ratio is None:
        return None
    ratio = task.ratio.value if task.ratio else None
    if ratio is not None and ratio in by_ratio:
        pixels = [by_ratio[ratio][0] * by_ratio[ratio][1]]
    elif ratio is None and not task.images:
        pixels = [by_ratio[_FALLBACK_RATIO][0] * by_ratio[_FALLBACK_RATIO][1]]
    else:
        # adaptive / keep_ratio / an image's own ratio: any of the model's sizes.
        pixels = [w * h for w, h in by_ratio.values()]
    low = int(min(pixels) * table.fps * seconds[0] / 1024)
    high = int(max(pixels) * table.fps * seconds[1] / 1024)
    return (low, high)


def _unit_price(task: VideoTask, row: ModelPrice) -> float | None:
    caps = model_capabilities(task.model)
    return row.per_million(
        flex=task.service_tier is ServiceTier.FLEX,
        sound=_sound(task),
        resolution=_resolution(task, caps.default_resolution if caps else ""),
        video_input=bool(task.videos),
        draft=bool(task.draft),
    )


def _sound(task: VideoTask) -> bool:
    caps = model_capabilities(task.model)
    return bool(caps is not None and caps.audio and task.generate_audio is not False)


def estimate_cost(task: VideoTask, alias: str, table: PriceTable | None = None) -> CostEstimate:
    """What ``task`` will cost on provider alias ``alias`` if it succeeds.

    Args:
        task: the spec.
        alias: the provider alias that will run it (prices differ per provider and contract).
        table: the price table; the shipped one by default.
    """
    table = table or price_table()
    tokens = estimate_tokens(task, table)
    if tokens is None:
        return CostEstimate(
            tokens_low=None, tokens_high=None, reason=f"output size of {task.model!r} unknown"
        )
    found = table.price(alias, task.model)
    if found is None:
        return CostEstimate(
            tokens_low=tokens[0],
            tokens_high=tokens[1],
            reason=f"no price for {normalise_model_id(task.model)} on {alias!r}",
        )
    prices, row = found
    per_million = _unit_price(task, row)
    if per_million is None:
        return CostEstimate(
            tokens_low=tokens[0],
            tokens_high=tokens[1],
            reason=f"no price for {_variant(task)} {normalise_model_id(task.model)} on {alias!r}",
        )
    return CostEstimate(
        tokens_low=tokens[0],
        tokens_high=tokens[1],
        low=tokens[0] * per_million / 1_000_000,
        high=tokens[1] * per_million / 1_000_000,
        currency=prices.currency,
    )


def _variant(task: VideoTask) -> str:
    """The price variant of a task in words: 'online 720p', 'flex', 'draft', 'with video input'."""
    if task.draft:
        return "a draft of"
    caps = model_capabilities(task.model)
    words = [
        str(task.service_tier or "online"),
        _resolution(task, caps.default_resolution if caps else ""),
    ]
    if task.videos:
        words.append("with video input,")
    return " ".join(w for w in words if w)


def usage_cost(
    task: VideoTask, alias: str, usage: Usage | None, table: PriceTable | None = None
) -> tuple[float, str] | None:
    """(amount, currency) a finished task cost by the tokens the provider reported.

    A cost the provider reported itself (AI/ML API's ``usd_spent``) wins over the price table.
    None when the provider reported neither cost nor tokens, or the alias/model is unpriced:
    unknown, not 0.
    """
    if usage is not None and usage.cost_usd is not None:
        return (usage.cost_usd, "USD")
    if usage is None or usage.completion_tokens is None:
        return None
    table = table or price_table()
    found = table.price(alias, task.model)
    if found is None:
        return None
    prices, row = found
    per_million = _unit_price(task, row)
    if per_million is None:
        return None
    return (usage.completion_tokens * per_million / 1_000_000, prices.currency)


@attrs.frozen(kw_only=True)
class _PricingFile:
    fps: int
    sizes: dict[str, dict[str, dict[str, tuple[int, int]]]]
    size_sets: dict[str, str]
    prices: dict[str, AliasPrices] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class _OverrideFile:
    prices: dict[str, AliasPrices] = attrs.field(factory=dict)


def _parse(data: Mapping[str, object], where: str) -> PriceTable:
    parsed = structure_strictly(strict_converter(), data, _PricingFile, where=where)
    return PriceTable(
        fps=parsed.fps, sizes=parsed.sizes, size_sets=parsed.size_sets, prices=parsed.prices
    )


@functools.cache
def price_table() -> PriceTable:
    """The shipped sizes and prices, read once.

    Raises:
        ConfigurationError: the shipped file is malformed (a broken install).
    """
    return _parse(read_catalog(_FILE), f"catalog/{_FILE}")


def load_price_table(path: str | Path) -> PriceTable:
    """The shipped table with a user's ``[prices.<alias>]`` tables laid over it.

    A user's alias table replaces the shipped one of the same alias as a whole, so a
    contract price never mixes with list prices.

    Raises:
        ConfigurationError: the file cannot be read, is not TOML, or has an unknown or
            mistyped field (named by its path).
    """
    where = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"{where}: cannot read the price file ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{where}: not valid TOML ({exc})") from None
    override = structure_strictly(strict_converter(), data, _OverrideFile, where=where)
    base = price_table()
    return attrs.evolve(base, prices={**base.prices, **override.prices})
