"""A final made from a draft: what its spec may and may not say, and how Ark sends it."""

from __future__ import annotations

from typing import Any

import pytest

from seedance_async import InvalidTaskSpec, VideoTask
from seedance_async.providers.aimlapi import AimlApiAdapter
from seedance_async.providers.ark import ArkAdapter
from seedance_async.spec import dump_task, load_task, task_hash

PRO15 = "doubao-seedance-1-5-pro-251215"
DRAFT = "cgt-20260101000000-abcde"


def test_a_final_names_its_draft_and_only_its_own_options() -> None:
    final = VideoTask(model=PRO15, from_draft=DRAFT, resolution="720p", watermark=False)
    body = ArkAdapter().submit_body(final)
    assert body == {
        "model": PRO15,
        "content": [{"type": "draft_task", "draft_task": {"id": DRAFT}}],
        "watermark": False,
        "resolution": "720p",
    }
    again = load_task(dump_task(final))
    assert again == final
    assert task_hash(again) == task_hash(final)
    assert task_hash(VideoTask(model=PRO15, from_draft="cgt-other")) != task_hash(final)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prompt": "again"}, "prompt"),
        ({"seed": 1}, "seed"),
        ({"ratio": "16:9"}, "ratio"),
        ({"duration": 5}, "duration"),
        ({"generate_audio": False}, "generate_audio"),
        ({"draft": True}, "draft"),
        ({"model": "doubao-seedance-1-0-pro-250528"}, "from_draft"),
        ({"from_draft": " "}, "from_draft"),
    ],
)
def test_what_a_final_reuses_is_refused(kwargs: dict[str, Any], field: str) -> None:
    spec: dict[str, Any] = {"model": PRO15, "from_draft": DRAFT, **kwargs}
    with pytest.raises(InvalidTaskSpec) as info:
        VideoTask(**spec)
    assert field in info.value.fields


def test_providers_without_drafts_refuse_finals() -> None:
    final = VideoTask(model=PRO15, from_draft=DRAFT)
    assert "from_draft" in [v.field for v in AimlApiAdapter().check(final)]
    assert ArkAdapter().check(final) == []
