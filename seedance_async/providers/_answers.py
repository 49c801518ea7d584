"""Reading status answers: provider status words to neutral states, result URLs made whole."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

import attrs

from seedance_async.core._errors import UnknownStatus
from seedance_async.providers._json import Node
from seedance_async.spec._status import TaskState, TaskStatus

__all__ = ["resolve_result_urls", "state_of"]


def state_of(
    word: Node, table: Mapping[str, TaskState], *, task_id: str, provider: str
) -> TaskState:
    """The neutral state of a provider's status word (case and surrounding spaces ignored).

    Args:
        word: the status field of the answer.
        table: the provider's words (lower case) and their neutral states.
        task_id: the task the answer is about, for the error.
        provider: the adapter name, for the error.

    Raises:
        UnknownStatus: the word is not in ``table``; a guess would either end a task that
            is still going or keep polling one that has ended.
        MalformedResponse: the field is not a string.
    """
    text = word.text()
    state = table.get(text.strip().lower())
    if state is None:
        raise UnknownStatus(
            text, task_id=task_id, path=word.path, provider=provider, status=word.status
        )
    return state


def resolve_result_urls(status: TaskStatus, base_url: str) -> TaskStatus:
    """``status`` with relative result URLs made absolute against the API's base URL.

    Some gateways answer ``"video_url": "/files/abc.mp4"``; a downloader cannot fetch
    that. Absolute URLs and missing ones are left alone.
    """

    def absolute(url: str | None) -> str | None:
        if url and not urlsplit(url).scheme:
            return urljoin(base_url.rstrip("/") + "/", url)
        return url

    video_url, last_frame_url = absolute(status.video_url), absolute(status.last_frame_url)
    if (video_url, last_frame_url) == (status.video_url, status.last_frame_url):
        return status
    return attrs.evolve(status, video_url=video_url, last_frame_url=last_frame_url)
