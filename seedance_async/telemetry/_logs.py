"""Structured logs: one JSON object per line, secrets redacted, and events as log records.

The library logs to the ``seedance_async`` logger and is quiet by default (lifecycle events
at DEBUG). :class:`EventLogger` turns every state change into one INFO record with the
event's fields as ``extra``; :class:`JsonFormatter` writes any record as one JSON line.
Redaction is the last step of formatting, over the whole line: a secret the formatter was
given (the API keys in use) never leaves it, nor does a bearer token or an ``api_key=``
value, wherever in the message, the fields or the traceback it hides.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from seedance_async.core._events import Event, EventKind

__all__ = ["EventLogger", "JsonFormatter", "redact"]

REDACTED = "[redacted]"
_PATTERNS = (
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)\b(api[_-]?key|authorization|x-api-key)(\"?\s*[:=]\s*\"?)[^\s\"',;}]+"),
)
# LogRecord attributes that are not ``extra`` fields.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}
_QUIET = frozenset({EventKind.POLLED})  # one per status call: DEBUG, not INFO


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret, bearer token and ``api_key=...`` value replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, its ``extra``
    fields, and the exception when there is one.

    Args:
        secrets: values never to write (e.g. the API keys in use); kept out of the repr.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def __repr__(self) -> str:
        return f"JsonFormatter(secrets={len(self._secrets)} hidden)"

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                data[name] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        line = json.dumps(data, default=str, ensure_ascii=False)
        return redact(line, self._secrets)


class EventLogger:
    """An event callback that logs every lifecycle event as one record.

    State changes are INFO, polls DEBUG; the record's ``extra`` fields are ``event``,
    ``key``, ``provider``, ``model``, ``task_id`` and ``detail``.

    Args:
        logger: where to log (``seedance_async.events`` by default).
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("seedance_async.events")

    def __call__(self, event: Event) -> None:
        level = logging.DEBUG if event.kind in _QUIET else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        where = f" on {event.provider}" if event.provider else ""
        self.logger.log(
            level,
            "%s %s%s%s",
            event.kind.value,
            event.key or "-",
            where,
            f": {event.detail}" if event.detail else "",
            extra={
                "event": event.kind.value,
                "key": event.key or None,
                "provider": event.provider or None,
                "model": event.model,
                "task_id": event.task_id,
                "detail": event.detail,
            },
        )
