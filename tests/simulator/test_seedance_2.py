"""Seedance 2.x on every simulated surface: references read from their headers, the 2.x
rules, tools, drafts and finals, and how each is billed."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from seedance_async.simulator import ManualClock, Simulator, reference_audio, reference_video
from seedance_async.simulator._reference import Unreadable, parse_header
from tests.simulator._helpers import ARK_TASKS, QUEUE_S, RUN_S, call, make_sim

SD2 = "doubao-seedance-2-0-260128"
FAST = "doubao-seedance-2-0-fast-260128"
PRO15 = "doubao-seedance-1-5-pro-251215"
SD25 = "doubao-seedance-2-5-260628"
IMG = "https://example.com/a.png"
AIML = "/v2/video/generations"
DONE = QUEUE_S + RUN_S
PATHS = {
    "aimlapi": AIML,
    "chainhub": "/volc/v1/contents/generations/tasks",
    "gateway000": "/v1/video/generations",
}


def text(prompt: str = "a fox in the snow") -> dict[str, Any]:
    return {"type": "text", "text": prompt}


def image(role: str = "reference_image", url: str = IMG) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}, "role": role}


def video(url: str) -> dict[str, Any]:
    return {"type": "video_url", "video_url": {"url": url}, "role": "reference_video"}


def audio(url: str) -> dict[str, Any]:
    return {"type": "audio_url", "audio_url": {"url": url}, "role": "reference_audio"}


async def post(
    http: aiohttp.ClientSession, sim: Simulator, body: dict[str, Any], provider: str = "ark"
) -> tuple[int, Any]:
    path = PATHS.get(provider, ARK_TASKS)
    status, answer, _ = await call(http, "POST", sim.base_url(provider) + path, json=body)
    return status, answer


async def get(
    http: aiohttp.ClientSession, sim: Simulator, task_id: str, provider: str = "ark"
) -> Any:
    if provider == "aimlapi":
        url, params = sim.base_url(provider) + AIML, {"generation_id": task_id}
    else:
        url, params = f"{sim.base_url(provider)}{PATHS.get(provider, ARK_TASKS)}/{task_id}", None
    status, answer, _ = await call(http, "GET", url, params=params)
    assert status == 200, answer
    return answer


# -- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (reference_video(seconds=7.5, width=720, height=1280, fps=30), ("video", "mp4", 7.5)),
        (reference_video(container="mov", codec="hvc1", seconds=3), ("video", "mov", 3.0)),
        (reference_audio(seconds=4), ("audio", "wav", 4.0)),
        (reference_audio(seconds=6, container="mp3"), ("audio", "mp3", 6.0)),
    ],
)
async def test_headers_say_what_the_clip_is(data: bytes, expected: tuple[str, str, float]) -> None:
    facts = await parse_header(data)
    assert (facts.kind, facts.container) == expected[:2]
    assert facts.seconds == pytest.approx(expected[2], abs=0.05)


async def test_a_clip_whose_header_lies_is_unreadable() -> None:
    with pytest.raises(Unreadable):
        await parse_header(b"\x00\x00\x00\x18ftypisom" + bytes(40))  # no moov
    with pytest.raises(Unreadable):
        await parse_header(b"GIF89a" + bytes(64))


async def test_library_reads_the_simulator_clips_alike() -> None:
    """The client's own header reader agrees with the simulator's clips (demo, probes)."""
    from seedance_async.spec._media_sniff import sniff_media_bytes

    info = sniff_media_bytes(reference_video(seconds=6, width=960, height=960, fps=25))
    assert (info.kind, info.duration, info.width, info.height) == ("video", 6.0, 960, 960)
    assert sniff_media_bytes(reference_audio(seconds=3)).duration == pytest.approx(3.0)


# -- a multimodal 2.0 task -----------------------------------------------------------------


async def test_multimodal_task_reads_references_and_echoes_effective_values(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    clip = sim.host_media("clip.mp4", reference_video(seconds=4, width=720, height=1280))
    track = sim.host_media("track.wav", reference_audio(seconds=5))
    body = {
        "model": SD2,
        "content": [text(), image(), image(), video(clip), audio(track)],
        "ratio": "adaptive",
        "duration": -1,
        "tools": [{"type": "web_search"}],
        "priority": 7,
        "safety_identifier": "user-hash-1",
    }
    status, answer = await post(http, sim, body)
    assert status == 200, answer
    ranged = [r for r in sim.cdn_requests() if r.path.startswith("/media/")]
    assert {r.path for r in ranged} == {"/media/clip.mp4", "/media/track.wav"}
    assert all(r.headers.get("Range", "").startswith("bytes=0-") for r in ranged)
    clock.advance(DONE)
    task = await get(http, sim, answer["id"])
    assert task["status"] == "succeeded"
    assert task["ratio"] == "9:16"  # adaptive follows the reference video
    assert 4 <= task["duration"] <= 15  # -1: the model picked
    assert (task["resolution"], task["generate_audio"], task["draft"]) == ("720p", True, False)
    assert (task["priority"], task["safety_identifier"]) == (7, "user-hash-1")
    searches = task["usage"]["tool_usage"]["web_search"]
    assert 0 <= searches <= 3
    assert ("tools" in task) == (searches > 0)
    (entry,) = sim.ledger()
    # The reference video's 4 s are billed with the output (Ark's 2.x token formula).
    per_second = 720 * 1280 * 24 / 1024
    assert entry.tokens == int(per_second * (task["duration"] + 4))
    assert entry.charge == "video"
    assert "frames" not in task


@pytest.mark.parametrize("provider", ["chainhub", "gateway000", "gptproto"])
async def test_ark_format_gateways_take_2x_bodies(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock, provider: str
) -> None:
    clip = sim.host_media("g.mp4", reference_video(seconds=3))
    body = {"model": SD2, "content": [text(), video(clip)], "tools": [{"type": "web_search"}]}
    status, answer = await post(http, sim, body, provider)
    assert status == 200, answer
    clock.advance(DONE)
    task = await get(http, sim, answer["id"], provider)
    assert "web_search" in task["usage"]["tool_usage"]
    bad = {**body, "content": [text(), audio(sim.host_media("a.wav", reference_audio()))]}
    status, answer = await post(http, sim, bad, provider)
    assert status == 400
    assert len(sim.ledger(provider)) == 1


# -- the rules, each refused before anything is billed -------------------------------------


def _clip(**kw: Any) -> tuple[str, bytes]:
    return "clip.mp4", reference_video(**kw)


@pytest.mark.parametrize(
    ("media", "extra", "param", "words"),
    [
        ([_clip(seconds=16)], {}, "content[1].video_url", "2-15 s"),
        ([_clip(seconds=1)], {}, "content[1].video_url", "2-15 s"),
        ([_clip(fps=20)], {}, "content[1].video_url", "[24, 60] fps"),
        ([_clip(codec="vp09")], {}, "content[1].video_url", "H.264 or H.265"),
        ([_clip(width=320, height=320)], {}, "content[1].video_url", "409600"),
        ([_clip(width=3000, height=1000)], {}, "content[1].video_url", "[0.4, 2.5]"),
        (
            [("a.mp4", reference_video(seconds=8)), ("b.mp4", reference_video(seconds=8))],
            {},
            "content[1].video_url",
            "15 s in all",
        ),
        ([("a.wav", reference_audio(seconds=16))], {"image": True}, "content[2].audio_url", "2-15"),
        ([("x.mp4", b"not a video at all")], {}, "content[1].video_url", "not readable"),
        ([("m.mp4", reference_video(moov_last=True, seconds=20))], {}, "content[1]", "2-15"),
        ([("a.wav", reference_audio())], {}, "content", "reference audio needs"),
        ([_clip()] * 4, {}, "content", "at most 3 reference videos"),
        ([_clip()], {"resolution": "4k", "model": FAST}, "resolution", "'4k'"),
        ([_clip()], {"priority": 10}, "priority", "[0, 9]"),
        ([_clip()], {"safety_identifier": "x" * 65}, "safety_identifier", "64"),
        ([_clip()], {"tools": [{"type": "code"}]}, "tools", "unknown tool"),
        ([_clip()], {"first_frame": True}, "content", "cannot be mixed"),
    ],
)
async def test_2x_rules(
    sim: Simulator,
    http: aiohttp.ClientSession,
    media: list[tuple[str, bytes]],
    extra: dict[str, Any],
    param: str,
    words: str,
) -> None:
    content: list[dict[str, Any]] = [text()]
    if extra.pop("image", False):
        content.append(image())
    if extra.pop("first_frame", False):
        content.append(image("first_frame"))
    for n, (name, data) in enumerate(media):
        url = sim.host_media(f"{n}-{name}", data)
        content.append(audio(url) if name.endswith(".wav") else video(url))
    body = {"model": SD2, "content": content, **extra}
    status, answer = await post(http, sim, body)
    assert status == 400, answer
    error = answer["error"]
    assert error["code"] == "InvalidParameter"
    assert error["param"].startswith(param)
    assert words in error["message"]
    assert sim.ledger() == []


async def test_unreachable_and_base64_references(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    missing = sim.cdn_url + "/media/nothing-here.mp4"
    status, answer = await post(http, sim, {"model": SD2, "content": [text(), video(missing)]})
    assert (status, answer["error"]["param"]) == (400, "content[1].video_url")
    assert "HTTP 404" in answer["error"]["message"]
    inline = "data:video/mp4;base64," + base64.b64encode(reference_video()).decode()
    status, answer = await post(http, sim, {"model": SD2, "content": [text(), video(inline)]})
    assert status == 400
    assert "not base64" in answer["error"]["message"]
    # Audio may be inline: it is decoded and read like a fetched one.
    wav = "data:audio/wav;base64," + base64.b64encode(reference_audio(seconds=20)).decode()
    body = {"model": SD2, "content": [text(), image(), audio(wav)]}
    status, answer = await post(http, sim, body)
    assert status == 400
    assert "2-15 s" in answer["error"]["message"]
    assert sim.ledger() == []


async def test_references_from_a_local_server_are_read_too(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """Any loopback server: here one that ignores Range and sends the whole file."""

    async def whole_file(_: web.Request) -> web.Response:
        return web.Response(body=reference_video(seconds=30))

    app = web.Application()
    app.router.add_get("/v.mp4", whole_file)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/v.mp4"
        status, answer = await post(http, sim, {"model": SD2, "content": [text(), video(url)]})
        assert status == 400
        assert "got 30 s" in answer["error"]["message"]
        # A 2.5 model takes clips of up to 30 s.
        status, answer = await post(http, sim, {"model": SD25, "content": [text(), video(url)]})
        assert status == 200, answer
    finally:
        await runner.cleanup()


async def test_headers_at_the_end_of_a_clip_are_found_with_another_range(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    data = reference_video(seconds=20, moov_last=True, media_bytes=300_000)
    url = sim.host_media("tail.mp4", data)
    status, answer = await post(http, sim, {"model": SD2, "content": [text(), video(url)]})
    assert status == 400
    assert "got 20 s" in answer["error"]["message"]
    ranges = [r.headers["Range"] for r in sim.cdn_requests() if r.path == "/media/tail.mp4"]
    assert ranges[0] == "bytes=0-65535"
    assert len(ranges) >= 2
    fetched = sum(int(b) - int(a) + 1 for a, b in (r[6:].split("-") for r in ranges))
    assert fetched < len(data) // 2  # headers only, not the whole clip


async def test_remote_references_are_taken_on_trust(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    body = {"model": SD2, "content": [text(), video("https://cdn.example.com/v.mp4")]}
    assert (await post(http, sim, body))[0] == 200
    assert not [r for r in sim.cdn_requests() if r.path.startswith("/media/")]


# -- drafts and finals ---------------------------------------------------------------------


def draft_item(task_id: str) -> dict[str, Any]:
    return {"type": "draft_task", "draft_task": {"id": task_id}}


async def test_draft_then_final_each_billed_once(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    body = {"model": PRO15, "content": [text()], "draft": True, "seed": 11, "duration": 6}
    status, answer = await post(http, sim, body)
    assert status == 200, answer
    draft_id = answer["id"]
    status, early = await post(http, sim, {"model": PRO15, "content": [draft_item(draft_id)]})
    assert status == 400
    assert "has not succeeded" in early["error"]["message"]
    clock.advance(DONE)
    draft = await get(http, sim, draft_id)
    assert (draft["draft"], draft["resolution"], draft["seed"]) == (True, "480p", 11)
    final_body = {"model": PRO15, "content": [draft_item(draft_id)], "resolution": "1080p"}
    status, answer = await post(http, sim, final_body)
    assert status == 200, answer
    clock.advance(DONE)
    final = await get(http, sim, answer["id"])
    assert final["draft_task_id"] == draft_id
    assert final["draft"] is False
    assert (final["seed"], final["duration"], final["ratio"]) == (11, 6, draft["ratio"])
    assert final["resolution"] == "1080p"
    drafts, finals = sim.ledger()
    assert (drafts.charge, finals.charge, finals.draft_task_id) == ("draft", "final", draft_id)
    assert drafts.tokens < finals.tokens  # a draft is cheap
    assert final["usage"]["completion_tokens"] == finals.tokens


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"model": PRO15, "draft": True, "resolution": "720p"}, "resolution", "480p only"),
        ({"model": PRO15, "draft": True, "return_last_frame": True}, "return_last_frame", ""),
        ({"model": PRO15, "draft": True, "service_tier": "flex"}, "service_tier", "flex"),
        ({"model": "doubao-seedance-1-0-pro-250528", "draft": True}, "draft", "no"),
    ],
)
async def test_draft_rules(
    sim: Simulator, http: aiohttp.ClientSession, body: dict[str, Any], param: str, words: str
) -> None:
    status, answer = await post(http, sim, {**body, "content": [text()]})
    assert (status, answer["error"]["param"]) == (400, param)
    assert sim.ledger() == []


async def test_finals_need_a_succeeded_draft_of_the_caller(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    _, plain = await post(http, sim, {"model": PRO15, "content": [text()]})
    clock.advance(DONE)
    cases = [
        ([draft_item(plain["id"])], "is not a draft"),
        ([draft_item("cgt-20260101000000-nope0")], "does not exist"),
        ([text(), draft_item(plain["id"])], "only content item"),
    ]
    for content, words in cases:
        status, answer = await post(http, sim, {"model": PRO15, "content": content})
        assert status == 400, answer
        assert words in answer["error"]["message"]
    assert len(sim.ledger()) == 1


async def test_2_5_finals_are_strict(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    _, draft = await post(http, sim, {"model": SD25, "content": [text()], "draft": True})
    clock.advance(DONE)
    final = {"model": SD25, "content": [draft_item(draft["id"])]}
    status, answer = await post(http, sim, {**final, "resolution": "720p"})
    assert (status, answer["error"]["code"]) == (400, "InvalidResolutionParameter")
    status, answer = await post(http, sim, {**final, "duration": 8})
    assert (status, answer["error"]["param"]) == (400, "duration")
    status, answer = await post(http, sim, {**final, "watermark": False})
    assert status == 200, answer
    clock.advance(DONE)
    assert (await get(http, sim, answer["id"]))["resolution"] == "1080p"
    assert [e.charge for e in sim.ledger()] == ["draft", "final"]


# -- AI/ML API's flat fields -----------------------------------------------------------------


async def test_aimlapi_flat_references(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    clip = sim.host_media("v.mp4", reference_video(seconds=5))
    track = sim.host_media("a.mp3", reference_audio(seconds=5, container="mp3"))
    body = {
        "model": "bytedance/seedance-2-0",
        "prompt": "@Video1 with @Audio1",
        "image_urls": [IMG],
        "video_urls": [clip],
        "audio_urls": [track],
        "provider": "bytedance",
    }
    status, answer = await post(http, sim, body, "aimlapi")
    assert status == 200, answer
    clock.advance(DONE)
    polled = await get(http, sim, answer["id"], "aimlapi")
    assert polled["status"] == "completed"
    assert polled["video"]["duration"] == 5
    (entry,) = sim.ledger("aimlapi")
    assert entry.tokens == int(1280 * 720 * 24 * (5 + 5) / 1024)  # 16:9 default, video billed


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"aspect_ratio": "adaptive"}, "aspect_ratio"),
        ({"duration": -1}, "duration"),
        ({"model": "bytedance/seedance-2-0-fast", "resolution": "4k"}, "resolution"),
        ({"provider": "somewhere"}, "provider"),
        ({"video_urls": []}, "video_urls"),
        ({"audio_urls": ["https://example.com/a.mp3"]}, "audio_urls"),
        ({"image_url": IMG, "image_urls": [IMG]}, "image_url"),
    ],
)
async def test_aimlapi_2x_schema(
    sim: Simulator, http: aiohttp.ClientSession, extra: dict[str, Any], path: str
) -> None:
    body = {"model": "bytedance/seedance-2-0", "prompt": "x", **extra}
    status, answer = await post(http, sim, body, "aimlapi")
    assert status == 400, answer
    assert answer["errors"][0]["path"] == path
    assert sim.ledger("aimlapi") == []


async def test_aimlapi_reads_its_references(sim: Simulator, http: aiohttp.ClientSession) -> None:
    clip = sim.host_media("long.mp4", reference_video(seconds=16))
    body = {"model": "bytedance/seedance-2-0", "prompt": "x", "video_urls": [clip]}
    status, answer = await post(http, sim, body, "aimlapi")
    assert status == 400
    assert answer["message"].startswith("video_urls[0]: ")
    assert sim.ledger("aimlapi") == []


async def test_hosting_needs_a_started_simulator(clock: ManualClock) -> None:
    sim = make_sim(clock)
    with pytest.raises(RuntimeError):
        sim.host_media("x.mp4", b"")
