"""The result CDN: valid files, signed expiring URLs, and a log that proves no key reached it."""

from __future__ import annotations

import re
import struct
import zlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from seedance_async.simulator import ManualClock, Simulator
from seedance_async.simulator._media import mp4_bytes, png_bytes
from tests.simulator._helpers import ARK_TASKS, QUEUE_S, RUN_S, ark_body, call, make_sim


def boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """Top-level ISO BMFF boxes as (type, payload); sizes must add up exactly."""
    found, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        assert size >= 8
        found.append((kind, data[offset + 8 : offset + size]))
        offset += size
    assert offset == len(data)
    return found


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """PNG chunks as (type, data), checking every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    found, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        payload = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + payload) & 0xFFFFFFFF
        found.append((kind, payload))
        offset += 12 + length
    return found


async def finished_task(
    http: aiohttp.ClientSession, sim: Simulator, clock: ManualClock, **options: Any
) -> dict[str, Any]:
    url = sim.base_url("ark") + ARK_TASKS
    _, body, _ = await call(http, "POST", url, json=ark_body(**options))
    clock.advance(QUEUE_S + RUN_S)
    _, task, _ = await call(http, "GET", f"{url}/{body['id']}")
    assert task["status"] == "succeeded"
    result: dict[str, Any] = task
    return result


async def fetch(http: aiohttp.ClientSession, url: str) -> tuple[int, str, bytes]:
    async with http.get(url) as response:
        return response.status, response.content_type, await response.read()


async def test_video_is_a_valid_mp4(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """The video is ftyp + moov/mvhd + mdat with the task's duration, the same bytes every time."""
    task = await finished_task(http, sim, clock, duration=7)
    content = task["content"]
    status, ctype, data = await fetch(http, content["video_url"])
    assert (status, ctype) == (200, "video/mp4")
    assert len(data) < 1000
    kinds = boxes(data)
    assert [k for k, _ in kinds] == [b"ftyp", b"moov", b"mdat"]
    assert kinds[0][1][:4] == b"isom"
    (mvhd,) = [p for k, p in boxes(kinds[1][1]) if k == b"mvhd"]
    timescale, duration = struct.unpack(">II", mvhd[12:20])
    assert duration / timescale == 7
    assert (await fetch(http, content["video_url"]))[2] == data
    assert data == mp4_bytes(str(task["id"]), 7)


async def test_last_frame_is_a_valid_png_of_the_video_size(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """The last frame is a CRC-valid PNG with the video's pixel size."""
    task = await finished_task(
        http, sim, clock, return_last_frame=True, resolution="480p", ratio="9:16"
    )
    content = task["content"]
    status, ctype, data = await fetch(http, content["last_frame_url"])
    assert (status, ctype) == (200, "image/png")
    chunks = png_chunks(data)
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (width, height, depth, colour) == (480, 864, 8, 2)
    raw = zlib.decompress(chunks[1][1])
    assert len(raw) == height * (1 + 3 * width)


def test_png_builder_handles_tiny_frames() -> None:
    """Even a 1x1 frame is a valid PNG."""
    chunks = png_chunks(png_bytes(1, 1, (1, 2, 3)))
    assert zlib.decompress(chunks[1][1]) == b"\x00\x01\x02\x03"


async def test_expired_url_is_refused_like_tos(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """After url_ttl the link answers 403 AccessDenied "Request has expired" in XML."""
    async with make_sim(clock, url_ttl=3600) as sim:
        task = await finished_task(http, sim, clock)
        content = task["content"]
        video_url = content["video_url"]
        clock.advance(3599)
        assert (await fetch(http, video_url))[0] == 200
        clock.advance(1)
        status, ctype, body = await fetch(http, video_url)
        assert (status, ctype) == (403, "application/xml")
        text = body.decode()
        assert "<Code>AccessDenied</Code>" in text
        assert "<Message>Request has expired</Message>" in text


async def test_tampered_signature_is_refused(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """A URL whose expiry was edited no longer matches its signature."""
    task = await finished_task(http, sim, clock)
    content = task["content"]
    forged = re.sub(
        r"expires=(\d+)", lambda m: f"expires={int(m.group(1)) + 10**6}", content["video_url"]
    )
    status, _, body = await fetch(http, forged)
    assert status == 403
    assert b"SignatureDoesNotMatch" in body


async def test_each_get_mints_a_fresh_url(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """Polling a succeeded task later yields a URL that expires later (a simulator choice)."""
    task = await finished_task(http, sim, clock)
    clock.advance(100)
    _, again, _ = await call(http, "GET", f"{sim.base_url('ark')}{ARK_TASKS}/{task['id']}")
    first = parse_qs(urlsplit(task["content"]["video_url"]).query)
    second = parse_qs(urlsplit(again["content"]["video_url"]).query)
    assert int(second["expires"][0]) - int(first["expires"][0]) == 100
    assert second["sig"] != first["sig"]


async def test_cdn_is_another_origin_and_logs_headers(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """The CDN has its own port, records every request's headers, and saw no API key."""
    task = await finished_task(http, sim, clock)
    content = task["content"]
    cdn, api = urlsplit(sim.cdn_url), urlsplit(sim.base_url("ark"))
    assert cdn.netloc != api.netloc
    async with http.get(content["video_url"], headers={"X-Trace": "abc"}) as response:
        assert response.status == 200
    (logged,) = sim.cdn_requests()
    assert logged.headers["X-Trace"] == "abc"
    assert logged.path.startswith("/tos/ark/")
    assert all("authorization" not in {h.lower() for h in r.headers} for r in sim.cdn_requests())
    _, admin, _ = await call(http, "GET", sim.cdn_url + "/_sim/requests", headers={})
    assert admin[0]["headers"]["X-Trace"] == "abc"


async def test_cdn_records_a_leaked_key(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """If a client did send its key to the CDN, the log shows it (so tests can catch leaks)."""
    task = await finished_task(http, sim, clock)
    content = task["content"]
    async with http.get(content["video_url"], headers={"Authorization": "Bearer leaked"}):
        pass
    assert any(r.headers.get("Authorization") == "Bearer leaked" for r in sim.cdn_requests())
