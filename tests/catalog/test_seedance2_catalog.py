"""Seedance 2.x in the catalog: every provider's id names one capability record, neutral
names become each alias's own id, and retired models are refused with their replacement."""

from __future__ import annotations

from typing import Any

import pytest

from seedance_async import BUILTIN_PROVIDERS
from seedance_async.providers import create_adapter
from seedance_async.providers.ark import ArkAdapter
from seedance_async.providers.gptproto import GptProtoAdapter
from seedance_async.spec import MODELS, Resolution, model_capabilities
from seedance_async.spec._catalog import is_neutral_model, model_for_provider
from seedance_async.spec._task import VideoTask


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("doubao-seedance-2-0-260128", "seedance-2-0"),
        ("dreamina-seedance-2-0-260128", "seedance-2-0"),
        ("seedance-2-0-260128", "seedance-2-0"),  # the BytePlus console's spelling
        ("bytedance/seedance-2-0", "seedance-2-0"),
        ("doubao-seedance-2-0-fast-260128", "seedance-2-0-fast"),
        ("dreamina-seedance-2-0-fast-260128", "seedance-2-0-fast"),
        ("bytedance/seedance-2-0-fast", "seedance-2-0-fast"),
        ("doubao-seedance-2-0-mini-260615", "seedance-2-0-mini"),
        ("dreamina-seedance-2-0-mini", "seedance-2-0-mini"),
        ("bytedance/dreamina-seedance-2-0-mini", "seedance-2-0-mini"),
        ("dreamina-seedance-2-5-260628", "seedance-2-5"),
        ("bytedance/seedance-2-5", "seedance-2-5"),
        ("bytedance/dreamina-seedance-2-5", "seedance-2-5"),
        ("dreamina-seedance-2-5-premium-260915", "seedance-2-5-premium"),
        ("seedance-2.0-fast", "seedance-2-0-fast"),
        ("Seedance-2.5", "seedance-2-5"),
    ],
)
def test_every_2x_id_names_one_record(model: str, family: str) -> None:
    caps = model_capabilities(model)
    assert caps is not None
    assert caps.family == family
    assert caps.generation == 2


def test_2x_records_are_complete() -> None:
    families = {m.family: m for m in MODELS if m.generation == 2}
    assert set(families) == {
        "seedance-2-0",
        "seedance-2-0-fast",
        "seedance-2-0-mini",
        "seedance-2-5",
        "seedance-2-5-premium",
    }
    for caps in families.values():
        assert caps.media is not None, caps.family
        assert not (caps.frames)
        assert not (caps.camera_fixed)
        assert not (caps.service_tier)
        assert not (caps.seed)
    assert Resolution.P4K in families["seedance-2-0"].resolutions
    assert Resolution.P4K not in families["seedance-2-0-fast"].resolutions
    assert families["seedance-2-5"].media is not None
    assert families["seedance-2-5"].media.video_max_seconds == 30


def test_neutral_names() -> None:
    assert is_neutral_model("seedance-2.0-fast")
    assert is_neutral_model("seedance-2-0-fast")
    assert not is_neutral_model("doubao-seedance-2-0-fast-260128")
    assert model_for_provider("doubao-seedance-2-0-fast-260128", "byteplus") == (
        "doubao-seedance-2-0-fast-260128",
        None,
    )


@pytest.mark.parametrize(
    ("alias", "model", "sent"),
    [
        ("ark", "seedance-2.0-fast", "doubao-seedance-2-0-fast-260128"),
        ("byteplus", "seedance-2.0-fast", "dreamina-seedance-2-0-fast-260128"),
        ("byteplus", "seedance-1.0-pro", "seedance-1-0-pro-250528"),
        ("gptproto", "seedance-2.0", "dreamina-seedance-2-0-260128"),
        ("gptproto", "seedance-2.0-fast", "doubao-seedance-2-0-fast-260128"),
        ("chainhub", "seedance-2-0", "doubao-seedance-2-0-260128"),
    ],
)
def test_each_alias_sends_its_own_id_for_a_neutral_name(alias: str, model: str, sent: str) -> None:
    config = BUILTIN_PROVIDERS[alias]
    adapter = create_adapter(config.adapter, **config.options)
    task = VideoTask(model=model, prompt="a corgi")
    assert adapter.check(task) == []
    assert adapter.build_submit(task).json["model"] == sent


def test_a_neutral_name_without_an_id_on_the_host_is_refused() -> None:
    task = VideoTask(model="seedance-2.5-premium", prompt="a corgi")
    violations = ArkAdapter().check(task)
    assert [v.field for v in violations] == ["model"]
    assert "no volcengine id" in violations[0].rule
    assert ArkAdapter(model_naming="byteplus").check(task) == []


def test_retired_models_are_refused_with_their_replacement() -> None:
    task = VideoTask(model="seedance-1-5-pro-251215", prompt="a corgi")
    byteplus = ArkAdapter(name="byteplus", model_naming="byteplus")
    violations = byteplus.check(task)
    assert [v.field for v in violations] == ["model"]
    assert violations[0].rule == (
        "provider byteplus: model seedance-1-5-pro was retired on byteplus on 2026-11-11; "
        "use seedance-2-0-mini"
    )
    assert ArkAdapter().check(task) == []  # still served on Volcengine
    assert GptProtoAdapter().check(task) == []


# -- the overlay: disputed facts and new models without a release ------------------------------


def test_an_overlay_changes_a_disputed_fact_and_adds_a_model() -> None:
    from seedance_async import InvalidTaskSpec
    from seedance_async.spec import override_model_catalog

    with pytest.raises(InvalidTaskSpec):
        VideoTask(model="doubao-seedance-2-0-260128", prompt="p", seed=7)
    overlay = {
        "families": {
            "seedance-2-0": {"seed": True},
            "seedance-3-0": {
                "model_ids": ["doubao-seedance-3-0-270101"],
                "text_to_video": True,
                "first_frame": True,
                "first_last_frame": True,
                "reference_images": False,
                "audio": True,
                "resolutions": ["720p"],
                "default_resolution": "720p",
            },
        },
        "media": {"seedance-2-0": {"video_max_seconds": 20.0}},
    }
    try:
        override_model_catalog(overlay)
        assert VideoTask(model="doubao-seedance-2-0-260128", prompt="p", seed=7).seed == 7
        caps = model_capabilities("doubao-seedance-3-0-270101")
        assert caps is not None
        assert caps.resolutions == frozenset({Resolution.P720})
        media = model_capabilities("seedance-2-0")
        assert media is not None
        assert media.media is not None
        assert media.media.video_max_seconds == 20
        assert media.media.video_total_seconds == 15  # the rest of the table is kept
    finally:
        override_model_catalog(None)
    with pytest.raises(InvalidTaskSpec):
        VideoTask(model="doubao-seedance-2-0-260128", prompt="p", seed=7)
    assert model_capabilities("doubao-seedance-3-0-270101") is None


def test_a_malformed_overlay_is_refused_and_changes_nothing(tmp_path: Any) -> None:
    from seedance_async import ConfigurationError
    from seedance_async.spec import override_model_catalog

    bad = tmp_path / "models.toml"
    bad.write_text('[families.seedance-2-0]\nseed = "yes"\n')
    with pytest.raises(ConfigurationError, match=r"seed"):
        override_model_catalog(bad)
    caps = model_capabilities("seedance-2-0")
    assert caps is not None
    assert not caps.seed
    with pytest.raises(ConfigurationError, match="cannot read"):
        override_model_catalog(tmp_path / "missing.toml")


def test_an_announced_retirement_warns_and_still_sends() -> None:
    from seedance_async.spec import RetiredModelWarning, override_model_catalog

    overlay = {
        "families": {
            "seedance-2-0-fast": {
                "retired": {
                    "byteplus": {
                        "status": "deprecated",
                        "on": "2027-03-01",
                        "replacement": "seedance-2-0-mini",
                    }
                }
            }
        }
    }
    task = VideoTask(model="seedance-2.0-fast", prompt="a corgi")
    byteplus = ArkAdapter(name="byteplus", model_naming="byteplus")
    try:
        override_model_catalog(overlay)
        with pytest.warns(RetiredModelWarning, match="stops on 2027-03-01; use seedance-2-0-mini"):
            assert byteplus.check(task) == []
        assert ArkAdapter().check(task) == []  # Volcengine announced nothing
    finally:
        override_model_catalog(None)
