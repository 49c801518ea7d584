"""Local images through an uploader: the request carries its URLs, and nothing is sent when
storing fails. Wire checks on the in-memory Ark; the S3 round trip is tests/upload's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seedance_async import (
    ApiKey,
    Client,
    ConfigurationError,
    Image,
    InvalidTaskSpec,
    Outcome,
    ProviderConfig,
    Tracker,
    UploadError,
    VideoTask,
)
from seedance_async.client._uploading import url_lifetime
from seedance_async.providers import ProviderAdapter
from seedance_async.testing import FakeClock, FunctionTransport
from seedance_async.upload import Upload
from tests import imagedata
from tests.fakes import FakeArk

MODEL = "doubao-seedance-1-0-pro-250528"
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

    def sent_images(self) -> list[str]:
        (created,) = self.ark.created
        body = json.loads(str(created["body"]))
        return [c["image_url"]["url"] for c in body["content"] if c["type"] == "image_url"]


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


async def test_with_upload_images_the_request_carries_the_uploaders_urls(tmp_path: Path) -> None:
    """A local file and in-memory bytes alike: stored, then sent as URLs in their roles."""
    path, last = _frames(tmp_path)
    world, store = World(), Store()
    async with world.client(uploader=store, upload_images=True) as client:
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
    async with world.client(uploader=store, upload_images=True) as client:
        await client.submit(task)
    assert store.uploads == []
    assert world.sent_images() == ["https://cdn.example/a.png"]


async def test_a_bad_image_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "tiny.png"
    path.write_bytes(imagedata.png(100, 100))  # under the 300 px minimum side
    world, store = World(), Store()
    async with world.client(uploader=store, upload_images=True) as client:
        with pytest.raises(InvalidTaskSpec, match=r"images\[0\]"):
            await client.submit(VideoTask(model=MODEL, prompt="x", images=[Image.from_path(path)]))
    assert store.uploads == []
    assert world.ark.calls["POST"] == 0


async def test_a_failing_uploader_stops_the_submit_naming_the_file(tmp_path: Path) -> None:
    path, last = _frames(tmp_path)
    world = World()
    async with world.client(uploader=Store(fail=True), upload_images=True) as client:
        with pytest.raises(UploadError, match=r"images\[0\] \(.*first\.png\).*unreachable"):
            await client.submit(_task(path, last))
    assert world.ark.calls["POST"] == 0


def test_upload_images_without_an_uploader_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="needs an uploader"):
        Client([CONFIG], upload_images=True)


async def test_the_tracker_uploads_for_its_deadline_and_rejects_a_task_it_cannot_store(
    tmp_path: Path,
) -> None:
    """The URL lives as long as the task's deadline; a store failure ends the task
    rejected with the file named, and nothing is sent or paid."""
    path, last = _frames(tmp_path)
    world, store = World(), Store()
    async with (
        world.client() as client,
        Tracker(client, uploader=store, upload_images=True, deadline=600) as tracker,
    ):
        handle = await tracker.submit(_task(path, last))
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
        Tracker(client, uploader=Store(fail=True), upload_images=True) as tracker,
    ):
        handle = await tracker.submit(_task(path, last))
        result = await handle.result()
    assert result.outcome is Outcome.REJECTED
    assert result.reason is not None
    assert "first.png" in result.reason
    assert world.ark.calls["POST"] == 0


def test_the_tracker_refuses_upload_images_when_nobody_has_an_uploader() -> None:
    with pytest.raises(ConfigurationError, match="needs an uploader"):
        Tracker(Client([CONFIG]), upload_images=True)


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
