"""Thousands of tasks at once: submit and poll stages over one task table, journaled."""

from __future__ import annotations

from seedance_async.tracker._callbacks import CallbackSummary
from seedance_async.tracker._spend import SpendCap
from seedance_async.tracker._task import TrackedTask
from seedance_async.tracker._tracker import Tracker

__all__ = ["CallbackSummary", "SpendCap", "TrackedTask", "Tracker"]
