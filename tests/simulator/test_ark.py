"""The Ark protocol and its pass-through gateways."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

from seedance_async.simulator import DurationModel, Faults, ManualClock, Simulator
from tests.simulator._helpers import (
    ARK_TASKS,
    AUTH,
    KEY,
    PRO,
    QUEUE_S,
    RUN_S,
    ark_body,
    call,
    make_sim,
)

CGT_ID = re.compile(r"^cgt-\d{14}-[a-z0-9]{5}$")
IMG = "https://example.com/a.png"


def image(role: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "image_url", "image_url": {"url": IMG}}
    if role is not None:
        item["role"] = role
    return item


async def create(http: aiohttp.ClientSession, sim: Simulator, **options: Any) -> str:
    status, body, _ = await call(
        http, "POST", sim.base_url("ark") + ARK_TASKS, json=ark_body(**options)
    )
    assert status == 200, body
    task_id: str = body["id"]
    return task_id


async def get(http: aiohttp.ClientSession, sim: Simulator, task_id: str) -> tuple[int, Any]:
    status, body, _ = await call(http, "GET", f"{sim.base_url('ark')}{ARK_TASKS}/{task_id}")
    return status, body


async def test_round_trip_create_get_list_delete(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """A task is created, goes queued → running → succeeded, is listed, then deleted."""
    base = sim.base_url("ark")
    assert base.endswith("/api/v3")
    status, body, headers = await call(http, "POST", base + ARK_TASKS, json=ark_body())
    assert status == 200
    assert set(body) == {"id"}  # Ark answers only the id
    assert CGT_ID.match(body["id"])
    assert headers["X-Request-Id"]
    task_id = body["id"]
    assert (await get(http, sim, task_id))[1]["status"] == "queued"
    clock.advance(QUEUE_S)
    assert (await get(http, sim, task_id))[1]["status"] == "running"
    clock.advance(RUN_S)
    status, task = await get(http, sim, task_id)
    assert status == 200
    assert task["status"] == "succeeded"
    assert task["resolution"] == "1080p"  # 1.0 pro default
    assert task["ratio"] == "16:9"
    assert task["duration"] == 5
    assert "frames" not in task
    assert task["framespersecond"] == 24
    assert task["usage"] == {
        "completion_tokens": 244_800,
        "total_tokens": 244_800,
    }  # 1920x1088x24x5/1024
    assert task["content"]["video_url"].startswith(sim.cdn_url)
    assert "last_frame_url" not in task["content"]
    assert task["updated_at"] - task["created_at"] == QUEUE_S + RUN_S
    status, page, _ = await call(http, "GET", base + ARK_TASKS, params={"page_size": "10"})
    assert status == 200
    assert page["total"] == 1
    assert [item["id"] for item in page["items"]] == [task_id]
    status, deleted, _ = await call(http, "DELETE", f"{base}{ARK_TASKS}/{task_id}")
    assert (status, deleted) == (200, {})
    status, missing = await get(http, sim, task_id)
    assert status == 404
    assert missing["error"]["code"] == "ResourceNotFound"


async def test_missing_content_is_missing_parameter(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """A body without ``content`` gets Ark's 400 MissingParameter envelope with the request id."""
    status, body, headers = await call(
        http, "POST", sim.base_url("ark") + ARK_TASKS, json={"model": PRO}
    )
    assert status == 400
    error = body["error"]
    assert error["code"] == "MissingParameter"
    assert error["param"] == "content"
    assert error["type"] == "BadRequest"
    assert error["message"].endswith(f"Request id: {headers['X-Request-Id']}")
    assert sim.ledger() == []


async def test_missing_model_is_missing_parameter(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """A body without ``model`` names ``model``."""
    body = {"content": [{"type": "text", "text": "x"}]}
    status, answer, _ = await call(http, "POST", sim.base_url("ark") + ARK_TASKS, json=body)
    assert status == 400
    assert (answer["error"]["code"], answer["error"]["param"]) == ("MissingParameter", "model")


@pytest.mark.parametrize(
    ("body", "status", "code", "param", "text"),
    [
        pytest.param(
            {
                "model": "doubao-seedance-1-0-lite-i2v-250428",
                "content": [image("first_frame"), image("reference_image")],
            },
            400,
            "InvalidParameter",
            "content",
            "first/last frame content cannot be mixed with reference media content",
            id="mixed-roles",
        ),
        pytest.param(
            ark_body(frames=30), 400, "InvalidParameter", "frames", "25+4n", id="frames-not-25+4n"
        ),
        pytest.param(
            ark_body(frames=293), 400, "InvalidParameter", "frames", "289", id="frames-too-many"
        ),
        pytest.param(
            ark_body(resolution="4k"), 400, "InvalidParameter", "resolution", "4k", id="resolution"
        ),
        pytest.param(ark_body(ratio="5:4"), 400, "InvalidParameter", "ratio", "5:4", id="ratio"),
        pytest.param(
            ark_body(duration=20), 400, "InvalidParameter", "duration", "[2, 12]", id="duration"
        ),
        pytest.param(
            ark_body(duration="5"),
            400,
            "InvalidParameter",
            "duration",
            "integer",
            id="duration-type",
        ),
        pytest.param(ark_body(seed=-2), 400, "InvalidParameter", "seed", "-1", id="seed"),
        pytest.param(
            ark_body(watermark="yes"),
            400,
            "InvalidParameter",
            "watermark",
            "boolean",
            id="bool-type",
        ),
        pytest.param(
            {
                "model": "doubao-seedance-1-5-pro-251215",
                "content": [{"type": "text", "text": "x"}],
                "frames": 57,
            },
            400,
            "InvalidParameter",
            "frames",
            "does not support frames",
            id="frames-on-1.5-pro",
        ),
        pytest.param(
            {
                "model": "doubao-seedance-1-0-lite-t2v-250428",
                "content": [{"type": "text", "text": "x"}, image(None)],
            },
            400,
            "InvalidParameter",
            "content",
            "first_frame scenario",
            id="image-on-t2v-model",
        ),
        pytest.param(
            {
                "model": "doubao-seedance-1-0-lite-i2v-250428",
                "content": [image("reference_image")],
                "ratio": "adaptive",
            },
            400,
            "InvalidParameter",
            "ratio",
            "adaptive",
            id="adaptive-with-references",
        ),
        pytest.param(
            {"model": PRO, "content": [{"type": "image_url", "image_url": {"url": ""}}]},
            400,
            "InvalidImageURL.EmptyURL",
            "image_url",
            "empty",
            id="empty-image-url",
        ),
        pytest.param(
            {"model": "doubao-seedance-9-9-250101", "content": [{"type": "text", "text": "x"}]},
            404,
            "InvalidEndpointOrModel.NotFound",
            "model",
            "does not exist",
            id="unknown-model",
        ),
    ],
)
async def test_validation_errors(
    sim: Simulator,
    http: aiohttp.ClientSession,
    body: Any,
    status: int,
    code: str,
    param: str,
    text: str,
) -> None:
    """Bad bodies get Ark's code, param and a message naming the rule; nothing is created."""
    got, answer, _ = await call(http, "POST", sim.base_url("ark") + ARK_TASKS, json=body)
    assert got == status, answer
    error = answer["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert text in error["message"]
    assert sim.ledger() == []


async def test_unknown_and_null_keys_are_ignored(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """Like Ark, misspelled keys are silently ignored and JSON null means "not given"."""
    body = ark_body(fps=24, camerafixed=True, resolution=None, seed=None, frames=None)
    status, answer, _ = await call(http, "POST", sim.base_url("ark") + ARK_TASKS, json=body)
    assert status == 200, answer


async def test_effective_parameters_and_last_frame(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """Frames are echoed instead of duration, suffix flags apply, and a last frame URL is returned."""
    task_id = await create(
        http, sim, text="a dog --rs 480p --rt 1:1 --seed 7", frames=57, return_last_frame=True
    )
    clock.advance(QUEUE_S + RUN_S)
    _, task = await get(http, sim, task_id)
    assert task["frames"] == 57
    assert "duration" not in task
    assert (task["resolution"], task["ratio"], task["seed"]) == ("480p", "1:1", 7)
    assert task["usage"]["completion_tokens"] == 640 * 640 * 57 // 1024
    assert task["content"]["last_frame_url"].startswith(sim.cdn_url)


async def test_body_wins_over_prompt_suffix(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """A body field beats its text-command suffix; a suffix value that does not parse is ignored."""
    task_id = await create(http, sim, text="x --rs 480p --dur 10 --rt 7:7", resolution="720p")
    clock.advance(QUEUE_S + RUN_S)
    _, task = await get(http, sim, task_id)
    assert (task["resolution"], task["duration"], task["ratio"]) == ("720p", 10, "16:9")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
async def test_auth_failure(
    sim: Simulator, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    """A missing, wrong or scheme-less key gets 401 AuthenticationError."""
    status, body, _ = await call(
        http, "POST", sim.base_url("ark") + ARK_TASKS, json=ark_body(), headers=headers
    )
    assert status == 401
    assert body["error"]["code"] == "AuthenticationError"
    assert body["error"]["type"] == "Unauthorized"
    assert sim.stats("ark")["auth.failed"] == 1


async def test_unknown_task_is_404(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """An unknown id is a 404 in Ark's envelope."""
    status, body = await get(http, sim, "cgt-20260101000000-nope0")
    assert status == 404
    assert body["error"]["type"] == "NotFound"


async def test_keys_see_only_their_own_tasks(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """List and get show only the caller's tasks."""
    async with make_sim(clock, api_key={"ark": [KEY, "sk-other"]}) as sim:
        mine = await create(http, sim)
        other = {"Authorization": "Bearer sk-other"}
        base = sim.base_url("ark")
        status, body, _ = await call(
            http, "POST", base + ARK_TASKS, json=ark_body("theirs"), headers=other
        )
        assert status == 200
        theirs = body["id"]
        _, page, _ = await call(http, "GET", base + ARK_TASKS)
        assert [i["id"] for i in page["items"]] == [mine]
        assert (await get(http, sim, theirs))[0] == 404
        _, page, _ = await call(http, "GET", base + ARK_TASKS, headers=other)
        assert [i["id"] for i in page["items"]] == [theirs]


async def test_list_pages_filters_and_order(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """Newest first, page_num/page_size, filter.status, filter.model and repeated filter.task_ids."""
    ids = []
    for n in range(5):
        ids.append(await create(http, sim, text=f"t{n}"))
        clock.advance(1)
    url = sim.base_url("ark") + ARK_TASKS
    _, page, _ = await call(http, "GET", url, params={"page_num": "2", "page_size": "2"})
    assert page["total"] == 5
    assert [i["id"] for i in page["items"]] == [ids[2], ids[1]]
    clock.advance(QUEUE_S - 2.5)  # the first three are running, the last two queued
    _, page, _ = await call(http, "GET", url, params={"filter.status": "queued"})
    assert [i["id"] for i in page["items"]] == [ids[4], ids[3]]
    params = [("filter.task_ids", ids[0]), ("filter.task_ids", ids[3]), ("filter.model", PRO)]
    _, page, _ = await call(http, "GET", url, params=params)
    assert [i["id"] for i in page["items"]] == [ids[3], ids[0]]
    _, page, _ = await call(http, "GET", url, params={"filter.model": "other"})
    assert page == {"total": 0, "items": []}
    status, body, _ = await call(http, "GET", url, params={"page_size": "501"})
    assert (status, body["error"]["param"]) == (400, "page_size")


async def test_delete_rules(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """Queued → cancelled; running or cancelled → refused; finished → record deleted."""
    async with make_sim(clock, faults=Faults(task_failure=0.0)) as sim:
        url = sim.base_url("ark") + ARK_TASKS
        queued = await create(http, sim)
        status, body, _ = await call(http, "DELETE", f"{url}/{queued}")
        assert (status, body) == (200, {})
        assert (await get(http, sim, queued))[1]["status"] == "cancelled"
        status, body, _ = await call(http, "DELETE", f"{url}/{queued}")
        assert (status, body["error"]["code"]) == (400, "InvalidParameter.TaskStatus")
        running = await create(http, sim)
        clock.advance(QUEUE_S)
        status, body, _ = await call(http, "DELETE", f"{url}/{running}")
        assert status == 400
        assert "running" in body["error"]["message"]
        clock.advance(RUN_S)
        assert (await call(http, "DELETE", f"{url}/{running}"))[0] == 200
        assert (await get(http, sim, running))[0] == 404
        assert (await call(http, "DELETE", f"{url}/{running}"))[0] == 404


async def test_cancelled_records_vanish_after_a_day(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """Cancelled tasks disappear after 24 h, all others after 7 days."""
    url = sim.base_url("ark") + ARK_TASKS
    cancelled = await create(http, sim)
    kept = await create(http, sim)
    await call(http, "DELETE", f"{url}/{cancelled}")
    clock.advance(86_400)
    assert (await get(http, sim, cancelled))[0] == 404
    assert (await get(http, sim, kept))[0] == 200
    clock.advance(6 * 86_400)
    assert (await get(http, sim, kept))[0] == 404


async def test_failed_task_reports_error(clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """A task drawn to fail ends ``failed`` with Ark's output-moderation code and no content."""
    async with make_sim(clock, faults=Faults(task_failure=1.0)) as sim:
        task_id = await create(http, sim)
        clock.advance(QUEUE_S)
        assert (await get(http, sim, task_id))[1]["status"] == "running"
        clock.advance(RUN_S)
        _, task = await get(http, sim, task_id)
        assert task["status"] == "failed"
        assert task["error"]["code"] == "OutputVideoSensitiveContentDetected.PolicyViolation"
        assert "content" not in task
        assert "usage" not in task


async def test_chainhub_speaks_ark_under_its_own_path(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """ChainHub answers ``{"id", "status": "submitted"}`` and Ark task objects."""
    base = sim.base_url("chainhub")
    url = base + "/volc/v1/contents/generations/tasks"
    status, body, _ = await call(http, "POST", url, json=ark_body())
    assert status == 200
    assert body["status"] == "submitted"
    assert CGT_ID.match(body["id"])
    clock.advance(QUEUE_S + RUN_S)
    _, task, _ = await call(http, "GET", f"{url}/{body['id']}")
    assert task["status"] == "succeeded"
    _, page, _ = await call(http, "GET", url)
    assert page["total"] == 1


async def test_gateway000_vocabulary(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """gateway000 says submitted / processing / succeeded and has no list."""
    url = sim.base_url("gateway000") + "/v1/video/generations"
    status, body, _ = await call(http, "POST", url, json=ark_body())
    assert (status, body["status"]) == (200, "submitted")
    seen = []
    for step in (0, QUEUE_S, RUN_S):
        clock.advance(step)
        _, task, _ = await call(http, "GET", f"{url}/{body['id']}")
        seen.append(task["status"])
    assert seen == ["submitted", "processing", "succeeded"]
    async with http.get(url, headers=AUTH) as response:
        assert response.status in (404, 405)


async def test_client_request_id_is_echoed(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """The SDK's ``X-Client-Request-Id`` comes back next to the server's ``X-Request-Id``."""
    headers = {**AUTH, "X-Client-Request-Id": "20260101000000abcdefghijklmnopqrst"}
    _, _, answer = await call(
        http, "POST", sim.base_url("ark") + ARK_TASKS, json=ark_body(), headers=headers
    )
    assert answer["X-Client-Request-Id"] == headers["X-Client-Request-Id"]
    assert answer["X-Request-Id"] != headers["X-Client-Request-Id"]


async def test_gateway000_reports_expiry_as_failed(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """Without an ``expired`` word gateway000 says ``failed`` with a TaskExpired error."""
    async with make_sim(clock, durations=DurationModel.fixed(0, 5000)) as sim:
        url = sim.base_url("gateway000") + "/v1/video/generations"
        _, body, _ = await call(http, "POST", url, json=ark_body(execution_expires_after=3600))
        clock.advance(3600)
        _, task, _ = await call(http, "GET", f"{url}/{body['id']}")
        assert task["status"] == "failed"
        assert task["error"]["code"] == "TaskExpired"
