"""Durable records of every task: the journal protocol and its SQLite implementation."""

from __future__ import annotations

from seedance_async.journal._protocol import (
    AttemptJournal,
    CallbackTokenJournal,
    Journal,
    JournalEntry,
    NullJournal,
    SendStamp,
    SendStampJournal,
)
from seedance_async.journal._sqlite import SqliteJournal
from seedance_async.journal._sqlite_schema import BatchIdentity

__all__ = [
    "AttemptJournal",
    "BatchIdentity",
    "CallbackTokenJournal",
    "Journal",
    "JournalEntry",
    "NullJournal",
    "SendStamp",
    "SendStampJournal",
    "SqliteJournal",
]
