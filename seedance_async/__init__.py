"""seedance-async: ByteDance Seedance video generation across HTTP providers, with asyncio.

One provider-neutral spec (:class:`VideoTask`), pure adapters for Volcengine Ark / BytePlus
ModelArk (and Ark pass-through gateways), AI/ML API, ``/v2/videos/generations`` gateways and
GPTProto, a :class:`Client` for applications, a :class:`Tracker` for thousands of concurrent
tasks with at-most-once paid submits, failover, deadlines and downloads, a durable
:class:`SqliteJournal`, and an embedded provider simulator (:mod:`seedance_async.simulator`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from seedance_async._budget import Budget, BudgetLike
from seedance_async._client import Client, TransportFactory
from seedance_async._clock import Clock, SystemClock
from seedance_async._config import (
    BUILTIN_PROVIDERS,
    ProviderConfig,
    load_provider_config,
    parse_provider_config,
    resolve_providers,
)
from seedance_async._download import DownloadResult
from seedance_async._errors import (
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
from seedance_async._events import Event, EventKind
from seedance_async._failover import FailoverPolicy, is_retryable_failure
from seedance_async._handle import Attempt, Outcome, TaskHandle, TaskResult
from seedance_async._journal import Journal, JournalEntry, NullJournal
from seedance_async._loading import load_local_images
from seedance_async._models import MODELS, ModelCapabilities, model_capabilities
from seedance_async._provider_client import ProviderClient, SubmitOutcomeUnknown
from seedance_async._retry import RetryPolicy
from seedance_async._schedule import PollSchedule
from seedance_async._secrets import ApiKey
from seedance_async._spec import Image, ImageRole, Ratio, Resolution, ServiceTier, VideoTask
from seedance_async._sqlite_journal import SqliteJournal
from seedance_async._state import TERMINAL_STATES, TaskState, TaskStatus, Usage
from seedance_async._tracked import TrackedTask
from seedance_async._tracker import Tracker
from seedance_async._transport import AiohttpTransport, Timeouts, Transport
from seedance_async._validation import UnknownModelWarning, validate
from seedance_async._wire import HttpRequest, HttpResponse

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
