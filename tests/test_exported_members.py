"""The public surface is pinned: a name added to or dropped from the root is a decision."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

import seedance_async

ROOT = [
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
    "load_task",
    "load_provider_config",
    "validate",
]

NAMESPACES = [
    "core",
    "spec",
    "config",
    "policy",
    "providers",
    "transport",
    "limits",
    "journal",
    "callbacks",
    "upload",
    "client",
    "tracker",
    "sync",
    "distributed",
    "telemetry",
    "testing",
    "simulator",
]


def test_root_exports_exactly_the_pinned_names() -> None:
    """``__all__`` is the pinned list, and it is every public name the root defines."""
    assert sorted(seedance_async.__all__) == sorted(ROOT)
    helpers = {"annotations", "version", "PackageNotFoundError", "TYPE_CHECKING", "Any"}
    public = {
        n
        for n, v in vars(seedance_async).items()
        if not n.startswith("_") and not isinstance(v, ModuleType) and n not in helpers
    }
    assert public == set(ROOT) - {"__version__"}


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_every_namespace_export_exists(namespace: str) -> None:
    """Each namespace's ``__all__`` names objects it really has."""
    module = importlib.import_module(f"seedance_async.{namespace}")
    missing = [n for n in getattr(module, "__all__", []) if not hasattr(module, n)]
    assert not missing


@pytest.mark.parametrize(("name", "namespace"), sorted(seedance_async._MOVED.items()))
def test_moved_names_still_work_with_a_warning(name: str, namespace: str) -> None:
    """A name the root exported before keeps working for one release, and says where to go."""
    with pytest.warns(DeprecationWarning, match=f"seedance_async.{namespace}.{name}"):
        old = getattr(seedance_async, name)
    assert old is getattr(importlib.import_module(f"seedance_async.{namespace}"), name)


def test_unknown_root_name_is_an_attribute_error() -> None:
    """Typos fail as they would on any module."""
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = seedance_async.no_such_name  # type: ignore[attr-defined]
