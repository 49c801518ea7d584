"""Leaves every layer may import: errors, clock, secrets, events and plain HTTP values.

Nothing here imports anything else from the library.
"""

from __future__ import annotations

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

__all__ = [
    "ApiKey",
    "AuthenticationFailed",
    "Clock",
    "ConfigurationError",
    "ContentPolicyViolation",
    "DeadlineExceeded",
    "DownloadIncomplete",
    "Event",
    "EventKind",
    "GenerationFailed",
    "HttpRequest",
    "HttpResponse",
    "InvalidRequest",
    "InvalidTaskSpec",
    "JournalError",
    "MalformedResponse",
    "OutcomeUnknown",
    "PermissionDenied",
    "ProviderError",
    "ProviderRejected",
    "ProviderUnavailable",
    "RateLimited",
    "RequestNotSent",
    "ResultExpired",
    "SeedanceError",
    "SystemClock",
    "TaskNotFound",
    "TransportError",
    "Violation",
]
