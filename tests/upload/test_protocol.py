"""The uploader protocol: any async callable, its failures typed and naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from seedance_async import UploadError
from seedance_async.upload import Upload, Uploader, call_uploader, extension_for


async def _store(upload: Upload) -> str:
    data = await upload.read()
    return f"https://cdn.example/{Upload.digest(data)}{extension_for(upload.content_type)}"


async def test_a_plain_async_function_is_an_uploader(tmp_path: Path) -> None:
    assert isinstance(_store, Uploader)
    path = tmp_path / "a.png"
    path.write_bytes(b"png bytes")
    upload = Upload(content_type="image/png", valid_for=10, field="images[0]", path=str(path))
    url = await call_uploader(_store, upload)
    assert url == f"https://cdn.example/{Upload.digest(b'png bytes')}.png"


def test_an_upload_has_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Upload(content_type="image/png", valid_for=1, field="f")
    with pytest.raises(ValueError, match="exactly one"):
        Upload(content_type="image/png", valid_for=1, field="f", path="a", data=b"a")
    upload = Upload(content_type="image/png", valid_for=1, field="f", data=b"secret pixels")
    assert "secret pixels" not in repr(upload)
    assert upload.source == "<13 bytes>"


async def test_any_failure_of_the_uploader_becomes_an_upload_error_naming_the_file() -> None:
    async def broken(upload: Upload) -> str:
        raise RuntimeError("bucket on fire; Authorization: Bearer abcdef123456")

    upload = Upload(content_type="video/mp4", valid_for=1, field="videos[0]", path="clip.mp4")
    with pytest.raises(UploadError) as caught:
        await call_uploader(broken, upload)
    error = caught.value
    assert (error.field, error.source) == ("videos[0]", "clip.mp4")
    assert "RuntimeError: bucket on fire" in str(error)
    assert "abcdef123456" not in str(error)
    assert isinstance(error.__cause__, RuntimeError)


@pytest.mark.parametrize("answer", ["ftp://host/x", "s3://bucket/key", "", None, 42])
async def test_an_answer_that_is_not_an_http_url_is_refused(answer: object) -> None:
    async def odd(upload: Upload) -> str:
        return answer  # type: ignore[return-value]

    upload = Upload(content_type="image/png", valid_for=1, field="images[1]", data=b"x")
    with pytest.raises(UploadError, match=r"images\[1\].*not http\(s\)"):
        await call_uploader(odd, upload)


@pytest.mark.parametrize(
    ("content_type", "path", "extension"),
    [
        ("image/jpeg", None, ".jpg"),
        ("video/quicktime", "x.bin", ".mov"),
        ("Audio/MPEG; charset=binary", None, ".mp3"),
        ("application/x-unknown", "clip.MKV", ".mkv"),
        ("application/x-unknown", None, ""),
    ],
)
def test_extensions_come_from_the_content_type_then_the_path(
    content_type: str, path: str | None, extension: str
) -> None:
    assert extension_for(content_type, path) == extension
