"""Local images through an uploader: the request carries its URLs, and nothing is sent when
storing fails. Wire checks on the in-memory Ark; the S3 round trip is tests/upload's."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_async import (
    ApiKey,
    Audio,
    Client,
    ConfigurationError,
    Image,
    InvalidTaskSpec,
    Outcome,
    ProviderConfig,
    Tracker,
    UploadError,
    Video,
    VideoTask,
)
from seedance_async.client._uploading import url_lifetime
from seedance_async.providers import ProviderAdapter
from seedance_async.testing import FakeClock, FunctionTransport
from seedance_async.upload import Upload
from tests import imagedata, mediadata
from tests.fakes import FakeArk

MODEL = "doubao-seedance-1-0-pro-250528"
V20 = "doubao-seedance-2-0-260128"
CONFIG = ProviderConfig(
    alias="ark",
    adapter="ark",
    base_url="https://ark.example/api/v3",
    api_key=ApiKey("sk-test-upload"),
    submit_rpm=6000,
    poll_rps=1000,
)


class Store:
    """An uploader in memory: what it was given, and a URL per upload."""

    def __init__(self, *, fail: bool = False) -> None:
        self.uploads: list[Upload] = []
        self.fail = fail
        self.closed = 0

    async def __call__(self, upload: Upload, /) -> str:
        self.uploads.append(upload)
        if self.fail:
            raise ConnectionError("store unreachable")
        return f"https://media.example/{Upload.digest(await upload.read())}"

    async def aclose(self) -> None:
        self.closed += 1


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.ark = FakeArk(self.clock.now)

    def transport(self, _: ProviderConfig, __: ProviderAdapter, ___: ApiKey) -> FunctionTransport:
        return FunctionTransport(self.ark)

    def client(self, **options: object) -> Client:
        return Client(
            [CONFIG],
            clock=self.clock,
            transport_factory=self.transport,
            **options,  # type: ignore[arg-type]
        )

    def sent(self, kind: str) -> list[str]:
        """The URLs of one kind of content item (``image_url``, ``video_url``, ...) sent."""
        (created,) = self.ark.created
        body = json.loads(str(created["body"]))
        return [c[kind]["url"] for c in body["content"] if c["type"] == kind]

    def sent_images(self) -> list[str]:
        return self.sent("image_url")


def _frames(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "first.png"
    path.write_bytes(imagedata.png(640, 480))
    return path, imagedata.jpeg(640, 480)


def _task(path: Path, last: bytes, **fields: object) -> VideoTask:
    return VideoTask(
        model=MODEL,
        prompt="a corgi runs",
        images=[Image.from_path(path), Image.from_bytes(last, role="last_frame")],
        **fields,  # type: ignore[arg-type]
    )


async def test_by_default_images_go_inline_even_with_an_uploader(tmp_path: Path) -> None:
    path, last = _frames(tmp_path)
    world, store = World(), Store()
    async with world.client(uploader=store) as client:
        await client.submit(_task(path, last))
    assert [u.split(",")[0] for u in world.sent_images()] == [
        "data:image/png;base64",
        "data:image/jpeg;base64",
    ]
    assert store.uploads == []
    assert store.closed == 1  # the client closes what it was given


async def test_with_upload_all_the_request_carries_the_uploaders_urls(tmp_path: Path) -> None:
    """A local file and in-memory bytes alike: stored, then sent as URLs in their roles."""
    path, last = _frames(tmp_path)
    world, store = World(), Store()
    async with world.client(uploader=store, upload_all=True) as client:
        await client.submit(_task(path, last))
    first_upload, last_upload = store.uploads
    assert (first_upload.field, first_upload.path, first_upload.content_type) == (
        "images[0]",
        str(path),
        "image/png",
    )
    assert (last_upload.field, last_upload.data, last_upload.content_type) == (
        "images[1]",
        last,
        "image/jpeg",
    )
    # No deadline: the URL must outlive a task queued until Ark's 48 h default expiry.
    assert {u.valid_for for u in store.uploads} == {172_800}
    assert world.sent_images() == [
        f"https://media.example/{Upload.digest(path.read_bytes())}",
        f"https://media.example/{Upload.digest(last)}",
    ]


async def test_an_image_given_by_url_is_not_uploaded(tmp_path: Path) -> None:
    world, store = World(), Store()
    task = VideoTask(model=MODEL, prompt="x", images=[Image.from_url("https://cdn.example/a.png")])
    async with world.client(uploader=store, upload_all=True) as client:
        await client.submit(task)
    assert store.uploads == []
    assert world.sent_images() == ["https://cdn.example/a.png"]


async def test_a_bad_image_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "tiny.png"
    path.write_bytes(imagedata.png(100, 100))  # under the 300 px minimum side
    world, store = World(), Store()
    async with world.client(uploader=store, upload_all=True) as client:
        with pytest.raises(InvalidTaskSpec, match=r"images\[0\]"):
            await client.submit(VideoTask(model=MODEL, prompt="x", images=[Image.from_path(path)]))
    assert store.uploads == []
    assert world.ark.calls["POST"] == 0


async def test_a_failing_uploader_stops_the_submit_naming_the_file(tmp_path: Path) -> None:
    path, last = _frames(tmp_path)
    world = World()
    async with world.client(uploader=Store(fail=True), upload_all=True) as client:
        with pytest.raises(UploadError, match=r"images\[0\] \(.*first\.png\).*unreachable"):
            await client.submit(_task(path, last))
    assert world.ark.calls["POST"] == 0


def test_upload_all_without_an_uploader_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="needs an uploader"):
        Client([CONFIG], upload_all=True)


async def test_the_tracker_uploads_for_its_deadline_and_rejects_a_task_it_cannot_store(
    tmp_path: Path,
) -> None:
    """The URL lives as long as the task's deadline; a store failure ends the task
    rejected with the file named, and nothing is sent or paid."""
    path, last = _frames(tmp_path)
    world, store = World(), Store()
    async with (
        world.client() as client,
        Tracker(client, uploader=store, upload_all=True, deadline=600) as tracker,
    ):
        # The upload reads the files in a worker thread, in real time: let virtual time run
        # only once the task is submitted, or its deadline passes while the files are read.
        submitted = anyio.Event()
        client.events.add_callback(
            lambda e: submitted.set() if e.kind.value == "submitted" else None
        )
        handle = await tracker.submit(_task(path, last))
        with anyio.fail_after(30):
            await submitted.wait()
        await world.clock.run_for(1.0)
        while tracker.pending:
            await world.clock.run_for(5.0)
        assert (await handle.result()).outcome is Outcome.SUCCEEDED
    assert [u.valid_for for u in store.uploads] == [600, 600]
    assert store.closed == 1
    assert world.sent_images()[0].startswith("https://media.example/")

    world = World()
    async with (
        world.client() as client,
        Tracker(client, uploader=Store(fail=True), upload_all=True) as tracker,
    ):
        handle = await tracker.submit(_task(path, last))
        result = await handle.result()
    assert result.outcome is Outcome.REJECTED
    assert result.reason is not None
    assert "first.png" in result.reason
    assert world.ark.calls["POST"] == 0


def test_the_tracker_refuses_upload_all_when_nobody_has_an_uploader() -> None:
    with pytest.raises(ConfigurationError, match="needs an uploader"):
        Tracker(Client([CONFIG]), upload_all=True)


@given(
    deadline=st.none() | st.floats(min_value=-10, max_value=1e7, allow_nan=False),
    expiry=st.none() | st.integers(min_value=3600, max_value=259_200),
)
def test_a_url_lives_until_the_deadline_and_never_past_the_providers_expiry(
    deadline: float | None, expiry: int | None
) -> None:
    task = VideoTask(model=MODEL, prompt="x", execution_expires_after=expiry)
    lifetime = url_lifetime(task, deadline)
    ceiling = expiry or 172_800
    assert 0 <= lifetime <= ceiling
    if deadline is None:
        assert lifetime == ceiling
    else:
        assert lifetime == max(0.0, min(deadline, ceiling))


def _multimodal(tmp_path: Path) -> VideoTask:
    clip, voice, still = tmp_path / "clip.mp4", tmp_path / "voice.wav", tmp_path / "still.png"
    clip.write_bytes(mediadata.mp4(seconds=5))
    voice.write_bytes(mediadata.wav(seconds=3))
    still.write_bytes(imagedata.png(640, 480))
    return VideoTask(
        model=V20,
        prompt="the corgi of [Image1] dances like [Video1] to [Audio1]",
        images=[Image.from_path(still, role="reference_image")],
        videos=[Video.from_path(clip)],
        audios=[Audio.from_path(voice)],
    )


async def test_a_local_video_goes_through_the_uploader_and_the_rest_stays_inline(
    tmp_path: Path,
) -> None:
    """No provider takes a video inline: with an uploader it is stored and sent as its URL;
    the image and the audio clip, which Ark takes inline, stay inline."""
    task = _multimodal(tmp_path)
    world, store = World(), Store()
    async with world.client(uploader=store) as client:
        await client.submit(task)
    (upload,) = store.uploads
    assert (upload.field, upload.content_type) == ("videos[0]", "video/mp4")
    assert upload.path == str(tmp_path / "clip.mp4")
    clip = (tmp_path / "clip.mp4").read_bytes()
    assert world.sent("video_url") == [f"https://media.example/{Upload.digest(clip)}"]
    assert world.sent("image_url")[0].startswith("data:image/png;base64,")
    assert world.sent("audio_url")[0].startswith("data:audio/wav;base64,")


async def test_upload_all_stores_the_image_and_the_audio_too(tmp_path: Path) -> None:
    task = _multimodal(tmp_path)
    world, store = World(), Store()
    async with world.client(uploader=store, upload_all=True) as client:
        await client.submit(task)
    assert sorted((u.field, u.content_type) for u in store.uploads) == [
        ("audios[0]", "audio/wav"),
        ("images[0]", "image/png"),
        ("videos[0]", "video/mp4"),
    ]
    for kind in ("image_url", "video_url", "audio_url"):
        (url,) = world.sent(kind)
        assert url.startswith("https://media.example/")


async def test_a_local_video_without_an_uploader_is_refused_naming_the_field(
    tmp_path: Path,
) -> None:
    """All problems at once, the missing uploader among them; nothing is sent."""
    task = _multimodal(tmp_path)
    (tmp_path / "still.png").write_bytes(imagedata.png(100, 100))  # too small as well
    world = World()
    async with world.client() as client:
        with pytest.raises(InvalidTaskSpec) as caught:
            await client.submit(task)
    fields = caught.value.fields
    assert "videos[0]" in fields
    assert any(f.startswith("images[0]") for f in fields)
    (missing,) = [v for v in caught.value.violations if v.field == "videos[0]"]
    assert "needs an uploader" in missing.rule
    assert "--upload" in missing.rule
    assert world.ark.calls["POST"] == 0


async def test_a_bad_local_video_is_refused_before_it_is_stored(tmp_path: Path) -> None:
    task = _multimodal(tmp_path)
    (tmp_path / "clip.mp4").write_bytes(mediadata.mp4(seconds=30))  # past the 15 s limit
    world, store = World(), Store()
    async with world.client(uploader=store) as client:
        with pytest.raises(InvalidTaskSpec, match=r"videos\[0\]"):
            await client.submit(task)
    assert store.uploads == []
    assert world.ark.calls["POST"] == 0


async def test_the_tracker_refuses_a_local_video_without_an_uploader_and_takes_it_with_one(
    tmp_path: Path,
) -> None:
    """Eligibility judges the task as it will be sent: refused at submit without an
    uploader (naming the field), accepted and uploaded with the tracker's own."""
    task = _multimodal(tmp_path)
    world = World()
    async with world.client() as client, Tracker(client) as tracker:
        with pytest.raises(
            InvalidTaskSpec, match=r"videos\[0\]: a local video .* needs an uploader"
        ):
            await tracker.submit(task)
    world, store = World(), Store()
    async with world.client() as client, Tracker(client, uploader=store) as tracker:
        handle = await tracker.submit(task)
        while tracker.pending:
            await world.clock.run_for(5.0)
        assert (await handle.result()).outcome is Outcome.SUCCEEDED
    assert [u.field for u in store.uploads] == ["videos[0]"]
    assert world.sent("video_url")[0].startswith("https://media.example/")
