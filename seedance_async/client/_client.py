"""The client: one object for an application to submit, poll, cancel, wait and download.

Usage::

    async with Client([BUILTIN_PROVIDERS["ark"]]) as client:
        handle = await client.submit(VideoTask(model=..., prompt=...))
        status = await client.wait(handle, deadline=600)
        await client.download(status, "out.mp4")
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
import anyio
import attrs

from seedance_async.client._alias import ProviderClient
from seedance_async.client._cancel import CancelResult
from seedance_async.client._context import AliasContext
from seedance_async.client._finalize import check_draft, final_spec
from seedance_async.client._loading import load_local_images
from seedance_async.client._uploading import (
    Target,
    as_uploaded,
    missing_uploader,
    to_upload,
    upload_media,
    url_lifetime,
)
from seedance_async.config._provider import ProviderConfig
from seedance_async.core._clock import Clock, SystemClock
from seedance_async.core._errors import (
    ConfigurationError,
    DeadlineExceeded,
    InvalidTaskSpec,
    Violation,
)
from seedance_async.core._events import EventHub
from seedance_async.core._secrets import ApiKey
from seedance_async.limits._key_limits import Budget, BudgetLike
from seedance_async.policy._poll_schedule import PollSchedule
from seedance_async.policy._retry import RetryPolicy
from seedance_async.providers import ProviderAdapter, create_adapter
from seedance_async.spec._codec import task_hash
from seedance_async.spec._handle import TaskHandle
from seedance_async.spec._media_files import check_probed_media, remote_media
from seedance_async.spec._status import TaskStatus
from seedance_async.spec._task import ProviderChecker, VideoTask, validate
from seedance_async.spec._vocab import OutputFormatName, Resolution
from seedance_async.transport._aiohttp import AiohttpTransport, Transport
from seedance_async.transport._download import DOWNLOAD_RETRY, DownloadResult, download
from seedance_async.transport._probe import ProbeResult, probe_media_url
from seedance_async.upload._protocol import SupportsAclose, Uploader

__all__ = ["BudgetFactory", "Client", "TransportFactory"]

logger = logging.getLogger("seedance_async.client")

TransportFactory = Callable[[ProviderConfig, ProviderAdapter, ApiKey], Transport]
"""Builds the transport of one alias; the default is an :class:`AiohttpTransport`."""

BudgetFactory = Callable[[ProviderConfig, str, Clock], BudgetLike]
"""Builds the budget of one (host, key) scope, named ``"<host>/<key fingerprint>"`` so every
process using the same key derives the same name (a Redis budget keys its state on it)."""


def _default_transport(config: ProviderConfig, adapter: ProviderAdapter, key: ApiKey) -> Transport:
    return AiohttpTransport(
        config.base_url,
        provider=config.alias,
        auth_headers=adapter.auth_headers(key.reveal()),
        timeouts=config.timeouts,
    )


def _strictest(members: list[ProviderConfig]) -> ProviderConfig:
    """The config whose limits one budget shared by ``members`` (one host, one key) obeys.

    Each limit is the strictest any member sets, so no alias's limit is exceeded; the
    sharing is logged once, without the key.
    """
    first = members[0]
    if len(members) == 1:
        return first
    shared = attrs.evolve(
        first,
        submit_rpm=min(c.submit_rpm for c in members),
        poll_rps=min(c.poll_rps for c in members),
        max_running=min(c.max_running for c in members),
        rate_headroom=max(c.rate_headroom for c in members),
    )
    logger.warning(
        "provider aliases %s use the same key on %s: they share one budget with the "
        "strictest limits (%g creates/min, %d running, %g polls/s, headroom %g)",
        ", ".join(c.alias for c in members),
        first.base_url.split("/")[2],
        shared.submit_rpm,
        shared.max_running,
        shared.poll_rps,
        shared.rate_headroom,
    )
    return shared


def _budget_for(config: ProviderConfig, scope: str, clock: Clock) -> BudgetLike:
    return Budget(
        submit_rate=config.submit_rate(),
        # No burst: providers count creates in a sliding window, and a full bucket on top
        # of the steady rate overshoots the window by the burst (429s we would cause).
        submit_burst=1.0,
        poll_rate=config.poll_rate(),
        # Polls likewise: a burst of 10 on top of the rate is about rate + 10 per sliding
        # second, which Ark answers with RequestBurstTooFast.
        poll_burst=1.0,
        max_running=config.max_running,
        clock=clock,
    )


def _violations(sent: VideoTask, task: VideoTask, provider: ProviderChecker) -> list[Violation]:
    """The provider's violations of ``sent`` and the file violations of ``task``."""
    out: list[Violation] = []
    for spec, checker, files in ((sent, provider, False), (task, None, True)):
        try:
            validate(spec, provider=checker, check_files=files)
        except InvalidTaskSpec as exc:
            out += exc.violations
    return out


class Client:
    """Talks to one or more provider aliases.

    Args:
        providers: the aliases to use (configs, e.g. from :func:`load_provider_config` or
            ``BUILTIN_PROVIDERS``); the first is the default for :meth:`submit`.
        clock: time source (a ``testing.FakeClock`` in tests).
        transport_factory: builds each alias's transport (``testing.FunctionTransport`` in
            tests); the default is aiohttp with auth for the API host only.
        retry: retry policy for GETs and provably-unsent submits.
        download_retry: attempts and backoff of result downloads (default
            ``transport.DOWNLOAD_RETRY``: six attempts, each continuing the bytes received).
        env: where keys are looked up (default ``os.environ``).
        events: event hub shared with a tracker (one is created otherwise).
        seed: seeds the jitter, for reproducible runs.
        budget_factory: builds each (host, key) budget; the default is an in-process
            :class:`Budget` (a ``RedisBudget`` shares it between processes).
        probe_media: before a submit, read the header of every http(s) reference video
            and audio clip with a few ranged GETs and refuse the task when one breaks the
            model's media rules (too long, too small, not a clip, a 4xx URL). A URL that
            cannot be read for another reason (timeout, 5xx) is left to the provider.
        uploader: stores local media for a URL (``seedance_async.upload``): any async
            callable ``(Upload) -> str``, e.g. an ``S3Uploader``. Local reference videos
            need one (no provider takes them inline), and so do images or audio a provider
            cannot take inline. The client closes it (when it has ``aclose``) with itself.
        upload_all: send local and in-memory images and audio as the uploader's URLs too,
            instead of inline base64 data URLs (the default where the provider takes them).

    Raises:
        ConfigurationError: ``upload_all`` without an uploader; on entering, a missing
            key or an unknown adapter.
    """

    def __init__(
        self,
        providers: Iterable[ProviderConfig] | Mapping[str, ProviderConfig],
        *,
        clock: Clock | None = None,
        transport_factory: TransportFactory | None = None,
        retry: RetryPolicy | None = None,
        download_retry: RetryPolicy | None = None,
        env: Mapping[str, str] | None = None,
        events: EventHub | None = None,
        seed: int | None = None,
        budget_factory: BudgetFactory | None = None,
        probe_media: bool = False,
        uploader: Uploader | None = None,
        upload_all: bool = False,
    ) -> None:
        if upload_all and uploader is None:
            raise ConfigurationError("upload_all=True needs an uploader")
        configs = list(providers.values()) if isinstance(providers, Mapping) else list(providers)
        if not configs:
            raise ConfigurationError("a client needs at least one provider")
        aliases = [c.alias for c in configs]
        if len(set(aliases)) != len(aliases):
            raise ConfigurationError(f"duplicate provider aliases in {aliases}")
        self.configs = {c.alias: c for c in configs}
        self.clock: Clock = clock or SystemClock()
        self.events = events or EventHub()
        self._transport_factory = transport_factory or _default_transport
        self._budget_factory = budget_factory or _budget_for
        self._retry = retry or RetryPolicy()
        self._download_retry = download_retry or DOWNLOAD_RETRY
        self._env = env
        self._rng = random.Random(seed)
        self._providers: dict[str, ProviderClient] = {}
        self._download_session: aiohttp.ClientSession | None = None
        self.probe_media = probe_media
        # Finals made by finalize(), so that a second call does not pay for a second one.
        self._finals: dict[tuple[str, str], TaskHandle] = {}
        self._finals_lock = anyio.Lock()
        self.uploader = uploader
        self.upload_all = upload_all

    def __repr__(self) -> str:
        return f"Client(providers={list(self.configs)!r})"

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        try:
            keys = {alias: c.resolve_key(self._env) for alias, c in self.configs.items()}
            # Aliases that share a host and a key share one budget: the provider enforces
            # its limits per key, whatever we call it.
            scopes: dict[tuple[str, str], list[ProviderConfig]] = {}
            for alias, config in self.configs.items():
                scope = (config.base_url.split("/")[2], keys[alias].fingerprint)
                scopes.setdefault(scope, []).append(config)
            budgets = {
                scope: self._budget_factory(_strictest(members), "/".join(scope), self.clock)
                for scope, members in scopes.items()
            }
            for alias, config in self.configs.items():
                key = keys[alias]
                options = dict(config.options)
                options.setdefault("name", alias)
                adapter = create_adapter(config.adapter, **options)
                context = AliasContext(
                    config=config,
                    adapter=adapter,
                    transport=self._transport_factory(config, adapter, key),
                    budget=budgets[(config.base_url.split("/")[2], key.fingerprint)],
                    retry=self._retry,
                    clock=self.clock,
                    events=self.events,
                    rng=self._rng.random,
                )
                self._providers[alias] = ProviderClient(context)
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every transport, the download session and the uploader (idempotent)."""
        with anyio.CancelScope(shield=True):
            for provider in self._providers.values():
                await provider.transport.aclose()
            self._providers.clear()
            if self._download_session is not None:
                await self._download_session.close()
                self._download_session = None
            uploader: object = self.uploader  # a plain callable has nothing to close
            if isinstance(uploader, SupportsAclose):
                await uploader.aclose()

    # -- providers -------------------------------------------------------------------------

    @property
    def aliases(self) -> list[str]:
        """Provider aliases in configuration order."""
        return list(self.configs)

    def provider(self, alias: str) -> ProviderClient:
        """The per-alias client.

        Raises:
            ConfigurationError: unknown alias, or the client is not open.
        """
        try:
            return self._providers[alias]
        except KeyError:
            if not self._providers:
                raise ConfigurationError(
                    "the client is not open: use 'async with Client(...)'"
                ) from None
            raise ConfigurationError(
                f"unknown provider alias {alias!r} (known: {self.aliases})"
            ) from None

    # -- the task API ------------------------------------------------------------------------

    async def prepare(
        self,
        task: VideoTask,
        alias: str,
        *,
        deadline: float | None = None,
        uploader: Uploader | None = None,
        upload_all: bool | None = None,
    ) -> VideoTask:
        """Check a spec against ``alias`` and its local files (and, with ``probe_media``, its
        remote reference clips), then store or load its media.

        Local reference videos always go through the uploader (no provider takes them
        inline), and so do images and audio where the provider cannot take them inline, or
        all of them with ``upload_all``; they are sent as the uploader's URLs. Other local
        images and audio are read, to be sent inline. Nothing is stored before every rule
        has passed.

        Args:
            task: the spec.
            alias: the provider it is for.
            deadline: seconds the task may take from now; uploaded URLs outlive it (without
                one, the provider's expiry of a queued task).
            uploader / upload_all: override the client's for this task.

        Raises:
            InvalidTaskSpec: listing every provider, file and probed violation, and every
                local file that needs an uploader when none is configured.
            UploadError: a file could not be stored; nothing was sent.
        """
        provider = self.provider(alias)
        store, targets = self._uploads(task, provider, uploader, upload_all)
        found: list[Violation] = [] if store is not None else missing_uploader(targets)
        if task.has_local_files or targets:
            # The provider judges the task as it will be sent, uploaded media as URLs; the
            # files themselves are checked where they are. Header reads are blocking disk
            # I/O: keep them off the event loop.
            sent = as_uploaded(task, targets)
            found += await anyio.to_thread.run_sync(_violations, sent, task, provider)
        if self.probe_media and remote_media(task):
            found += await self._probe(task)
        if found:
            # The probe re-counts the totals with the remote clips in: keep its figure.
            unique = {(v.field, v.rule): v for v in found}
            raise InvalidTaskSpec(list(unique.values()))
        if targets:
            assert store is not None
            lifetime = url_lifetime(task, deadline)
            task = await upload_media(task, targets, store, valid_for=lifetime)
        if task.has_local_files:
            return await load_local_images(task)
        return task  # provider rules are checked when the request is built

    def check(
        self,
        task: VideoTask,
        alias: str,
        *,
        uploader: Uploader | None = None,
        upload_all: bool | None = None,
    ) -> list[Violation]:
        """Violations of ``alias``'s rules by ``task`` as it would be sent (no file is read).

        Local media the uploader would store are judged as the URLs they become; a local
        file that must be sent as a URL while no uploader is configured is a violation.
        """
        provider = self.provider(alias)
        store, targets = self._uploads(task, provider, uploader, upload_all)
        missing = [] if store is not None else missing_uploader(targets)
        return missing + provider.check(as_uploaded(task, targets))

    def _uploads(
        self,
        task: VideoTask,
        provider: ProviderClient,
        uploader: Uploader | None,
        upload_all: bool | None,
    ) -> tuple[Uploader | None, list[Target]]:
        """The uploader that applies, and the media of ``task`` that must become URLs."""
        store = uploader or self.uploader
        everything = store is not None and (self.upload_all if upload_all is None else upload_all)
        return store, to_upload(task, provider.adapter.capabilities, upload_all=everything)

    async def _probe(self, task: VideoTask) -> list[Violation]:
        if self._download_session is None:
            self._download_session = aiohttp.ClientSession()
        session = self._download_session
        targets = remote_media(task)
        results: dict[tuple[str, int], ProbeResult] = {}

        async def one(kind: str, n: int, url: str) -> None:
            results[(kind, n)] = await probe_media_url(url, session=session)

        async with anyio.create_task_group() as group:
            for kind, n, url in targets:
                group.start_soon(one, kind, n, url)
        probed = {
            key: (r.info, r.size, r.reason if r.refused else None)
            for key, r in results.items()
            if r.info is not None or r.refused
        }
        return check_probed_media(task, probed)

    async def submit(self, task: VideoTask, *, provider: str | None = None) -> TaskHandle:
        """Create a remote task on ``provider``, at most once.

        The default provider is the first alias that serves the task's model
        (:meth:`ProviderConfig.serves`).

        Raises:
            InvalidTaskSpec: the spec breaks a provider or file rule, or no alias (or not
                ``provider``) serves its model; nothing was sent.
            UploadError: a local file could not be stored through the uploader.
            SubmitOutcomeUnknown: the task may exist; see its ``sent_at`` and ``candidates``.
            ProviderError: the provider refused the task (nothing was created).
        """
        alias = provider or self._first_serving(task.model)
        loaded = await self.prepare(task, alias)
        handle, _ = await self.provider(alias).submit(loaded, spec_hash=task_hash(task))
        return handle

    async def finalize(
        self,
        draft: TaskHandle,
        *,
        resolution: Resolution | str | None = None,
        watermark: bool | None = None,
        return_last_frame: bool | None = None,
        callback_url: str | None = None,
        execution_expires_after: int | None = None,
        priority: int | None = None,
        output_format: OutputFormatName | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> TaskHandle:
        """Turn a succeeded draft into its final video: one create that names the draft.

        The final runs on the alias that made the draft, with its model; the provider reuses
        the draft's prompt, media, seed, ratio, duration and audio. Only the final's own
        settings are given here (unset ones take the model's defaults, e.g. 720p). Calling it
        again with the same settings returns the first final's handle instead of paying
        twice; across processes, submit the spec (``VideoTask(from_draft=...)``) through a
        :class:`Tracker` with a journal, which sends a key at most once.

        Raises:
            InvalidTaskSpec: the draft has not succeeded or is no draft, or the model or
                alias makes no finals; nothing was sent.
            SubmitOutcomeUnknown / ProviderError: as :meth:`submit`.
        """
        options: dict[str, Any] = {
            "resolution": resolution,
            "watermark": watermark,
            "return_last_frame": return_last_frame,
            "callback_url": callback_url,
            "execution_expires_after": execution_expires_after,
            "priority": priority,
            "output_format": output_format,
            "metadata": dict(metadata or {}),
        }
        task = final_spec(draft, options)
        key = (draft.provider, task_hash(task))
        async with self._finals_lock:
            done = self._finals.get(key)
            if done is not None:
                return done
            check_draft(draft, await self.status(draft))
            handle = await self.submit(task, provider=draft.provider)
            self._finals[key] = handle
            return handle

    def _first_serving(self, model: str) -> str:
        for alias, config in self.configs.items():
            if config.serves(model):
                return alias
        # No alias serves it: the first one explains why, when the request is built.
        return self.aliases[0]

    async def status(self, handle: TaskHandle) -> TaskStatus:
        """The current status of a task."""
        return await self.provider(handle.provider).status(handle.task_id)

    async def cancel(self, handle: TaskHandle, *, delete: bool = False) -> CancelResult:
        """Cancel a task that has not started, where the provider allows it.

        The task's status is read first. A task that has already ended is left alone (on
        Ark the same request would delete its record, video URL included) unless ``delete``
        is true. A task the provider cannot cancel in its state (a running Ark task: only
        queued ones can be) is reported as such, and will finish and bill.

        Args:
            handle: the task.
            delete: delete a finished task's record at the provider.

        Returns:
            What happened: ``outcome`` is ``cancelled``, ``deleted``, ``not_cancellable``,
            ``already_final`` or ``unsupported`` (no cancel endpoint). True in a boolean
            context when cancelled or deleted.

        Raises:
            TaskNotFound: the provider does not know the task.
            ProviderError: the status read or the cancel failed for another reason.
        """
        return await self.provider(handle.provider).cancel(handle.task_id, delete=delete)

    async def wait(
        self,
        handle: TaskHandle,
        *,
        deadline: float | None = None,
        schedule: PollSchedule | None = None,
    ) -> TaskStatus:
        """Poll until the task is final and return its last status (failed ones included).

        Args:
            handle: the task.
            deadline: seconds from now to give up.
            schedule: poll timing.

        Raises:
            DeadlineExceeded: the deadline passed first. The task keeps running remotely;
                the exception's ``handle`` and ``status`` say which and where it was.
        """
        plan = schedule or PollSchedule()
        start = self.clock.now()
        elapsed_at_submit = max(0.0, self.clock.wall() - handle.created_at)
        delay = plan.first_delay(None) if elapsed_at_submit < plan.first_poll else 0.0
        status: TaskStatus | None = None
        while True:
            if deadline is not None:
                remaining = deadline - (self.clock.now() - start)
                if remaining <= 0:
                    raise DeadlineExceeded(
                        f"task {handle.task_id} on {handle.provider} not final within"
                        f" {deadline}s; it keeps running",
                        handle=handle,
                        status=status,
                    )
                delay = min(delay, remaining)
            await self.clock.sleep(delay)
            status = await self.status(handle)
            if status.is_terminal:
                return status
            delay = plan.next_delay(elapsed_at_submit + self.clock.now() - start)

    async def download(
        self,
        status: TaskStatus,
        path: str | Path,
        *,
        last_frame: bool = False,
        handle: TaskHandle | None = None,
    ) -> DownloadResult:
        """Download the video (or the last frame) of a succeeded task to ``path``.

        The file appears atomically, complete and of the size the storage announced, or not
        at all. No API key is sent to the result host. Transient failures (5xx, 429, resets,
        a body cut short) are retried with backoff (``download_retry``), each retry
        continuing from the bytes received; a download that fails for good leaves them in a
        partial file beside ``path`` for the next download to continue. When the URL has
        expired and ``handle`` (or the status's provider alias) names a configured alias, the
        task is queried again for a fresh URL and the download continues.

        Raises:
            InvalidTaskSpec: the status has no such URL.
            ResultExpired: the URL expired and no fresh one could be obtained.
            DownloadIncomplete / ProviderUnavailable / RateLimited / OutcomeUnknown: the
                storage kept failing through every attempt.
            DownloadWriteError: the file could not be written locally.
        """
        url = status.last_frame_url if last_frame else status.video_url
        what = "last_frame_url" if last_frame else "video_url"
        if not url:
            raise InvalidTaskSpec(
                [], context=f"task {status.task_id} has no {what} (state {status.state})"
            )
        if self._download_session is None:
            self._download_session = aiohttp.ClientSession()
        alias = handle.provider if handle else status.provider
        timeouts = self.configs[alias].timeouts if alias in self.configs else None
        refresh = None
        if alias in self._providers:
            provider = self._providers[alias]

            async def refresh() -> str | None:
                fresh = await provider.status(status.task_id)
                return fresh.last_frame_url if last_frame else fresh.video_url

        return await download(
            url,
            Path(path),
            session=self._download_session,
            timeouts=timeouts,
            provider=alias,
            retry=self._download_retry,
            refresh=refresh,
            clock=self.clock,
            random=self._rng.random,
        )
