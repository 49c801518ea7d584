"""S3Uploader against a real S3-compatible HTTP server (moto's, started by the tests)."""

from __future__ import annotations

import hashlib
import itertools
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from seedance_async import ConfigurationError, UploadError
from seedance_async.upload import PRESIGN_MAX_SECONDS, S3Uploader, Upload, parse_s3_url
from tests.s3server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server, moto_server

_names = itertools.count()


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server


@pytest.fixture
async def bucket(s3: S3Server) -> str:
    name = f"media-{next(_names)}"
    await s3.create_bucket(name)
    return name


def _uploader(s3: S3Server, bucket: str, **options: object) -> S3Uploader:
    return S3Uploader(
        bucket,
        "runs/one",
        endpoint_url=s3.endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def uploader(s3: S3Server, bucket: str) -> AsyncIterator[S3Uploader]:
    async with _uploader(s3, bucket) as up:
        yield up


async def _fetch(url: str) -> tuple[bytes, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        answer.raise_for_status()
        return await answer.read(), answer.headers["Content-Type"]


def _video(tmp_path: Path, data: bytes = b"\x00\x00\x00\x18ftypmp42 not really a video") -> Path:
    path = tmp_path / "Clip.MP4"
    path.write_bytes(data)
    return path


async def test_a_file_and_bytes_come_back_whole_from_their_presigned_urls(
    uploader: S3Uploader, tmp_path: Path
) -> None:
    """What is stored is what a presigned GET returns, under its sha256 and extension."""
    path = _video(tmp_path)
    data = path.read_bytes()
    url = await uploader(
        Upload(content_type="video/mp4", valid_for=600, field="videos[0]", path=str(path))
    )
    assert await _fetch(url) == (data, "video/mp4")
    parts = urlsplit(url)
    assert parts.path.endswith(f"/runs/one/{hashlib.sha256(data).hexdigest()}.mp4")
    query = parse_qs(parts.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["4200"]  # valid_for + the default hour of margin

    png = b"\x89PNG\r\n\x1a\n" + b"\x01" * 64
    url = await uploader(
        Upload(content_type="image/png", valid_for=60, field="images[0]", data=png)
    )
    assert await _fetch(url) == (png, "image/png")
    assert urlsplit(url).path.endswith(f"{hashlib.sha256(png).hexdigest()}.png")
    assert uploader.stored == 2


async def test_a_rerun_finds_the_object_and_puts_nothing(
    s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    """Content-addressed keys: the same bytes again cost a HEAD in a new process, nothing
    in the same one, and never a second PUT."""
    path = _video(tmp_path)
    upload = Upload(content_type="video/mp4", valid_for=600, field="videos[0]", path=str(path))
    async with _uploader(s3, bucket) as first:
        await s3.start_recording()
        url = await first(upload)
        again = await first(upload)
        assert await s3.recorded() == [
            ("HEAD", f"/{bucket}/{urlsplit(url).path.split('/', 2)[2]}"),
            ("PUT", f"/{bucket}/{urlsplit(url).path.split('/', 2)[2]}"),
        ]
        assert urlsplit(again).path == urlsplit(url).path
    async with _uploader(s3, bucket) as rerun:  # a re-run: a new uploader, the same bucket
        await s3.start_recording()
        url = await rerun(upload)
        methods = [method for method, _ in await s3.recorded()]
        assert methods == ["HEAD"]
        assert rerun.stored == 0
    assert await _fetch(url) == (path.read_bytes(), "video/mp4")
    assert len(await s3.keys(bucket)) == 1


async def test_other_bytes_get_another_key(uploader: S3Uploader, s3: S3Server, bucket: str) -> None:
    for data in (b"one", b"two", b"one"):
        await uploader(
            Upload(content_type="audio/mpeg", valid_for=60, field="audios[0]", data=data)
        )
    assert await s3.keys(bucket) == sorted(
        f"runs/one/{hashlib.sha256(d).hexdigest()}.mp3" for d in (b"one", b"two")
    )


def test_an_expiry_beyond_seven_days_is_refused_when_configured() -> None:
    with pytest.raises(ConfigurationError, match="7 days"):
        S3Uploader("media", expires_in=PRESIGN_MAX_SECONDS + 1)
    with pytest.raises(ConfigurationError, match="negative"):
        S3Uploader("media", margin=-1)
    assert S3Uploader("media", expires_in=PRESIGN_MAX_SECONDS).expires_in == PRESIGN_MAX_SECONDS


async def test_a_task_that_needs_a_url_longer_than_s3_allows_is_refused_before_storing(
    uploader: S3Uploader, s3: S3Server, bucket: str
) -> None:
    """The URL must outlive the task; S3 cannot sign past 7 days: an error naming the field."""
    upload = Upload(
        content_type="video/mp4", valid_for=PRESIGN_MAX_SECONDS, field="videos[1]", data=b"v"
    )
    with pytest.raises(UploadError, match="7 days") as caught:
        await uploader(upload)
    assert caught.value.field == "videos[1]"
    assert await s3.keys(bucket) == []


async def test_a_fixed_expiry_shorter_than_the_task_needs_is_refused(
    s3: S3Server, bucket: str
) -> None:
    async with _uploader(s3, bucket, expires_in=3600) as fixed:
        url = await fixed(Upload(content_type="image/png", valid_for=3600, field="i", data=b"p"))
        assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["3600"]
        with pytest.raises(UploadError, match="longer than the uploader's expires_in=3600"):
            await fixed(Upload(content_type="image/png", valid_for=3601, field="i", data=b"q"))


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET_ACCESS_KEY not in text
        assert ACCESS_KEY_ID not in text


async def test_a_failing_store_names_the_file_not_the_credentials(
    s3: S3Server, tmp_path: Path
) -> None:
    """A missing bucket: a typed error with the file, the field and the store's code."""
    path = _video(tmp_path)
    async with _uploader(s3, "no-such-bucket") as up:
        with pytest.raises(UploadError) as caught:
            await up(
                Upload(content_type="video/mp4", valid_for=60, field="videos[0]", path=str(path))
            )
    error = caught.value
    assert error.field == "videos[0]"
    assert error.source == str(path)
    assert str(path) in str(error)
    assert "NoSuchBucket" in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__
    _assert_no_secret(str(error), repr(error), repr(up))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_store_is_an_upload_error() -> None:
    up = S3Uploader(
        "media",
        endpoint_url=f"http://127.0.0.1:{_closed_port()}",
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    async with up:
        with pytest.raises(UploadError, match="cannot reach the store") as caught:
            await up(Upload(content_type="image/png", valid_for=60, field="images[2]", data=b"x"))
    assert caught.value.field == "images[2]"
    _assert_no_secret(str(caught.value))


async def test_an_unreadable_file_is_an_upload_error_naming_it(
    uploader: S3Uploader, tmp_path: Path
) -> None:
    missing = tmp_path / "gone.mp4"
    with pytest.raises(UploadError, match=r"gone\.mp4") as caught:
        await uploader(
            Upload(content_type="video/mp4", valid_for=60, field="videos[0]", path=str(missing))
        )
    assert caught.value.source == str(missing)


def test_the_repr_shows_the_bucket_and_never_the_credentials() -> None:
    up = S3Uploader(
        "media",
        "a/b/",
        endpoint_url="http://127.0.0.1:9000",
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        session_token="session-token-secret",
    )
    text = repr(up)
    assert text == "S3Uploader(bucket='media', prefix='a/b/', endpoint_url='http://127.0.0.1:9000')"
    assert "session-token-secret" not in repr(vars(up))
    _assert_no_secret(repr(vars(up)))


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://media", "media", ""),
        ("s3://media/", "media", ""),
        ("s3://media/seedance", "media", "seedance/"),
        ("s3://media//a/b//", "media", "a/b/"),
    ],
)
def test_s3_urls_name_a_bucket_and_a_prefix(url: str, bucket: str, prefix: str) -> None:
    assert parse_s3_url(url) == (bucket, prefix)
    up = S3Uploader.from_url(url)
    assert (up.bucket, up.prefix) == (bucket, prefix)


@pytest.mark.parametrize("url", ["media/x", "https://media/x", "s3://", "s3:///prefix"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="s3://BUCKET"):
        parse_s3_url(url)
