"""Properties of any valid Seedance 2.x spec (hypothesis): it survives the JSONL codec with
its hash, and the adapters that speak 2.x send exactly it, nothing of 1.x, nothing null."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, given, settings

from seedance_async.providers.aimlapi import UNIVERSAL_PATH, AimlApiAdapter
from seedance_async.providers.ark import ArkAdapter
from seedance_async.providers.gptproto import GptProtoAdapter
from seedance_async.spec import dump_task, load_task, task_hash
from seedance_async.spec._task import VideoTask
from tests.strategies import video_tasks_2x

SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow], max_examples=150)


def _nulls(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, Mapping):
        return any(_nulls(v) for v in value.values())
    if isinstance(value, list):
        return any(_nulls(v) for v in value)
    return False


@SETTINGS
@given(video_tasks_2x(with_metadata=True))
def test_codec_round_trip_keeps_the_spec_and_its_hash(task: VideoTask) -> None:
    line = json.loads(json.dumps(dump_task(task)))
    again = load_task(line)
    assert again == task
    assert task_hash(again) == task_hash(task)


@SETTINGS
@given(video_tasks_2x())
def test_ark_format_sends_the_spec_and_nothing_of_1x(task: VideoTask) -> None:
    for adapter in (
        ArkAdapter(model_naming="byteplus"),
        GptProtoAdapter(reference_media=True, undocumented_fields=True),
    ):
        if adapter.check(task):
            # A neutral name without an id under this naming (premium on Volcengine).
            assert [v.field for v in adapter.check(task)] == ["model"]
            continue
        body = adapter.build_submit(task).json
        assert body is not None
        # extra is passed as written, nulls included; everything the library writes has none.
        assert not _nulls({k: v for k, v in body.items() if k not in task.extra})
        assert not {"frames", "camera_fixed", "service_tier", "seed"} & set(body)
        kinds = [item["type"] for item in body["content"]]
        expected = ["text"] * bool(task.prompt) + ["image_url"] * len(task.images)
        expected += ["video_url"] * len(task.videos) + ["audio_url"] * len(task.audios)
        assert kinds == expected
        assert all(body[k] == v for k, v in task.extra.items())
        assert body.get("tools", []) == [{"type": t} for t in task.tools]


@SETTINGS
@given(video_tasks_2x())
def test_aimlapi_sends_flat_fields_or_says_why_not(task: VideoTask) -> None:
    adapter = AimlApiAdapter(submit_path=UNIVERSAL_PATH)
    violations = adapter.check(task)
    if violations:
        assert all(v.rule for v in violations)
        return
    body = adapter.build_submit(task).json
    assert body is not None
    assert not _nulls({k: v for k, v in body.items() if k not in task.extra})
    assert len(body.get("image_urls", [])) + ("image_url" in body) + (
        "last_image_url" in body
    ) == len(task.images)
    assert len(body.get("video_urls", [])) == len(task.videos)
    assert len(body.get("audio_urls", [])) == len(task.audios)
    assert body["model"].startswith("bytedance/")
