"""Leaves every layer may import: errors, clock, secrets, events and plain HTTP values.

Nothing here imports anything else from the library.
"""

from __future__ import annotations

from seedance_async.core._clock import Clock, SystemClock, local_time
from seedance_async.core._errors import (
    AuthenticationFailed,
    BatchMismatch,
    ConfigurationError,
    ContentPolicyViolation,
    DeadlineExceeded,
    DownloadIncomplete,
    DownloadWriteError,
    GenerationFailed,
    InvalidRequest,
    InvalidTaskSpec,
    JournalError,
    LeaseLost,
    MalformedResponse,
    ModelNotServed,
    OutcomeUnknown,
    PermissionDenied,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    QuotaExhausted,
    RateLimited,
    RequestNotSent,
    ResultExpired,
    SeedanceError,
    TaskNotCancellable,
    TaskNotFound,
    TransportError,
    UnknownStatus,
    UnsupportedParameter,
    Violation,
)
from seedance_async.core._events import Event, EventKind
from seedance_async.core._secrets import ApiKey
from seedance_async.core._wire import HttpRequest, HttpResponse

__all__ = [
    "ApiKey",
    "AuthenticationFailed",
    "BatchMismatch",
    "Clock",
    "ConfigurationError",
    "ContentPolicyViolation",
    "DeadlineExceeded",
    "DownloadIncomplete",
    "DownloadWriteError",
    "Event",
    "EventKind",
    "GenerationFailed",
    "HttpRequest",
    "HttpResponse",
    "InvalidRequest",
    "InvalidTaskSpec",
    "JournalError",
    "LeaseLost",
    "MalformedResponse",
    "ModelNotServed",
    "OutcomeUnknown",
    "PermissionDenied",
    "ProviderError",
    "ProviderRejected",
    "ProviderUnavailable",
    "QuotaExhausted",
    "RateLimited",
    "RequestNotSent",
    "ResultExpired",
    "SeedanceError",
    "SystemClock",
    "TaskNotCancellable",
    "TaskNotFound",
    "TransportError",
    "UnknownStatus",
    "UnsupportedParameter",
    "Violation",
    "local_time",
]
