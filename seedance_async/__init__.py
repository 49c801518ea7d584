"""seedance-async: ByteDance Seedance video generation across HTTP providers, with asyncio.

One provider-neutral spec (:class:`VideoTask`), pure adapters for Volcengine Ark / BytePlus
ModelArk (and Ark pass-through gateways), AI/ML API, ``/v2/videos/generations`` gateways and
GPTProto, a :class:`Client` for applications, a :class:`Tracker` for thousands of concurrent
tasks with at-most-once paid submits, failover, deadlines and downloads, a durable
:class:`SqliteJournal`, and an embedded provider simulator (:mod:`seedance_async.simulator`).

One call does it all: ``await seedance_async.generate(task, "out.mp4", provider="ark")``
(submit, wait, download), or ``seedance_async.sync.generate(...)`` without an event loop.

The root holds what an application writes every day. The rest lives in namespaces:
:mod:`~seedance_async.spec` (catalog, codec, usage), :mod:`~seedance_async.providers`
(adapters and the registry), :mod:`~seedance_async.transport`, :mod:`~seedance_async.limits`,
:mod:`~seedance_async.journal`, :mod:`~seedance_async.client` (per-alias clients, clocks),
:mod:`~seedance_async.sync` (blocking calls), :mod:`~seedance_async.distributed` (Redis),
:mod:`~seedance_async.testing` and :mod:`~seedance_async.simulator`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from seedance_async import sync as sync
from seedance_async.client import Client, generate
from seedance_async.config import (
    BUILTIN_PROVIDERS,
    ProviderConfig,
    Timeouts,
    load_provider_config,
)
from seedance_async.core import (
    ApiKey,
    AuthenticationFailed,
    ConfigurationError,
    ContentPolicyViolation,
    DeadlineExceeded,
    DownloadIncomplete,
    DownloadWriteError,
    Event,
    EventKind,
    GenerationFailed,
    InvalidRequest,
    InvalidTaskSpec,
    JournalError,
    LeaseLost,
    MalformedResponse,
    OutcomeUnknown,
    PermissionDenied,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    RequestNotSent,
    ResultExpired,
    SeedanceError,
    TaskNotFound,
    TransportError,
    UploadError,
    Violation,
)
from seedance_async.core._warn import warn_caller as _warn_caller
from seedance_async.journal import SqliteJournal
from seedance_async.policy import FailoverPolicy, PollSchedule, RetryPolicy
from seedance_async.spec import (
    Audio,
    Image,
    ImageRole,
    Outcome,
    Ratio,
    Resolution,
    ServiceTier,
    TaskHandle,
    TaskResult,
    TaskState,
    TaskStatus,
    UnknownModelWarning,
    Video,
    VideoTask,
    dump_task,
    load_task,
    validate,
)
from seedance_async.tracker import SpendCap, TrackedTask, Tracker

try:
    __version__ = version("seedance-async")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = [
    "BUILTIN_PROVIDERS",
    "ApiKey",
    "Audio",
    "AuthenticationFailed",
    "Client",
    "ConfigurationError",
    "ContentPolicyViolation",
    "DeadlineExceeded",
    "DownloadIncomplete",
    "DownloadWriteError",
    "Event",
    "EventKind",
    "FailoverPolicy",
    "GenerationFailed",
    "Image",
    "ImageRole",
    "InvalidRequest",
    "InvalidTaskSpec",
    "JournalError",
    "LeaseLost",
    "MalformedResponse",
    "Outcome",
    "OutcomeUnknown",
    "PermissionDenied",
    "PollSchedule",
    "ProviderConfig",
    "ProviderError",
    "ProviderRejected",
    "ProviderUnavailable",
    "RateLimited",
    "Ratio",
    "RequestNotSent",
    "Resolution",
    "ResultExpired",
    "RetryPolicy",
    "SeedanceError",
    "ServiceTier",
    "SpendCap",
    "SqliteJournal",
    "TaskHandle",
    "TaskNotFound",
    "TaskResult",
    "TaskState",
    "TaskStatus",
    "Timeouts",
    "TrackedTask",
    "Tracker",
    "TransportError",
    "UnknownModelWarning",
    "UploadError",
    "Video",
    "VideoTask",
    "Violation",
    "__version__",
    "dump_task",
    "generate",
    "load_provider_config",
    "load_task",
    "validate",
]

# Names the root exported before 0.2, and the namespace each lives in now. They keep working
# for one release, with a DeprecationWarning that names the new spelling.
_MOVED = {
    "MODELS": "spec",
    "ModelCapabilities": "spec",
    "model_capabilities": "spec",
    "TERMINAL_STATES": "spec",
    "Attempt": "spec",
    "Usage": "spec",
    "AiohttpTransport": "transport",
    "Transport": "transport",
    "DownloadResult": "transport",
    "HttpRequest": "core",
    "HttpResponse": "core",
    "Clock": "core",
    "SystemClock": "core",
    "Budget": "limits",
    "BudgetLike": "limits",
    "ProviderClient": "client",
    "SubmitOutcomeUnknown": "client",
    "TransportFactory": "client",
    "load_local_images": "client",
    "Journal": "journal",
    "JournalEntry": "journal",
    "NullJournal": "journal",
    "is_retryable_failure": "policy",
    "parse_provider_config": "config",
    "resolve_providers": "config",
}


# Hidden from type checkers, so a moved name is an error there rather than Any.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        namespace = _MOVED.get(name)
        if namespace is None:
            raise AttributeError(f"module 'seedance_async' has no attribute {name!r}")
        _warn_caller(
            f"seedance_async.{name} moved to seedance_async.{namespace}.{name}; the old name "
            "will be removed in 0.3",
            DeprecationWarning,
        )
        return getattr(importlib.import_module(f"seedance_async.{namespace}"), name)
