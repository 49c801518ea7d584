"""Remote reference clips probed before submit: ranged GETs against a real loopback server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from seedance_async import ApiKey, Client, InvalidTaskSpec, ProviderConfig
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.spec._media_sniff import NeedBytes, RangedMedia, sniff_media_bytes
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import Audio, Image, Video
from seedance_async.testing import FunctionTransport
from seedance_async.transport._probe import probe_media_url
from tests import mediadata

V20 = "doubao-seedance-2-0-260128"
REF = Image.from_url("https://example.com/1.jpg", role="reference_image")


def test_ranged_media_asks_for_the_moov_box_at_the_end() -> None:
    data = mediadata.mp4(moov_last=True, mdat_bytes=200_000)
    media = RangedMedia(len(data))
    media.feed(0, data[:65536])
    with pytest.raises(NeedBytes) as more:
        media.sniff()
    media.feed(more.value.offset, data[more.value.offset :])
    assert media.sniff() == sniff_media_bytes(data)


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def _app(folder: Path, ranges_seen: list[str]) -> web.Application:
    async def file(request: web.Request) -> web.StreamResponse:
        ranges_seen.append(request.headers.get("Range", ""))
        return web.FileResponse(folder / request.match_info["name"])

    async def whole(request: web.Request) -> web.Response:
        # A server that ignores Range: the whole file, 200.
        return web.Response(body=(folder / request.match_info["name"]).read_bytes())

    async def gone(_: web.Request) -> web.Response:
        return web.Response(status=404)

    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/f/{name}", file)
    app.router.add_get("/whole/{name}", whole)
    app.router.add_get("/gone", gone)
    app.router.add_get("/broken", broken)
    return app


def _run(folder: Path, body: Callable[[str, list[str]], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        seen: list[str] = []
        runner, base = await _serve(_app(folder, seen))
        try:
            return await body(base, seen)
        finally:
            await runner.cleanup()

    return anyio.run(main)


def test_probe_reads_only_headers_with_ranges(tmp_path: Path) -> None:
    data = mediadata.mp4(seconds=9, moov_last=True, mdat_bytes=300_000)
    (tmp_path / "v.mp4").write_bytes(data)
    (tmp_path / "a.wav").write_bytes(mediadata.wav(seconds=3))

    async def body(base: str, seen: list[str]) -> None:
        async with aiohttp.ClientSession() as session:
            found = await probe_media_url(f"{base}/f/v.mp4", session=session)
            assert found.info == sniff_media_bytes(data)
            assert found.size == len(data)
            assert len(seen) == 2
            assert all(r.startswith("bytes=") for r in seen)
            whole = await probe_media_url(f"{base}/whole/a.wav", session=session)
            assert whole.info is not None
            assert whole.info.duration == 3
            gone = await probe_media_url(f"{base}/gone", session=session)
            assert (gone.refused, gone.reason) == (True, "the URL answers HTTP 404")
            broken = await probe_media_url(f"{base}/broken", session=session)
            assert (broken.refused, broken.info) == (False, None)

    _run(tmp_path, body)


def _client(sent: list[HttpRequest]) -> Client:
    def handler(request: HttpRequest) -> HttpResponse:
        sent.append(request)
        return HttpResponse.from_json(200, {"id": "cgt-1"})

    config = ProviderConfig(
        alias="ark", adapter="ark", base_url="https://a.example/api/v3", api_key=ApiKey("k")
    )
    return Client(
        [config], transport_factory=lambda *_: FunctionTransport(handler), probe_media=True
    )


def test_a_bad_remote_reference_costs_nothing(tmp_path: Path) -> None:
    (tmp_path / "long.mp4").write_bytes(mediadata.mp4(seconds=16))
    (tmp_path / "ok.mp4").write_bytes(mediadata.mp4(seconds=5))
    (tmp_path / "a.wav").write_bytes(mediadata.wav(seconds=12))
    (tmp_path / "b.wav").write_bytes(mediadata.wav(seconds=5))

    async def body(base: str, _: list[str]) -> tuple[tuple[str, ...], list[HttpRequest]]:
        sent: list[HttpRequest] = []
        task = VideoTask(
            model=V20,
            prompt="p",
            images=[REF],
            videos=[Video.from_url(f"{base}/f/long.mp4"), Video.from_url(f"{base}/gone")],
            audios=[Audio.from_url(f"{base}/f/a.wav"), Audio.from_url(f"{base}/f/b.wav")],
        )
        async with _client(sent) as client:
            with pytest.raises(InvalidTaskSpec) as info:
                await client.submit(task)
            good = VideoTask(
                model=V20,
                prompt="p",
                images=[REF],
                videos=[Video.from_url(f"{base}/f/ok.mp4"), Video.from_url(f"{base}/broken")],
            )
            await client.submit(good)
        return info.value.fields, sent

    fields, sent = _run(tmp_path, body)
    assert set(fields) == {"videos[0].url", "videos[1].url", "audios"}
    assert len(sent) == 1  # only the good task was sent; a 503 is left to the provider
