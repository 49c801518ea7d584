"""Result downloads that fail like object storage does, and Range requests to resume them."""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urljoin

import aiohttp
import pytest

from seedance_async.simulator import CdnFaults, ManualClock, Quirks, Simulator, parse_faults
from seedance_async.simulator._cdn import parse_range
from seedance_async.simulator._faults import parse_spec
from seedance_async.simulator._media import mp4_bytes
from tests.simulator._helpers import ARK_TASKS, QUEUE_S, RUN_S, ark_body, call, make_sim


async def video_url(
    http: aiohttp.ClientSession, sim: Simulator, clock: ManualClock, **options: Any
) -> tuple[str, bytes]:
    """A succeeded Ark task's video URL and the bytes it must serve."""
    url = sim.base_url("ark") + ARK_TASKS
    _, body, _ = await call(http, "POST", url, json=ark_body(**options))
    clock.advance(QUEUE_S + RUN_S)
    _, task, _ = await call(http, "GET", f"{url}/{body['id']}")
    return task["content"]["video_url"], mp4_bytes(task["id"], 5)


async def fetch(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    async with http.get(url, headers=headers or {}) as response:
        return response.status, dict(response.headers), await response.read()


# -- Range ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=10-99", 10, 99), ("bytes=100-", 100, None), ("bytes=-50", None, None)],
)
async def test_range_requests_get_206_with_content_range(
    sim: Simulator,
    http: aiohttp.ClientSession,
    clock: ManualClock,
    header: str,
    first: int | None,
    last: int | None,
) -> None:
    """A single range answers 206 with exactly those bytes and ``bytes a-b/size``."""
    url, data = await video_url(http, sim, clock)
    size = len(data)
    start = size - 50 if first is None else first
    end = size - 1 if last is None else last
    status, headers, body = await fetch(http, url, {"Range": header})
    assert status == 206
    assert body == data[start : end + 1]
    assert headers["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert headers["Content-Length"] == str(end - start + 1)
    assert headers["Accept-Ranges"] == "bytes"
    (logged,) = sim.cdn_requests()
    assert (logged.status, logged.headers["Range"]) == (206, header)


async def test_whole_file_answers_advertise_ranges(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """Plain GETs are 200 with ``Accept-Ranges: bytes``; several ranges get the whole file."""
    url, data = await video_url(http, sim, clock)
    for headers in ({}, {"Range": "bytes=0-1,5-9"}, {"Range": "pages=1-2"}):
        status, answer, body = await fetch(http, url, headers)
        assert (status, body) == (200, data)
        assert answer["Accept-Ranges"] == "bytes"
        assert "Content-Range" not in answer


async def test_range_past_the_end_is_416(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """S3's 416 ``InvalidRange`` with ``Content-Range: bytes */size``."""
    url, data = await video_url(http, sim, clock)
    status, headers, body = await fetch(http, url, {"Range": f"bytes={len(data)}-"})
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{len(data)}"
    assert b"<Code>InvalidRange</Code>" in body


async def test_if_range_with_a_stale_etag_sends_everything(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """A matching If-Range honours the range; another ETag means the file changed: 200."""
    url, data = await video_url(http, sim, clock)
    _, headers, _ = await fetch(http, url)
    etag = next(v for k, v in headers.items() if k.lower() == "etag")
    status, _, body = await fetch(http, url, {"Range": "bytes=4-", "If-Range": etag})
    assert (status, body) == (206, data[4:])
    status, _, body = await fetch(http, url, {"Range": "bytes=4-", "If-Range": '"other"'})
    assert (status, body) == (200, data)


def test_parse_range() -> None:
    """Single ranges parse; lists, garbage and reversed ranges are ignored; past-end is 416."""
    assert parse_range("bytes=0-0", 10) == (0, 0)
    assert parse_range("bytes=5-100", 10) == (5, 9)
    assert parse_range("bytes=-3", 10) == (7, 9)
    assert parse_range("bytes=-30", 10) == (0, 9)
    assert parse_range("bytes=3-1", 10) == "ignore"
    assert parse_range("bytes=1-2,4-5", 10) == "ignore"
    assert parse_range("bytes=-", 10) == "ignore"
    assert parse_range("bytes=10-", 10) == "unsatisfiable"
    assert parse_range("bytes=-0", 10) == "unsatisfiable"


# -- faults ---------------------------------------------------------------------------------


async def test_truncated_closed_mid_body_then_resumed_with_range(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """Content-Length is right but the connection closes mid-body; a Range GET finishes it."""
    url, data = await video_url(http, sim, clock)
    sim.set_cdn_faults(CdnFaults(truncated=1.0, truncate_mode="closed", truncate_fraction=0.25))
    received = bytearray()

    async def read_all(response: aiohttp.ClientResponse) -> None:
        async for chunk in response.content.iter_any():
            received.extend(chunk)

    async with http.get(url) as response:
        assert response.status == 200
        assert response.content_length == len(data)
        with pytest.raises(aiohttp.ClientPayloadError):
            await read_all(response)
    assert 0 < len(received) < len(data)
    assert bytes(received) == data[: len(received)]
    sim.set_cdn_faults(CdnFaults())
    status, headers, rest = await fetch(http, url, {"Range": f"bytes={len(received)}-"})
    assert status == 206
    assert headers["Content-Range"] == f"bytes {len(received)}-{len(data) - 1}/{len(data)}"
    assert bytes(received) + rest == data
    assert [r.fault for r in sim.cdn_requests()] == ["truncated:closed", ""]


async def test_truncated_chunked(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """No Content-Length, chunked, closed before the last chunk: a payload error."""
    url, _ = await video_url(http, sim, clock)
    sim.set_cdn_faults(CdnFaults(truncated=1.0, truncate_mode="chunked"))
    async with http.get(url) as response:
        assert response.content_length is None
        assert response.headers["Transfer-Encoding"] == "chunked"
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


@pytest.mark.parametrize("mode", ["short", "unframed"])
async def test_truncated_without_an_error(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock, mode: str
) -> None:
    """``short`` (Content-Length of the cut body) and ``unframed`` (no length, clean close)
    look like complete answers: only the size or the file itself tells."""
    url, data = await video_url(http, sim, clock)
    sim.set_cdn_faults(parse_spec(CdnFaults, f"truncated=1,truncate_mode={mode}", CdnFaults()))
    status, headers, body = await fetch(http, url)
    assert status == 200
    assert len(body) == len(data) // 2
    assert body == data[: len(body)]
    if mode == "short":
        assert headers["Content-Length"] == str(len(body))
    else:
        assert "Content-Length" not in headers
        assert "Transfer-Encoding" not in headers


async def test_truncation_applies_to_the_range_asked_for(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """A cut 206 still claims its full range in Content-Range."""
    url, data = await video_url(http, sim, clock)
    sim.set_cdn_faults(CdnFaults(truncated=1.0, truncate_mode="short"))
    status, headers, body = await fetch(http, url, {"Range": "bytes=100-299"})
    assert status == 206
    assert headers["Content-Range"] == f"bytes 100-299/{len(data)}"
    assert body == data[100:200]


async def test_503_with_and_without_retry_after(
    sim: Simulator, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    """ServiceUnavailable in S3 XML, optionally with Retry-After; then the file again."""
    url, data = await video_url(http, sim, clock)
    sim.set_cdn_faults(CdnFaults(unavailable=1.0))
    status, headers, body = await fetch(http, url)
    assert status == 503
    assert b"<Code>ServiceUnavailable</Code>" in body
    assert "Retry-After" not in headers
    sim.set_cdn_faults(CdnFaults(unavailable=1.0, retry_after=2))
    assert (await fetch(http, url))[1]["Retry-After"] == "2"
    sim.set_cdn_faults(CdnFaults())
    assert (await fetch(http, url))[2] == data
    assert [r.status for r in sim.cdn_requests()] == [503, 503, 200]
    assert sim.cdn_faults == CdnFaults()


async def test_expiry_still_wins_over_truncation(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """An expired link is refused before any body is cut."""
    async with make_sim(clock, url_ttl=60, cdn_faults=CdnFaults(truncated=1.0)) as sim:
        url, _ = await video_url(http, sim, clock)
        clock.advance(60)
        status, _, body = await fetch(http, url)
    assert status == 403
    assert b"Request has expired" in body


async def run_downloads(seed: int, faults: CdnFaults, n: int = 200) -> list[str]:
    clock = ManualClock()
    async with (
        make_sim(clock, seed=seed, providers=("ark",), cdn_faults=faults) as sim,
        aiohttp.ClientSession() as http,
    ):
        url, data = await video_url(http, sim, clock)
        seen = []
        for _ in range(n):
            try:
                status, _, body = await fetch(http, url)
            except aiohttp.ClientPayloadError:
                seen.append("cut")
                continue
            seen.append("ok" if (status, body) == (200, data) else str(status))
    return seen


async def test_faults_fire_at_their_rate_reproducibly() -> None:
    """0.2 of each over 200 downloads, 503 first; identical for a seed, different for another."""
    faults = CdnFaults(unavailable=0.2, truncated=0.2)
    seen = await run_downloads(7, faults)
    counts = Counter(seen)
    assert 0.12 * 200 <= counts["503"] <= 0.28 * 200
    assert 0.1 * 200 <= counts["cut"] <= 0.25 * 200  # 0.2 x (1 - 0.2) expected
    assert counts["503"] + counts["cut"] + counts["ok"] == 200
    assert await run_downloads(7, faults) == seen
    assert await run_downloads(8, faults) != seen


def test_cdn_faults_are_validated_and_parse_from_specs() -> None:
    """Probabilities, modes and fractions are checked; the CLI spec format works."""
    with pytest.raises(ValueError, match="truncate_mode"):
        CdnFaults(truncate_mode="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="truncate_fraction"):
        CdnFaults(truncate_fraction=1.0)
    with pytest.raises(ValueError, match="unavailable"):
        parse_spec(CdnFaults, "unavailable=2", CdnFaults())
    assert parse_spec(CdnFaults, "truncated=0.1,truncate_mode=chunked", CdnFaults()) == CdnFaults(
        truncated=0.1, truncate_mode="chunked"
    )
    assert parse_faults("account_quota=0.5").account_quota == 0.5


# -- relative links -------------------------------------------------------------------------


async def test_relative_result_links_resolve_against_the_api_base(
    clock: ManualClock, http: aiohttp.ClientSession
) -> None:
    """The link is a path; resolved against the API base it serves the file, with Range;
    naively appended to the base it does not exist."""
    async with make_sim(clock, quirks={"ark": Quirks(relative_result_urls=True)}) as sim:
        relative, data = await video_url(http, sim, clock)
        assert relative.startswith("/files/ark/")
        base = sim.base_url("ark")
        status, _, body = await fetch(http, urljoin(base, relative))
        assert (status, body) == (200, data)
        status, _, body = await fetch(http, urljoin(base, relative), {"Range": "bytes=0-9"})
        assert (status, body) == (206, data[:10])
        assert (await fetch(http, base + relative))[0] == 404
        assert [r.path.startswith("/files/ark/") for r in sim.cdn_requests()] == [True, True]
