"""The synchronous façade: the async core run on a private event-loop thread.

Scripts and notebooks call plain functions; each call is handed to an event loop that runs
in its own thread (anyio's blocking portal) and waited for. Nothing is copied: the code that
runs is :class:`~seedance_async.Client` and :func:`~seedance_async.generate`, with all their
safety. Because the loop is private, a call works the same whether the calling thread runs
an event loop (Jupyter, IPython) or not; it blocks the calling thread, as a sync call does.

Ctrl-C while a call waits cancels the call in the loop thread too. A paid submit that was
on the wire at that moment may have created a task: pass a ``journal`` to ``generate`` so
that calling it again finds the task instead of paying twice.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from seedance_async.client._cancel import CancelResult
from seedance_async.client._client import BudgetFactory, Client, TransportFactory
from seedance_async.client._generate import (
    Generation,
    ProviderChoice,
    resolve_provider,
)
from seedance_async.client._generate import (
    generate as _generate,
)
from seedance_async.config._provider import ProviderConfig
from seedance_async.core._errors import ConfigurationError
from seedance_async.policy._poll_schedule import PollSchedule
from seedance_async.policy._retry import RetryPolicy
from seedance_async.spec._handle import TaskHandle
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import VideoTask
from seedance_async.transport._download import DownloadResult

__all__ = ["SyncClient", "generate"]

T = TypeVar("T")
_THREAD_NAME = "seedance-async-loop"


def _wait(future: Future[T]) -> T:
    try:
        return future.result()
    except BaseException:
        # Ctrl-C (or any exception raised in this thread while waiting): stop the coroutine
        # in the loop thread as well, instead of leaving it running unseen.
        future.cancel()
        raise


def _run(portal: BlockingPortal, func: Callable[[], Awaitable[T]]) -> T:
    async def call() -> T:
        return await func()

    return _wait(portal.start_task_soon(call))


def generate(
    task: VideoTask,
    path: str | os.PathLike[str],
    *,
    provider: ProviderChoice | None = None,
    config: str | os.PathLike[str] | Mapping[str, ProviderConfig] | None = None,
    deadline: float | None = None,
    journal: str | os.PathLike[str] | None = None,
    client: SyncClient | None = None,
    cancel_on_deadline: bool = False,
    last_frame_path: str | os.PathLike[str] | None = None,
    schedule: PollSchedule | None = None,
    key: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Generation:
    """Generate one video and save it to ``path``, blocking until done.

    The same as :func:`seedance_async.generate` (see it for every argument and error), for
    code without an event loop, or inside one it must not await (a notebook cell). It runs
    on a private event-loop thread, or on ``client``'s when one is given.

    Args:
        journal: a path to the SQLite journal (an open ``SqliteJournal`` belongs to another
            event loop and cannot be shared).
        client: an open :class:`SyncClient` to use (its first alias is the default provider).

    Raises:
        The errors of :func:`seedance_async.generate`, and ``DeadlineExceeded`` with the
        remote task's ``handle`` when the deadline passed.
    """
    call = partial(
        _generate,
        task,
        path,
        provider=provider,
        config=config,
        deadline=deadline,
        journal=Path(journal) if journal is not None else None,
        cancel_on_deadline=cancel_on_deadline,
        last_frame_path=last_frame_path,
        schedule=schedule,
        key=key,
        env=env,
    )
    if client is not None:
        if config is not None or env is not None:
            raise ConfigurationError("config and env belong to the SyncClient when one is given")
        return client._run(lambda: call(client=client.client))
    with start_blocking_portal(name=_THREAD_NAME) as portal:
        return _run(portal, call)


def _shutdown(
    stack: contextlib.ExitStack, portal: BlockingPortal, client: Client, loop_thread: int
) -> None:
    # Also run by the garbage collector or at interpreter exit for a client never closed;
    # holds no reference to the SyncClient itself.
    if threading.get_ident() == loop_thread:
        # Collected inside its own loop: it cannot wait for itself to stop. The thread is a
        # daemon; the process's exit ends it.
        return
    try:
        with contextlib.suppress(RuntimeError):  # the loop has already stopped
            portal.call(client.aclose)
    finally:
        stack.close()


class SyncClient:
    """:class:`~seedance_async.Client` for scripts and notebooks: the same calls, blocking.

    Use as ``with SyncClient(["ark"]) as client:``, or ``client = SyncClient(["ark"]).open()``
    and ``client.close()`` (in a notebook; a client never closed is closed at exit).

    Args:
        providers: :class:`ProviderConfig` values or aliases (built-in, or from ``config``);
            the first is the default for :meth:`submit` and :meth:`generate`.
        config: a ``providers.toml`` path, or a mapping of aliases, to look aliases up.
        env: where keys are looked up (default ``os.environ``).
        retry / seed / transport_factory / budget_factory: as for :class:`Client`.

    Raises:
        ConfigurationError: an unknown alias; on opening, a missing key.
    """

    def __init__(
        self,
        providers: Iterable[ProviderChoice] | Mapping[str, ProviderConfig],
        *,
        config: str | os.PathLike[str] | Mapping[str, ProviderConfig] | None = None,
        env: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        seed: int | None = None,
        transport_factory: TransportFactory | None = None,
        budget_factory: BudgetFactory | None = None,
    ) -> None:
        choices: list[ProviderChoice]
        if isinstance(providers, str):  # one alias, not its letters
            choices = [providers]
        elif isinstance(providers, Mapping):
            choices = list(providers.values())
        else:
            choices = list(providers)
        self.client = Client(
            [resolve_provider(p, config) for p in choices],
            env=env,
            retry=retry,
            seed=seed,
            transport_factory=transport_factory,
            budget_factory=budget_factory,
        )
        """The async client the calls run on (use it only from coroutines given to the
        loop thread)."""
        self._portal: BlockingPortal | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def __repr__(self) -> str:
        state = "open" if self._portal is not None else "closed"
        return f"SyncClient(providers={self.client.aliases!r}, {state})"

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> Self:
        """Start the loop thread and open the client (idempotent).

        Raises:
            ConfigurationError: a missing key or unknown adapter.
        """
        if self._portal is not None:
            return self
        stack = contextlib.ExitStack()
        portal = stack.enter_context(start_blocking_portal(name=_THREAD_NAME))
        try:
            _run(portal, self.client.__aenter__)
            loop_thread = portal.call(threading.get_ident)
        except BaseException:
            stack.close()
            raise
        self._portal = portal
        self._finalizer = weakref.finalize(self, _shutdown, stack, portal, self.client, loop_thread)
        return self

    def close(self) -> None:
        """Close the client and stop the loop thread (idempotent)."""
        finalizer, self._finalizer, self._portal = self._finalizer, None, None
        if finalizer is not None:
            finalizer()

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, func: Callable[[], Awaitable[T]]) -> T:
        if self._portal is None:
            raise ConfigurationError(
                "the client is not open: use 'with SyncClient(...) as client:' or call open()"
            )
        return _run(self._portal, func)

    # -- the task API, as Client's --------------------------------------------------------------

    @property
    def aliases(self) -> list[str]:
        """Provider aliases in configuration order."""
        return self.client.aliases

    def submit(self, task: VideoTask, *, provider: str | None = None) -> TaskHandle:
        """:meth:`Client.submit`: create the remote task, at most once."""
        return self._run(partial(self.client.submit, task, provider=provider))

    def status(self, handle: TaskHandle) -> TaskStatus:
        """:meth:`Client.status`: the task's current status."""
        return self._run(partial(self.client.status, handle))

    def wait(
        self,
        handle: TaskHandle,
        *,
        deadline: float | None = None,
        schedule: PollSchedule | None = None,
    ) -> TaskStatus:
        """:meth:`Client.wait`: poll until the task is final.

        Raises:
            DeadlineExceeded: the deadline passed first (the task keeps running).
        """
        return self._run(partial(self.client.wait, handle, deadline=deadline, schedule=schedule))

    def download(
        self,
        status: TaskStatus,
        path: str | os.PathLike[str],
        *,
        last_frame: bool = False,
        handle: TaskHandle | None = None,
    ) -> DownloadResult:
        """:meth:`Client.download`: save the video (or last frame) atomically."""
        return self._run(
            partial(self.client.download, status, Path(path), last_frame=last_frame, handle=handle)
        )

    def cancel(self, handle: TaskHandle, *, delete: bool = False) -> CancelResult:
        """:meth:`Client.cancel`: cancel a queued task; a finished one only with ``delete``."""
        return self._run(partial(self.client.cancel, handle, delete=delete))

    def generate(
        self,
        task: VideoTask,
        path: str | os.PathLike[str],
        *,
        provider: ProviderChoice | None = None,
        deadline: float | None = None,
        journal: str | os.PathLike[str] | None = None,
        cancel_on_deadline: bool = False,
        last_frame_path: str | os.PathLike[str] | None = None,
        schedule: PollSchedule | None = None,
        key: str | None = None,
    ) -> Generation:
        """:func:`seedance_async.generate` on this client: submit, wait, download."""
        return generate(
            task,
            path,
            provider=provider,
            deadline=deadline,
            journal=journal,
            client=self,
            cancel_on_deadline=cancel_on_deadline,
            last_frame_path=last_frame_path,
            schedule=schedule,
            key=key,
        )
