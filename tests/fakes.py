"""An in-memory Ark provider for tracker tests: a handler for ``FunctionTransport``.

Task state follows the injected clock, so tests drive time with ``FakeClock`` and never
sleep. Scripted faults let a test make exactly one request fail in exactly one way.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from urllib.parse import parse_qsl

from seedance_async.core._errors import OutcomeUnknown, RequestNotSent
from seedance_async.core._wire import HttpRequest, HttpResponse

Fault = Callable[[HttpRequest], HttpResponse | None]


class FakeArk:
    """Ark's task API in memory: create, get, list (filter.task_ids, filter.model), delete.

    Attributes:
        created: every task created, in order (the billing ledger).
        queue_time / run_time: seconds a task spends queued, then running.
        failures: task ids that end ``failed`` with ``fail_code``.
        faults: scripted faults consumed one per matching request.
    """

    def __init__(
        self,
        now: Callable[[], float],
        *,
        wall0: float = 1_700_000_000.0,
        queue_time: float = 5.0,
        run_time: float = 30.0,
    ) -> None:
        self.now = now
        self.wall0 = wall0
        self.queue_time = queue_time
        self.run_time = run_time
        self.tasks: dict[str, dict[str, object]] = {}
        self.created: list[dict[str, object]] = []
        self.failures: set[str] = set()
        self.fail_code = "InternalServiceError"
        self.cancelled: set[str] = set()
        self.faults: deque[tuple[str, Fault]] = deque()
        self.running_peak = 0
        self.calls: dict[str, int] = {"POST": 0, "GET": 0, "LIST": 0, "DELETE": 0}

    # -- scripting ----------------------------------------------------------------------

    def fault(self, kind: str, fault: Fault) -> None:
        """Apply ``fault`` to the next request of ``kind`` (POST, GET, LIST, DELETE)."""
        self.faults.append((kind, fault))

    def _take_fault(self, kind: str, request: HttpRequest) -> HttpResponse | None:
        for i, (k, fault) in enumerate(self.faults):
            if k == kind:
                del self.faults[i]
                return fault(request)
        return None

    # -- state --------------------------------------------------------------------------

    def _status(self, task: dict[str, object]) -> str:
        tid = str(task["id"])
        if tid in self.cancelled:
            return "cancelled"
        age = self.now() - float(task["t0"])  # type: ignore[arg-type]
        if age < self.queue_time:
            return "queued"
        if age < self.queue_time + self.run_time:
            return "running"
        return "failed" if tid in self.failures else "succeeded"

    def _updated_at(self, task: dict[str, object], status: str) -> float:
        """The time of the task's last transition, as Ark reports it."""
        t0 = float(task["t0"])  # type: ignore[arg-type]
        if status == "queued":
            return t0
        if status == "running":
            return t0 + self.queue_time
        if status == "cancelled":
            return self.now()
        return t0 + self.queue_time + self.run_time

    def _view(self, task: dict[str, object]) -> dict[str, object]:
        status = self._status(task)
        out: dict[str, object] = {
            "id": task["id"],
            "model": task["model"],
            "status": status,
            "created_at": int(self.wall0 + float(task["t0"])),  # type: ignore[arg-type]
            "updated_at": int(self.wall0 + self._updated_at(task, status)),
        }
        if status == "succeeded":
            out["content"] = {"video_url": f"https://cdn.example/{task['id']}.mp4"}
            out["usage"] = {"completion_tokens": 100, "total_tokens": 100}
        if status == "failed":
            out["error"] = {"code": self.fail_code, "message": "generation failed"}
        return out

    def running_now(self) -> int:
        """Tasks currently queued or running (not final)."""
        return sum(1 for t in self.tasks.values() if self._status(t) in ("queued", "running"))

    # -- the handler ------------------------------------------------------------------------

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tasks_path = "/contents/generations/tasks"
        if request.method == "POST":
            self.calls["POST"] += 1
            faulted = self._take_fault("POST", request)
            if faulted is not None:
                return faulted
            return self._create(request)
        if request.method == "DELETE":
            self.calls["DELETE"] += 1
            tid = request.path.rsplit("/", 1)[1]
            task = self.tasks.get(tid)
            if task is None:
                return HttpResponse.from_json(
                    404, {"error": {"code": "NotFound", "message": "no task"}}
                )
            if self._status(task) != "queued":
                return HttpResponse.from_json(
                    409, {"error": {"code": "InvalidAction", "message": "not queued"}}
                )
            self.cancelled.add(tid)
            return HttpResponse.from_json(200, {})
        if request.path == tasks_path:
            self.calls["LIST"] += 1
            faulted = self._take_fault("LIST", request)
            if faulted is not None:
                return faulted
            query = request.query
            ids = [v for k, v in query if k == "filter.task_ids"]
            model = next((v for k, v in query if k == "filter.model"), None)
            items = [self._view(t) for t in reversed(list(self.tasks.values()))]
            if ids:
                items = [i for i in items if i["id"] in ids]
            if model:
                items = [i for i in items if i["model"] == model]
            return HttpResponse.from_json(200, {"total": len(items), "items": items})
        self.calls["GET"] += 1
        faulted = self._take_fault("GET", request)
        if faulted is not None:
            return faulted
        tid = request.path.rsplit("/", 1)[1]
        task = self.tasks.get(tid)
        if task is None:
            return HttpResponse.from_json(
                404, {"error": {"code": "NotFound", "message": "no task"}}
            )
        return HttpResponse.from_json(200, self._view(task))

    def create_from(self, request: HttpRequest) -> str:
        """Create a task from a submit request (also used by faults that drop the answer)."""
        body = request.json
        assert isinstance(body, dict)
        tid = f"cgt-{len(self.created) + 1:05d}"
        task = {
            "id": tid,
            "model": body["model"],
            "t0": self.now(),
            "body": json.dumps(body, sort_keys=True),
        }
        self.tasks[tid] = task
        self.created.append(task)
        self.running_peak = max(self.running_peak, self.running_now())
        return tid

    def _create(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.from_json(200, {"id": self.create_from(request)})


def drop_answer_after_create(ark: FakeArk) -> Fault:
    """A fault that creates the task, then loses the answer (OutcomeUnknown)."""

    def fault(request: HttpRequest) -> HttpResponse | None:
        ark.create_from(request)
        raise OutcomeUnknown("connection reset after sending", provider="fake")

    return fault


def not_sent(_: HttpRequest) -> HttpResponse | None:
    """A fault where the connection was refused (nothing reached the server)."""
    raise RequestNotSent("connection refused", provider="fake")


def rate_limited(retry_after: str | None = "7") -> Fault:
    """A fault answering 429 (with an optional Retry-After)."""

    def fault(_: HttpRequest) -> HttpResponse | None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        body = {
            "error": {
                "code": "RateLimitExceeded.EndpointRPMExceeded",
                "message": "slow down",
                "type": "TooManyRequests",
            }
        }
        return HttpResponse.from_json(429, body, headers)

    return fault


def status_of(response_query: str) -> list[tuple[str, str]]:
    """Parse a query string (helper for assertions)."""
    return parse_qsl(response_query)
