"""seedance-async: ByteDance Seedance video generation across HTTP providers, with asyncio.

One provider-neutral spec (:class:`VideoTask`), pure adapters for Volcengine Ark / BytePlus
ModelArk (and Ark pass-through gateways), AI/ML API, ``/v2/videos/generations`` gateways and
GPTProto, a :class:`Client` for applications, a :class:`Tracker` for thousands of concurrent
tasks with at-most-once paid submits, failover, deadlines and downloads, a durable
:class:`SqliteJournal`, and an embedded provider simulator (:mod:`seedance_async.simulator`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from seedance_async.client._alias import ProviderClient, SubmitOutcomeUnknown
from seedance_async.client._client import Client, TransportFactory
from seedance_async.client._loading import load_local_images
from seedance_async.config._provider import (
    BUILTIN_PROVIDERS,
    ProviderConfig,
    load_provider_config,
    parse_provider_config,
    resolve_providers,
)
from seedance_async.core._clock import Clock, SystemClock
from seedance_async.core._errors import (
    AuthenticationFailed,
    ConfigurationError,
    ContentPolicyViolation,
    DeadlineExceeded,
    DownloadIncomplete,
    GenerationFailed,
    InvalidRequest,
    InvalidTaskSpec,
    JournalError,
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
    Violation,
)
from seedance_async.core._events import Event, EventKind
from seedance_async.core._secrets import ApiKey
from seedance_async.core._wire import HttpRequest, HttpResponse
from seedance_async.journal._protocol import Journal, JournalEntry, NullJournal
from seedance_async.journal._sqlite import SqliteJournal
from seedance_async.limits._key_limits import Budget, BudgetLike
from seedance_async.policy._failover import FailoverPolicy, is_retryable_failure
from seedance_async.policy._poll_schedule import PollSchedule
from seedance_async.policy._retry import RetryPolicy
from seedance_async.spec._catalog import MODELS, ModelCapabilities, model_capabilities
from seedance_async.spec._handle import Attempt, Outcome, TaskHandle, TaskResult
from seedance_async.spec._rules import UnknownModelWarning, validate
from seedance_async.spec._status import TERMINAL_STATES, TaskState, TaskStatus, Usage
from seedance_async.spec._task import Image, ImageRole, Ratio, Resolution, ServiceTier, VideoTask
from seedance_async.tracker._task import TrackedTask
from seedance_async.tracker._tracker import Tracker
from seedance_async.transport._aiohttp import AiohttpTransport, Timeouts, Transport
from seedance_async.transport._download import DownloadResult

try:
    __version__ = version("seedance-async")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = [
    "BUILTIN_PROVIDERS",
    "MODELS",
    "TERMINAL_STATES",
    "AiohttpTransport",
    "ApiKey",
    "Attempt",
    "AuthenticationFailed",
    "Budget",
    "BudgetLike",
    "Client",
    "Clock",
    "ConfigurationError",
    "ContentPolicyViolation",
    "DeadlineExceeded",
    "DownloadIncomplete",
    "DownloadResult",
    "Event",
    "EventKind",
    "FailoverPolicy",
    "GenerationFailed",
    "HttpRequest",
    "HttpResponse",
    "Image",
    "ImageRole",
    "InvalidRequest",
    "InvalidTaskSpec",
    "Journal",
    "JournalEntry",
    "JournalError",
    "MalformedResponse",
    "ModelCapabilities",
    "NullJournal",
    "Outcome",
    "OutcomeUnknown",
    "PermissionDenied",
    "PollSchedule",
    "ProviderClient",
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
    "SqliteJournal",
    "SubmitOutcomeUnknown",
    "SystemClock",
    "TaskHandle",
    "TaskNotFound",
    "TaskResult",
    "TaskState",
    "TaskStatus",
    "Timeouts",
    "TrackedTask",
    "Tracker",
    "Transport",
    "TransportError",
    "TransportFactory",
    "UnknownModelWarning",
    "Usage",
    "VideoTask",
    "Violation",
    "__version__",
    "is_retryable_failure",
    "load_local_images",
    "load_provider_config",
    "model_capabilities",
    "parse_provider_config",
    "resolve_providers",
    "validate",
]
