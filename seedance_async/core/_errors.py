"""The one exception hierarchy of seedance-async.

Classes say what the caller can do next, not where the failure happened::

    SeedanceError
    ├─ InvalidTaskSpec (ValueError)      the spec breaks a rule; fix the input
    ├─ ConfigurationError                missing key, unknown provider or adapter
    ├─ ProviderError                     anything a provider (or the way to it) did
    │  ├─ TransportError
    │  │  ├─ RequestNotSent              provably never left: safe to retry anything
    │  │  ├─ OutcomeUnknown              may have been received: never blind-retry a submit
    │  │  └─ DownloadIncomplete          a result download was cut short: download again
    │  ├─ RateLimited                    429; ``retry_after`` and whether waiting helps
    │  │  └─ QuotaExhausted              a quota or spend cap is used up: ``resets_at``, never retry
    │  ├─ ProviderUnavailable            5xx, maintenance
    │  ├─ ProviderRejected               4xx the caller must act on
    │  │  ├─ AuthenticationFailed        401: wrong or missing key
    │  │  ├─ PermissionDenied            403: no access, insufficient balance, overdue
    │  │  ├─ ContentPolicyViolation      input moderation
    │  │  ├─ InvalidRequest              the provider refused the parameters
    │  │  │  ├─ ModelNotServed           this provider does not serve the model: try another
    │  │  │  └─ UnsupportedParameter     this provider cannot take a parameter: try another
    │  │  ├─ TaskNotFound                404 on a task id
    │  │  └─ TaskNotCancellable          the task's state forbids a cancel (running on Ark)
    │  ├─ MalformedResponse              the answer does not fit the documented shape
    │  │  └─ UnknownStatus               a status word outside the provider's vocabulary
    │  └─ ResultExpired                  the result URL expired: query the task for a fresh one
    ├─ GenerationFailed                  the task itself ended failed / expired / cancelled
    ├─ DeadlineExceeded                  the caller's deadline passed first; carries the task
    ├─ DownloadWriteError (OSError)      a downloaded file could not be written locally
    ├─ UploadError                       a local file could not be stored for a URL; names it
    └─ JournalError                      the durable journal could not be read or written
       ├─ BatchMismatch                  the journal belongs to another batch
       └─ LeaseLost                      another worker owns the task now: stop, send nothing

No exception stores headers, request objects or keys, so ``str()`` and ``repr()`` can be
logged as they are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

__all__ = [
    "AuthenticationFailed",
    "BatchMismatch",
    "ConfigurationError",
    "ContentPolicyViolation",
    "DeadlineExceeded",
    "DownloadIncomplete",
    "DownloadWriteError",
    "GenerationFailed",
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
    "TaskNotCancellable",
    "TaskNotFound",
    "TransportError",
    "UnknownStatus",
    "UnsupportedParameter",
    "UploadError",
    "Violation",
]

_SNIPPET_LIMIT = 200
# Providers sometimes echo the key they were sent ("Invalid API key: sk-..."), and errors
# are logged as they are: anything shaped like a key or a bearer credential is masked.
_BEARER_IN_TEXT = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_KEY_IN_TEXT = re.compile(r"\bsk-[A-Za-z0-9_-]{6,}")


def redact_secrets(text: str) -> str:
    """``text`` with API keys (``sk-...``) and bearer/basic credentials masked."""
    return _KEY_IN_TEXT.sub("sk-***", _BEARER_IN_TEXT.sub(r"\1 ***", text))


class SeedanceError(Exception):
    """Base class of every error this library raises on purpose."""


@attrs.frozen(kw_only=True)
class Violation:
    """One broken rule of a task spec.

    Attributes:
        field: JSON path of the offending field, e.g. ``images[2].role`` or ``duration``.
        rule: the rule in words, e.g. ``frames = 25 + 4n within [29, 289]``.
        value: the offending value, shortened for display.
    """

    field: str
    rule: str
    value: Any = None

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.field}: {self.rule}"
        return f"{self.field}: {self.rule} (got {_shorten(repr(self.value))})"


class InvalidTaskSpec(SeedanceError, ValueError):
    """A task spec breaks one or more rules; raised before any request is made.

    Attributes:
        violations: every broken rule at once, each naming the field, the rule and the value.
    """

    violations: tuple[Violation, ...]

    def __init__(self, violations: Sequence[Violation], *, context: str = "") -> None:
        self.violations = tuple(violations)
        head = f"{context}: " if context else ""
        count = len(self.violations)
        lines = "\n".join(f"  - {v}" for v in self.violations)
        super().__init__(f"{head}invalid task spec ({count} problem{'s' * (count != 1)}):\n{lines}")

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields named by the violations, in order."""
        return tuple(v.field for v in self.violations)


class ConfigurationError(SeedanceError):
    """The library is configured wrongly: unknown provider or adapter, missing key, bad file."""


class ProviderError(SeedanceError):
    """Base of every failure that involves a provider.

    Attributes:
        provider: the provider alias or adapter name.
        status: HTTP status, when an answer arrived.
        code: the provider's own error code, when it sent one.
        provider_message: the provider's own error message, shortened.
        request_id: the provider's request id, when it sent one (useful for support tickets).
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        code: str | None = None,
        provider_message: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.provider = provider
        self.status = status
        self.code = redact_secrets(code) if code else code
        self.provider_message = (
            _shorten(redact_secrets(provider_message)) if provider_message else None
        )
        self.request_id = request_id
        parts = [message]
        if status is not None:
            parts.append(f"HTTP {status}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.provider_message and self.provider_message not in message:
            parts.append(f"message={self.provider_message!r}")
        if request_id:
            parts.append(f"request_id={request_id}")
        prefix = f"[{provider}] " if provider else ""
        super().__init__(redact_secrets(prefix + "; ".join(parts)))


class TransportError(ProviderError):
    """The exchange with the provider broke down below HTTP."""


class RequestNotSent(TransportError):
    """The request provably never reached the provider (e.g. the connection was refused).

    Retrying is safe for any request, paid submits included.
    """


class OutcomeUnknown(TransportError):
    """The request may have been received and acted upon (timeout, reset after sending).

    A submit that ends like this may have created a paid task: reconcile, never resubmit.
    """


class DownloadIncomplete(TransportError):
    """Fewer (or other) bytes arrived than announced or expected; safe to download again."""


class RateLimited(ProviderError):
    """HTTP 429 or a provider code that means "slow down".

    Attributes:
        retry_after: seconds to wait as the provider said (``Retry-After`` in seconds).
        retry_at: absolute time to wait for, when ``Retry-After`` was an HTTP date.
        retryable: False when waiting does not help (quota used up, spend cap reached).
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        retry_at: datetime | None = None,
        retryable: bool = True,
        **kwargs: Any,
    ) -> None:
        self.retry_after = retry_after
        self.retry_at = retry_at
        self.retryable = retryable
        super().__init__(message, **kwargs)


class QuotaExhausted(RateLimited):
    """A quota, allowance or spend cap is used up: a short wait will not help.

    Ark's monthly ``AccountQuotaExceeded`` ("will reset at <date>"), a user-set spend cap
    (``SetLimitExceeded``) and a used-up free quota come as 429 like a short rate limit, but
    retrying them within seconds only burns requests. Nothing was created, so another
    provider may take the task at once; this one should be left alone until ``resets_at``.

    Attributes:
        resets_at: when the provider said the quota resets (UTC), or None when it did not
            say (a spend cap lasts until someone raises it).
        retryable: always False.
    """

    def __init__(self, message: str, *, resets_at: datetime | None = None, **kwargs: Any) -> None:
        self.resets_at = resets_at
        kwargs["retryable"] = False
        super().__init__(message, **kwargs)


class ProviderUnavailable(ProviderError):
    """The provider answered 5xx or says it is down; the request may be retried later."""


class ProviderRejected(ProviderError):
    """The provider refused the request (4xx); repeating it unchanged will not help."""


class AuthenticationFailed(ProviderRejected):
    """The API key is missing, wrong or revoked (HTTP 401)."""


class PermissionDenied(ProviderRejected):
    """The key may not do this: no access to the model, insufficient balance, account overdue."""


class ContentPolicyViolation(ProviderRejected):
    """The provider's moderation refused the prompt or an input image."""


class InvalidRequest(ProviderRejected):
    """The provider refused the parameters (HTTP 400/422 that is not moderation).

    A refusal the library's own rules did not foresee names the parameter where the
    provider did, so the rule can be added (it is in the message, and so in journals).

    Attributes:
        param: the parameter the provider named, when it named one.
    """

    def __init__(self, message: str, *, param: str | None = None, **kwargs: Any) -> None:
        self.param = redact_secrets(param) if param else param
        if self.param and f"param={self.param}" not in message:
            message = f"{message} (param={self.param})"
        super().__init__(message, **kwargs)


class ModelNotServed(InvalidRequest):
    """This provider does not serve the model: unknown id, not activated, endpoint closed.

    Refused before anything was created (nothing is billed), and it says nothing about
    other providers, which may well serve the model: fail over instead of giving up.
    """


class UnsupportedParameter(InvalidRequest):
    """This provider cannot take a parameter or value that other providers may take.

    Refused before anything was created (nothing is billed); fail over instead of giving up.
    ``param`` names the parameter when the provider did.
    """


class TaskNotFound(ProviderRejected):
    """The provider does not know this task id (never created, deleted or aged out)."""


class TaskNotCancellable(ProviderRejected):
    """The provider refuses to cancel the task in its current state.

    Ark cancels only queued tasks: a running one will finish (and bill), and a finished one
    can only be deleted.
    """


class MalformedResponse(ProviderError):
    """The provider's answer does not have the documented shape.

    Attributes:
        path: JSON path of the first thing that did not fit, e.g. ``$.data.status``.
        snippet: the start of the answer body, for debugging.
    """

    def __init__(self, message: str, *, path: str = "$", snippet: str = "", **kwargs: Any) -> None:
        self.path = path
        self.snippet = _shorten(redact_secrets(snippet))
        super().__init__(f"{message} at {path}", **kwargs)


class UnknownStatus(MalformedResponse):
    """A task answer carries a status word outside the provider's documented vocabulary.

    The word is not guessed at (an unknown word read as "running" would keep a finished
    task polled forever): the caller decides how often to ask again before giving up.

    Attributes:
        word: the status word as sent.
        task_id: the provider's id of the task the answer is about.
    """

    def __init__(self, word: str, *, task_id: str, path: str = "$.status", **kwargs: Any) -> None:
        self.word = redact_secrets(word)
        self.task_id = task_id
        shown = _shorten(self.word, 60)
        super().__init__(f"unknown status {shown!r} for task {task_id}", path=path, **kwargs)


class ResultExpired(ProviderError):
    """The result URL no longer serves the file (signature expired, object deleted).

    The task may still be known to the provider: query it again for a fresh URL before
    treating the result as lost.
    """


class GenerationFailed(SeedanceError):
    """The generation task ended without a video (failed, expired or cancelled).

    Attributes:
        status: the final :class:`~seedance_async.TaskStatus`.
    """

    def __init__(self, status: Any) -> None:
        self.status = status
        code = getattr(status, "error_code", None)
        msg = getattr(status, "error_message", None)
        state = getattr(status, "state", "?")
        detail = f" ({code}: {msg})" if code or msg else ""
        text = f"task {getattr(status, 'task_id', '?')} ended {state}{detail}"
        super().__init__(redact_secrets(text))


class DeadlineExceeded(SeedanceError):
    """The caller's deadline passed before the task reached a final state.

    The remote task is not lost: unless it was cancelled, it keeps running, and its handle
    is here to wait for, download or cancel it later (``spec.dump_handle`` stores it).

    Attributes:
        handle: the :class:`~seedance_async.TaskHandle` of the remote task, or None when
            nothing was submitted.
        status: the last :class:`~seedance_async.TaskStatus` seen, when any.
        cancelled: True when the remote task was cancelled because of the deadline.
    """

    def __init__(
        self, message: str, *, handle: Any = None, status: Any = None, cancelled: bool = False
    ) -> None:
        self.handle = handle
        self.status = status
        self.cancelled = cancelled
        super().__init__(redact_secrets(message))

    @property
    def task_id(self) -> str | None:
        """The provider's id of the remote task, when one was created."""
        task_id = getattr(self.handle, "task_id", None)
        return task_id if isinstance(task_id, str) else None

    @property
    def provider(self) -> str | None:
        """The provider alias that holds the remote task, when one was created."""
        alias = getattr(self.handle, "provider", None)
        return alias if isinstance(alias, str) else None


class DownloadWriteError(SeedanceError, OSError):
    """A downloaded file could not be written locally (permissions, a full disk, a path
    that is not a folder). Nothing is left at the destination.

    It is an :class:`OSError` too, so code that caught the raw disk error keeps working.

    Attributes:
        path: the destination that could not be written.
        reason: what the operating system said.
    """

    def __init__(self, path: str, reason: str, *, errno: int | None = None) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot write the download to {path}: {reason}")
        self.errno = errno  # OSError's own field; None when unknown
        self.filename = path


class UploadError(SeedanceError):
    """A local file (or in-memory media) could not be stored to get the URL a provider needs.

    Nothing was sent to a provider for the task. The message names the file and the spec
    field, never the storage's credentials.

    Attributes:
        field: where the media sits in the spec, e.g. ``images[0]``.
        source: the file path, or ``<N bytes>`` for in-memory media.
        reason: what went wrong, credentials masked.
    """

    def __init__(self, field: str, source: str, reason: str) -> None:
        self.field = field
        self.source = source
        self.reason = redact_secrets(reason)
        super().__init__(f"cannot upload {field} ({source}): {self.reason}")


class JournalError(SeedanceError):
    """The durable journal could not be opened, read or written."""


class BatchMismatch(JournalError):
    """The journal records another batch than the one being run.

    Attributes:
        journal: the journal file.
        recorded: descriptions of the batches the journal holds.
        given: description of the batch that was offered.
    """

    def __init__(self, message: str, *, journal: str, recorded: Sequence[str], given: str) -> None:
        self.journal = journal
        self.recorded = tuple(recorded)
        self.given = given
        super().__init__(message)


class LeaseLost(JournalError):
    """This worker's lease on a shared task ran out and another worker may own it now.

    Raised instead of writing a record, granting a submit token or sending a paid request
    for a task this worker no longer provably owns; the worker must stop (its successor
    follows the task from its record).
    """


def _shorten(text: str | None, limit: int = _SNIPPET_LIMIT) -> str:
    if text is None:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"
