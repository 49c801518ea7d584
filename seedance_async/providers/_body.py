"""What every request body shares: reference media as sent, the model id, extra fields."""

from __future__ import annotations

from typing import Any

from seedance_async.core._errors import InvalidTaskSpec, Violation
from seedance_async.spec._catalog import model_for_provider
from seedance_async.spec._image_sniff import NotAnImage, sniff_bytes
from seedance_async.spec._media_sniff import NotMedia, sniff_media_bytes
from seedance_async.spec._task import VideoTask
from seedance_async.spec._vocab import encode_data_url

__all__ = ["audio_url_of", "image_url_of", "merge_extra", "video_url_of", "wire_model"]


def image_url_of(task: VideoTask, index: int) -> str:
    """The URL to send for ``task.images[index]``: as given, or bytes as a data URL.

    Raises:
        InvalidTaskSpec: the image is a local path that was not loaded first
            (:func:`seedance_async.load_local_images` does that off the event loop).
    """
    image = task.images[index]
    if image.url is not None:
        return image.url
    if image.data is not None:
        try:
            fmt = sniff_bytes(image.data).format
        except NotAnImage as exc:
            raise InvalidTaskSpec(
                [Violation(field=f"images[{index}].data", rule=str(exc))]
            ) from None
        return encode_data_url(image.data, fmt)
    raise InvalidTaskSpec(
        [
            Violation(
                field=f"images[{index}].path",
                rule="local image files must be loaded before a request is built (load_local_images)",
                value=image.path,
            )
        ]
    )


def audio_url_of(task: VideoTask, index: int) -> str:
    """The URL to send for ``task.audios[index]``: as given, or bytes as a data URL.

    Raises:
        InvalidTaskSpec: a local file that was not loaded first, or bytes that are not
            WAV or MP3.
    """
    audio = task.audios[index]
    if audio.url is not None:
        return audio.url
    if audio.data is not None:
        try:
            fmt = sniff_media_bytes(audio.data).container
        except NotMedia as exc:
            raise InvalidTaskSpec(
                [Violation(field=f"audios[{index}].data", rule=str(exc))]
            ) from None
        return encode_data_url(audio.data, fmt, kind="audio")
    raise InvalidTaskSpec(
        [
            Violation(
                field=f"audios[{index}].path",
                rule="local audio files must be loaded before a request is built (load_local_images)",
                value=audio.path,
            )
        ]
    )


def video_url_of(task: VideoTask, index: int) -> str:
    """The URL to send for ``task.videos[index]``.

    Raises:
        InvalidTaskSpec: the video is a local file or bytes (it needs an uploader first).
    """
    video = task.videos[index]
    if video.url is not None:
        return video.url
    raise InvalidTaskSpec(
        [
            Violation(
                field=f"videos[{index}]",
                rule="reference videos are sent as URLs or asset ids: upload local files first",
                value=video.path or "inline data",
            )
        ]
    )


def merge_extra(body: dict[str, Any], task: VideoTask, provider: str) -> dict[str, Any]:
    """``body`` with the task's ``extra`` fields added; a clash is refused, never overwritten.

    Raises:
        InvalidTaskSpec: an ``extra`` key names a field the body already has.
    """
    if not task.extra:
        return body
    clash = sorted(set(task.extra) & set(body))
    if clash:
        raise InvalidTaskSpec(
            [
                Violation(
                    field=f"extra.{key}",
                    rule=f"provider {provider} writes {key} itself; extra may not override it",
                    value=key,
                )
                for key in clash
            ]
        )
    return {**body, **task.extra}


def wire_model(task: VideoTask, naming: str) -> str:
    """The model id to send: a neutral name translated to the provider's own id."""
    return model_for_provider(task.model, naming)[0]
