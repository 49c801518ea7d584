"""Cost estimates against hand-computed figures, and actual cost from reported usage."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from seedance_async import (
    ConfigurationError,
    Image,
    Outcome,
    TaskHandle,
    TaskResult,
    TaskState,
    TaskStatus,
    Video,
    VideoTask,
)
from seedance_async.spec import Usage, dump_result
from seedance_async.spec._cost import estimate_cost, estimate_tokens, load_price_table, usage_cost

PRO = "doubao-seedance-1-0-pro-250528"
PRO_FAST = "seedance-1-0-pro-fast-251015"
LITE_T2V = "doubao-seedance-1-0-lite-t2v-250428"
PRO_15 = "doubao-seedance-1-5-pro-251215"


def test_one_zero_pro_1080p_five_seconds() -> None:
    """1920 x 1088 x 24 fps x 5 s / 1024 = 244,800 tokens; at 2.5 USD/M = 0.612 USD."""
    task = VideoTask(model=PRO, prompt="x", resolution="1080p", ratio="16:9", duration=5)
    estimate = estimate_cost(task, "byteplus")
    assert (estimate.tokens_low, estimate.tokens_high) == (244_800, 244_800)
    assert estimate.low == estimate.high == pytest.approx(0.612)
    assert estimate.currency == "USD"


def test_defaults_are_the_models_own() -> None:
    """Unset resolution, ratio and duration take the model's defaults (1080p, 16:9, 5 s)."""
    assert estimate_tokens(VideoTask(model=PRO, prompt="x")) == (244_800, 244_800)


def test_frames_count_as_seconds_at_24_fps() -> None:
    """121 frames on 1.0 lite 720p 9:16: 704 x 1248 x 121 / 1024 = 103,818 tokens."""
    task = VideoTask(model=LITE_T2V, prompt="x", resolution="720p", ratio="9:16", frames=121)
    assert estimate_tokens(task) == (103_818, 103_818)


def test_flex_is_half_the_online_price() -> None:
    """service_tier flex on pro fast: 244,800 tokens at 0.5 USD/M."""
    task = VideoTask(
        model=PRO_FAST, prompt="x", resolution="1080p", duration=5, service_tier="flex"
    )
    assert estimate_cost(task, "byteplus").high == pytest.approx(0.1224)


@pytest.mark.parametrize(
    ("generate_audio", "tier", "usd"),
    [(None, None, 0.2592), (False, None, 0.1296), (True, "flex", 0.1296), (False, "flex", 0.0648)],
)
def test_one_five_pro_prices_sound_and_tier(
    generate_audio: bool | None, tier: str | None, usd: float
) -> None:
    """1.5 pro 720p 16:9 5 s = 1280 x 720 x 24 x 5 / 1024 = 108,000 tokens; sound costs double."""
    task = VideoTask(
        model=PRO_15,
        prompt="x",
        resolution="720p",
        ratio="16:9",
        duration=5,
        generate_audio=generate_audio,
        service_tier=tier,  # type: ignore[arg-type]
    )
    estimate = estimate_cost(task, "byteplus")
    assert estimate.tokens_high == 108_000
    assert estimate.high == pytest.approx(usd)


def test_a_duration_the_model_chooses_is_a_range() -> None:
    """duration -1 on 1.5 pro (4-12 s) at 720p 16:9: 86,400 to 259,200 tokens."""
    task = VideoTask(model=PRO_15, prompt="x", resolution="720p", ratio="16:9", duration=-1)
    estimate = estimate_cost(task, "byteplus")
    assert (estimate.tokens_low, estimate.tokens_high) == (86_400, 259_200)
    assert estimate.low == pytest.approx(86_400 * 2.4 / 1e6)
    assert estimate.high == pytest.approx(259_200 * 2.4 / 1e6)


def test_an_image_decides_the_ratio_so_the_estimate_spans_every_size() -> None:
    """With a first frame and no ratio, the output follows the image: a range over sizes."""
    task = VideoTask(
        model=PRO,
        prompt="x",
        resolution="480p",
        duration=5,
        images=[Image.from_url("https://example.com/a.png")],
    )
    # 480p sizes: 960 x 416 (21:9) is the smallest, 864 x 480 (16:9) the largest.
    assert estimate_tokens(task) == (960 * 416 * 120 // 1024, 864 * 480 * 120 // 1024)


def test_unpriced_alias_or_model_is_unknown_never_zero() -> None:
    """No price: tokens still estimated, money None with a reason."""
    task = VideoTask(model=LITE_T2V, prompt="x", duration=5)
    estimate = estimate_cost(task, "byteplus")
    assert not estimate.priced
    assert estimate.low is None
    assert estimate.tokens_high == 1248 * 704 * 120 // 1024  # 720p 16:9, 5 s
    assert "no price" in (estimate.reason or "")
    assert not estimate_cost(VideoTask(model=PRO, prompt="x"), "ark").priced


def test_actual_cost_from_reported_tokens() -> None:
    """Usage tokens times the alias's price; no usage is unknown, not 0."""
    task = VideoTask(model=PRO, prompt="x")
    amount, currency = usage_cost(task, "byteplus", Usage(completion_tokens=246_840)) or (0, "")
    assert amount == pytest.approx(0.6171)
    assert currency == "USD"
    assert usage_cost(task, "byteplus", None) is None
    assert usage_cost(task, "aimlapi", Usage(cost_usd=0.42)) == (0.42, "USD")
    assert usage_cost(task, "byteplus", Usage(credits=3.0)) is None


def test_a_user_price_file_overrides_an_alias(tmp_path: Path) -> None:
    """Contract prices replace the list for that alias, and price aliases the list lacks."""
    path = tmp_path / "prices.toml"
    path.write_text(
        '[prices.ark]\ncurrency = "CNY"\nas_of = "2026-12"\nsource = "our contract"\n'
        "[prices.ark.models.seedance-1-0-pro]\nonline = 15\n"
    )
    table = load_price_table(path)
    estimate = estimate_cost(VideoTask(model=PRO, prompt="x"), "ark", table)
    assert estimate.high == pytest.approx(244_800 * 15 / 1e6)
    assert estimate.currency == "CNY"
    assert estimate_cost(VideoTask(model=PRO, prompt="x"), "byteplus", table).priced


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            '[prices.ark]\ncurrency = "CNY"\nas_of = "x"\nsource = "y"\nmodels = 3\n',
            "$.prices['ark'].models",
        ),
        ('[prices.ark]\ncurency = "CNY"\n', "curency"),
        (
            '[prices.ark.models.seedance-1-0-pro]\nonline = "15"\n',
            "models['seedance-1-0-pro'].online",
        ),
    ],
)
def test_a_malformed_price_file_names_the_file_and_field(
    tmp_path: Path, text: str, where: str
) -> None:
    """A typo or a wrong type is a ConfigurationError with the file and the field path."""
    path = tmp_path / "prices.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=r"prices\.toml") as info:
        load_price_table(path)
    assert where in str(info.value)


def test_a_succeeded_result_knows_its_cost_and_a_failed_one_costs_nothing() -> None:
    """Only succeeded tasks are billed; the cost comes from the final attempt's usage."""
    task = VideoTask(model=PRO, prompt="x")
    handle = TaskHandle(
        provider="byteplus", adapter="ark", model=PRO, task_id="t", created_at=0.0, spec_hash="h"
    )
    status = TaskStatus(
        provider="ark",
        task_id="t",
        state=TaskState.SUCCEEDED,
        usage=Usage(completion_tokens=244_800),
    )
    ok = TaskResult(key="k", task=task, outcome=Outcome.SUCCEEDED, status=status, handle=handle)
    amount, currency = ok.cost or (0.0, "")
    assert amount == pytest.approx(0.612)
    assert currency == "USD"
    assert dump_result(ok)["cost"] == {"amount": pytest.approx(0.612), "currency": "USD"}
    failed = attrs.evolve(ok, outcome=Outcome.FAILED)
    assert failed.cost is None


# -- Seedance 2.x: prices by resolution and video input, reference seconds, drafts -----------

SD2 = "doubao-seedance-2-0-260128"
SD2_FAST = "doubao-seedance-2-0-fast-260128"


@pytest.mark.parametrize(
    ("model", "resolution", "seconds", "tokens", "usd"),
    [
        # 1280 x 720 x 24 x 5 / 1024 = 108,000 tokens at 7.0 USD/M (480p/720p tier)
        (SD2, None, 5, 108_000, 0.756),
        # 1920 x 1080 x 24 x 5 / 1024 = 243,000 tokens at 7.7 USD/M (1080p tier)
        (SD2, "1080p", 5, 243_000, 1.8711),
        # 864 x 496 x 24 x 4 / 1024 = 40,176 tokens at 5.6 USD/M
        (SD2_FAST, "480p", 4, 40_176, 0.2249856),
        # a provider-neutral name prices as its family
        ("seedance-2.0", "720p", 5, 108_000, 0.756),
    ],
)
def test_two_zero_is_priced_by_resolution(
    model: str, resolution: str | None, seconds: int, tokens: int, usd: float
) -> None:
    task = VideoTask(model=model, prompt="x", ratio="16:9", duration=seconds, resolution=resolution)  # type: ignore[arg-type]
    estimate = estimate_cost(task, "byteplus")
    assert (estimate.tokens_low, estimate.tokens_high) == (tokens, tokens)
    assert estimate.high == pytest.approx(usd)


def test_reference_video_seconds_are_billed_at_the_video_input_price() -> None:
    """720p 5 s plus one clip of 2-15 s: 21,600 tokens a second for 7 to 20 s, at 4.3 USD/M."""
    task = VideoTask(
        model=SD2,
        prompt="x",
        ratio="16:9",
        duration=5,
        videos=[Video.from_url("https://example.com/clip.mp4")],
    )
    estimate = estimate_cost(task, "byteplus")
    assert (estimate.tokens_low, estimate.tokens_high) == (151_200, 432_000)
    assert estimate.low == pytest.approx(0.65016)
    assert estimate.high == pytest.approx(1.8576)
    # BytePlus's own example: 411,300 tokens (19.04 s at 21,600 tokens a second)
    actual = usage_cost(task, "byteplus", Usage(completion_tokens=411_300))
    assert actual is not None
    assert actual[0] == pytest.approx(1.76859)
    assert actual[1] == "USD"


@pytest.mark.parametrize(
    ("task", "tokens", "reason"),
    [
        # 3840 x 2160 x 24 x 5 / 1024: the size is known, the 4k price is not
        (
            VideoTask(model=SD2, prompt="x", ratio="16:9", duration=5, resolution="4k"),
            972_000,
            "no price for online 4k seedance-2-0 on 'byteplus'",
        ),
        (
            VideoTask(model="doubao-seedance-2-0-mini-260615", prompt="x", duration=5),
            108_000,
            "no price for seedance-2-0-mini on 'byteplus'",
        ),
        # a draft renders at 480p (864 x 496 x 24 x 5 / 1024); its unit price is unpublished
        (
            VideoTask(model=PRO_15, prompt="x", ratio="16:9", duration=5, draft=True),
            50_220,
            "no price for a draft of seedance-1-5-pro on 'byteplus'",
        ),
        (
            VideoTask(model="doubao-seedance-2-5-260628", prompt="x", duration=5),
            None,
            "output size of 'doubao-seedance-2-5-260628' unknown",
        ),
    ],
)
def test_unpublished_two_x_figures_are_unknown_never_zero(
    task: VideoTask, tokens: int | None, reason: str
) -> None:
    estimate = estimate_cost(task, "byteplus")
    assert estimate.tokens_high == tokens
    assert (estimate.high, estimate.currency) == (None, None)
    assert estimate.reason == reason
