"""Blocking calls for scripts and notebooks, run on a private event-loop thread.

``seedance_async.sync.generate(task, "out.mp4", provider="ark")`` and :class:`SyncClient`
(submit, status, wait, download, cancel, generate) are the async API, called without
``await``; they work inside a running event loop too (Jupyter).
"""

from __future__ import annotations

from seedance_async.sync._portal import SyncClient, generate

__all__ = ["SyncClient", "generate"]
