"""A third-party style adapter, loaded through a (faked) entry point in test_registry.py.

It implements :class:`seedance_async.providers.ProviderAdapter` with a tiny JSON protocol:
``POST /jobs`` → ``{"job": id}``, ``GET /jobs/{id}`` → ``{"job": id, "state": ...}``.
"""

from __future__ import annotations

from seedance_async.core._errors import MalformedResponse, ProviderError, Violation
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.providers import ListQuery, ProviderCapabilities, SubmitAccepted, TaskPage
from seedance_async.providers._checks import check_capabilities
from seedance_async.providers._error_map import classify_error
from seedance_async.providers._json import parse_json
from seedance_async.spec._status import TaskState, TaskStatus
from seedance_async.spec._task import VideoTask

__all__ = ["FakeAdapter", "not_an_adapter"]

_STATES = {"waiting": TaskState.QUEUED, "done": TaskState.SUCCEEDED, "broken": TaskState.FAILED}


class FakeAdapter:
    """A minimal provider: no frames, seeds in [0, 99], one option (``prefix``)."""

    def __init__(self, *, prefix: str = "/jobs", name: str = "fakeprov") -> None:
        self.name = name
        self.prefix = prefix
        self.capabilities = ProviderCapabilities(frames=False, seed_min=0, seed_max=99)

    def check(self, task: VideoTask) -> list[Violation]:
        """Capability violations."""
        return check_capabilities(self.name, self.capabilities, task)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """The key in a custom header."""
        return {"X-Fake-Key": api_key}

    def build_submit(self, task: VideoTask) -> HttpRequest:
        """``POST {prefix}`` with model and prompt."""
        return HttpRequest(
            method="POST",
            path=self.prefix,
            json={"model": task.model, "prompt": task.prompt},
            paid=True,
        )

    def parse_submit(self, response: HttpResponse) -> SubmitAccepted:
        """``{"job": id}``."""
        if not response.ok:
            raise self.classify_error(response)
        return SubmitAccepted(
            task_id=parse_json(response, self.name).object().require("job").text()
        )

    def build_status(self, task_id: str) -> HttpRequest:
        """``GET {prefix}/{id}``."""
        return HttpRequest(method="GET", path=f"{self.prefix}/{task_id}")

    def parse_status(self, response: HttpResponse, task_id: str) -> TaskStatus:
        """``{"job", "state"}``; unknown states are running."""
        if not response.ok:
            raise self.classify_error(response)
        root = parse_json(response, self.name).object()
        raw = root.require("state").text()
        return TaskStatus(
            provider=self.name,
            task_id=root.opt_text("job") or task_id,
            state=_STATES.get(raw, TaskState.RUNNING),
            provider_status=raw,
        )

    def build_cancel(self, task_id: str) -> HttpRequest | None:
        """No cancel."""
        return None

    def parse_cancel(self, response: HttpResponse, task_id: str) -> None:
        """No cancel."""
        raise MalformedResponse("fake provider has no cancel", provider=self.name)

    def build_list(self, query: ListQuery) -> HttpRequest | None:
        """No list."""
        return None

    def parse_list(self, response: HttpResponse) -> TaskPage:
        """No list."""
        raise MalformedResponse("fake provider has no list", provider=self.name)

    def classify_error(self, response: HttpResponse) -> ProviderError:
        """By HTTP status only."""
        return classify_error(self.name, response, code=None, message=response.text()[:100] or None)


def not_an_adapter(**options: object) -> object:
    """A broken plugin factory: returns something that is not an adapter."""
    return object()
