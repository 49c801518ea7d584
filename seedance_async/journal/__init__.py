"""Durable records of every task: the journal protocol and its SQLite implementation."""

from __future__ import annotations

from seedance_async.journal._protocol import Journal, JournalEntry, NullJournal
from seedance_async.journal._sqlite import SqliteJournal

__all__ = ["Journal", "JournalEntry", "NullJournal", "SqliteJournal"]
