"""The shipped catalog data says exactly what the Python tables said before it replaced them.

These literals are a snapshot of the tables as they were written in code; the data files in
``seedance_async/catalog/`` must load to the same values, so moving the facts to data changed
no behaviour. Change a literal here only together with the data file and a reason.
"""

from __future__ import annotations

import attrs

from seedance_async import BUILTIN_PROVIDERS
from seedance_async.config import ProviderConfig
from seedance_async.providers.aimlapi import AimlApiAdapter
from seedance_async.providers.ark import ArkAdapter
from seedance_async.providers.gptproto import GptProtoAdapter
from seedance_async.providers.unified import UnifiedAdapter
from seedance_async.spec import MODELS, ModelCapabilities, Ratio, Resolution
from seedance_async.spec._catalog import normalise_model_id

R = Ratio
ARK_RATIOS = frozenset({R.R16_9, R.R4_3, R.R1_1, R.R3_4, R.R9_16, R.R21_9, R.ADAPTIVE})
ALL_RES = frozenset({Resolution.P480, Resolution.P720, Resolution.P1080})
FORMATS = frozenset({"jpeg", "png", "webp", "bmp", "tiff", "gif"})
P720, P1080 = Resolution.P720, Resolution.P1080

EXPECTED_MODELS = (
    ModelCapabilities(
        family="seedance-1-0-lite-t2v",
        model_ids=("doubao-seedance-1-0-lite-t2v-250428",),
        text_to_video=True,
        first_frame=False,
        first_last_frame=False,
        reference_images=False,
        audio=False,
        resolutions=ALL_RES,
        default_resolution=P720,
        min_duration=2,
        max_duration=12,
        auto_duration=False,
        frames=True,
        adaptive_text_to_video=False,
        max_reference_images=0,
        image_formats=FORMATS,
        ratios=ARK_RATIOS,
        submit_rpm=300,
        max_running=5,
    ),
    ModelCapabilities(
        family="seedance-1-0-lite-i2v",
        model_ids=("doubao-seedance-1-0-lite-i2v-250428",),
        text_to_video=False,
        first_frame=True,
        first_last_frame=True,
        reference_images=True,
        audio=False,
        resolutions=ALL_RES,
        default_resolution=P720,
        min_duration=2,
        max_duration=12,
        auto_duration=False,
        frames=True,
        adaptive_text_to_video=False,
        max_reference_images=4,
        image_formats=FORMATS,
        ratios=ARK_RATIOS,
        submit_rpm=300,
        max_running=5,
    ),
    ModelCapabilities(
        family="seedance-1-0-pro",
        model_ids=("doubao-seedance-1-0-pro-250528",),
        text_to_video=True,
        first_frame=True,
        first_last_frame=True,
        reference_images=False,
        audio=False,
        resolutions=ALL_RES,
        default_resolution=P1080,
        min_duration=2,
        max_duration=12,
        auto_duration=False,
        frames=True,
        adaptive_text_to_video=False,
        max_reference_images=0,
        image_formats=FORMATS,
        ratios=ARK_RATIOS,
        submit_rpm=600,
        max_running=10,
    ),
    ModelCapabilities(
        family="seedance-1-0-pro-fast",
        model_ids=("doubao-seedance-1-0-pro-fast-251015",),
        text_to_video=True,
        first_frame=True,
        first_last_frame=False,
        reference_images=False,
        audio=False,
        resolutions=ALL_RES,
        default_resolution=P1080,
        min_duration=2,
        max_duration=12,
        auto_duration=False,
        frames=True,
        adaptive_text_to_video=False,
        max_reference_images=0,
        image_formats=FORMATS,
        ratios=ARK_RATIOS,
        submit_rpm=600,
        max_running=10,
    ),
    ModelCapabilities(
        family="seedance-1-5-pro",
        model_ids=("doubao-seedance-1-5-pro-251215",),
        text_to_video=True,
        first_frame=True,
        first_last_frame=True,
        reference_images=False,
        audio=True,
        resolutions=frozenset({Resolution.P480, P720}),
        default_resolution=P720,
        min_duration=4,
        max_duration=12,
        auto_duration=True,
        frames=False,
        adaptive_text_to_video=True,
        max_reference_images=0,
        image_formats=FORMATS | {"heic", "heif"},
        ratios=ARK_RATIOS,
        submit_rpm=600,
        max_running=10,
    ),
)


# The fields the 1.x snapshot was taken of; later fields (2.x) have their own tests.
_SNAPSHOT_FIELDS = tuple(
    name
    for name in attrs.fields_dict(ModelCapabilities)
    if name
    in [
        "family",
        "model_ids",
        "text_to_video",
        "first_frame",
        "first_last_frame",
        "reference_images",
        "audio",
        "resolutions",
        "default_resolution",
        "min_duration",
        "max_duration",
        "auto_duration",
        "frames",
        "adaptive_text_to_video",
        "max_reference_images",
        "image_formats",
        "ratios",
        "submit_rpm",
        "max_running",
    ]
)


def _snapshot(m: ModelCapabilities) -> dict[str, object]:
    return {name: getattr(m, name) for name in _SNAPSHOT_FIELDS}


def test_model_families_are_todays_table() -> None:
    """Every 1.x family row, field by field, in the same order (2.x rows follow them)."""
    assert len(_SNAPSHOT_FIELDS) == 19
    old = tuple(m for m in MODELS if m.generation == 1)
    assert tuple(MODELS)[: len(old)] == old
    assert [_snapshot(m) for m in old] == [_snapshot(m) for m in EXPECTED_MODELS]


def test_model_id_spellings_normalise_as_before() -> None:
    """Provider prefixes, date suffixes and AI/ML API's split 1.0 pro ids name the families."""
    assert normalise_model_id("doubao-seedance-1-0-pro-250528") == "seedance-1-0-pro"
    assert normalise_model_id("seedance-1-0-pro-250528") == "seedance-1-0-pro"
    assert normalise_model_id("bytedance/seedance-1-0-pro-t2v") == "seedance-1-0-pro"
    assert normalise_model_id("bytedance/seedance-1-0-pro-i2v") == "seedance-1-0-pro"
    assert normalise_model_id(" Doubao-Seedance-1-5-Pro-251215 ") == "seedance-1-5-pro"
    assert normalise_model_id("ep-20250101-abc") == "ep-20250101-abc"


EXPECTED_BUILTINS = {
    "ark": ProviderConfig(
        alias="ark",
        adapter="ark",
        base_url="https://ark.cn-beijing.volces.com/api/v3",
        key_env="ARK_API_KEY",
        submit_rpm=300,
        max_running=5,
    ),
    "byteplus": ProviderConfig(
        alias="byteplus",
        adapter="ark",
        base_url="https://ark.ap-southeast.bytepluses.com/api/v3",
        key_env="BYTEPLUS_API_KEY",
        submit_rpm=300,
        max_running=5,
        # Seedance 2.x: BytePlus's own model ids for neutral names, and its retirements.
        options={"model_naming": "byteplus"},
    ),
    "chainhub": ProviderConfig(
        alias="chainhub",
        adapter="ark",
        base_url="https://api.chainhub.tech",
        key_env="CHAINHUB_API_KEY",
        options={
            "tasks_path": "/volc/v1/contents/generations/tasks",
            "can_list": False,
            "can_cancel": False,
            "name": "chainhub",
        },
    ),
    "aimlapi": ProviderConfig(
        alias="aimlapi",
        adapter="aimlapi",
        base_url="https://api.aimlapi.com",
        key_env="AIML_API_KEY",
    ),
    "gptproto": ProviderConfig(
        alias="gptproto",
        adapter="gptproto",
        base_url="https://gptproto.com/api/v3",
        key_env="GPTPROTO_API_KEY",
    ),
}

_SAME_AS_BEFORE = (
    "alias",
    "adapter",
    "base_url",
    "key_env",
    "submit_rpm",
    "poll_rps",
    "max_running",
    "weight",
    "paid_5xx_safe",
    "resubmit_when_not_listed",
    "correlation_nonce",
    "reconcile_settle",
    "rate_headroom",
    "timeouts",
)


def test_builtin_aliases_are_todays_table() -> None:
    """Same aliases, hosts, key variables, limits and options as the Python table had."""
    assert list(BUILTIN_PROVIDERS) == list(EXPECTED_BUILTINS)
    for alias, expected in EXPECTED_BUILTINS.items():
        got = BUILTIN_PROVIDERS[alias]
        for name in _SAME_AS_BEFORE:
            assert getattr(got, name) == getattr(expected, name), (alias, name)
        assert dict(got.options) == dict(expected.options), alias


def test_adapter_wire_facts_are_todays() -> None:
    """Seed ranges, ratios, durations and prompt limits of each wire format, as before."""
    ark = ArkAdapter().capabilities
    assert (ark.seed_min, ark.seed_max, ark.ratios, ark.durations) == (
        -1,
        2**32 - 1,
        ARK_RATIOS,
        None,
    )
    assert ark.max_prompt_chars is None
    unified = UnifiedAdapter().capabilities
    assert (unified.seed_min, unified.seed_max) == (0, 2147483647)
    assert unified.durations == frozenset({5, 10})
    assert unified.ratios == ARK_RATIOS | {R.R9_21, R.KEEP_RATIO}
    assert unified.max_prompt_chars == 800
    aiml = AimlApiAdapter().capabilities
    assert (aiml.seed_min, aiml.seed_max) == (-1, 2**32 - 1)
    assert aiml.ratios == ARK_RATIOS | {R.R9_21}
    assert "service_tier" not in aiml.fields
    assert "seed" in aiml.fields
    gpt = GptProtoAdapter().capabilities
    assert (gpt.seed_min, gpt.seed_max, gpt.ratios) == (-1, 2**32 - 1, ARK_RATIOS)
    assert not {"return_last_frame", "service_tier", "execution_expires_after", "callback_url"} & (
        gpt.fields
    )


# family -> (text id, image id, ratios, durations, last frame, audio, camera field)
EXPECTED_AIMLAPI_ROUTES = {
    "seedance-1-0-lite-t2v": (
        "bytedance/seedance-1-0-lite-t2v",
        "bytedance/seedance-1-0-lite-t2v",
        (ARK_RATIOS - {R.ADAPTIVE}) | {R.R9_21},
        frozenset({5, 10}),
        False,
        False,
        "camerafixed",
    ),
    "seedance-1-0-lite-i2v": (
        "bytedance/seedance-1-0-lite-i2v",
        "bytedance/seedance-1-0-lite-i2v",
        frozenset(),
        frozenset({5, 10}),
        False,
        False,
        "camerafixed",
    ),
    "seedance-1-0-pro": (
        "bytedance/seedance-1-0-pro-t2v",
        "bytedance/seedance-1-0-pro-i2v",
        frozenset(),
        frozenset({5, 10}),
        True,
        False,
        "camerafixed",
    ),
    "seedance-1-0-pro-fast": (
        "bytedance/seedance-1-0-pro-fast",
        "bytedance/seedance-1-0-pro-fast",
        frozenset(),
        frozenset({5, 10}),
        True,
        False,
        "camerafixed",
    ),
    "seedance-1-5-pro": (
        "bytedance/seedance-1-5-pro",
        "bytedance/seedance-1-5-pro",
        ARK_RATIOS,
        frozenset(range(4, 13)),
        True,
        True,
        "camera_fixed",
    ),
}


def test_aimlapi_routes_are_todays_table() -> None:
    """AI/ML API's per-family ids and schema differences, as the Python table had them."""
    from seedance_async.providers.aimlapi import routes

    got = {
        family: (
            r.text_id,
            r.image_id,
            r.ratios,
            r.durations,
            r.last_frame,
            r.audio,
            r.camera_field,
        )
        for family, r in routes().items()
        if not family.startswith(
            "seedance-2"
        )  # 2.x routes: tests/providers/test_seedance2_bodies.py
    }
    assert got == EXPECTED_AIMLAPI_ROUTES


def test_universal_rules_are_todays_constants() -> None:
    """The rules every model shares (prompt, seed, frames, expiry, images, body)."""
    from seedance_async.spec._catalog import universal_rules

    r = universal_rules()
    got = {
        "prompt_max_words": r.prompt_max_words,
        "prompt_max_cjk_chars": r.prompt_max_cjk_chars,
        "seed": (r.seed_min, r.seed_max),
        "frames": (r.frames_min, r.frames_max),
        "expires": (r.expires_min, r.expires_max),
        "expires_default": r.expires_default,
        "max_reference_images": r.max_reference_images,
        "image_max_bytes": r.image_max_bytes,
        "request_max_bytes": r.request_max_bytes,
        "image_side": (r.image_side_min_excl, r.image_side_max_excl),
        "image_aspect": (r.image_aspect_min_excl, r.image_aspect_max_excl),
        "image_formats": r.image_formats,
    }
    assert got == {
        "prompt_max_words": 1000,
        "prompt_max_cjk_chars": 500,
        "seed": (-1, 2**32 - 1),
        "frames": (29, 289),
        "expires": (3600, 259200),
        "expires_default": 172800,
        "max_reference_images": 30,  # 2.5 takes 30; each family narrows it
        "image_max_bytes": 30 * 1024 * 1024,
        "request_max_bytes": 64 * 1024 * 1024,
        "image_side": (300, 6000),
        "image_aspect": (0.4, 2.5),
        "image_formats": FORMATS | {"heic", "heif"},
    }


def test_default_budgets_per_family_are_todays() -> None:
    """Volcengine's per-account defaults: pro 600/min and 10 running, lite and unknown 300/5."""
    from seedance_async.limits._key_limits import default_budget_for

    for model, rpm, running in (
        ("doubao-seedance-1-0-pro-250528", 600, 10),
        ("doubao-seedance-1-0-lite-t2v-250428", 300, 5),
        ("ep-20250101-abc", 300, 5),
    ):
        budget = default_budget_for(model)
        assert budget.submit_bucket.rate * 60 == rpm
        assert budget.slots.capacity == running
