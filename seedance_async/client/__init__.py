"""One call per request: the Client façade over per-alias provider clients, with
at-most-once paid submits, and :func:`generate` (submit, wait, download in one call).
"""

from __future__ import annotations

from seedance_async.client._alias import ProviderClient, SubmitOutcomeUnknown
from seedance_async.client._cancel import CancelOutcome, CancelResult
from seedance_async.client._client import BudgetFactory, Client, TransportFactory
from seedance_async.client._context import AliasContext
from seedance_async.client._generate import Generation, ProviderChoice, generate, resolve_provider
from seedance_async.client._loading import load_local_images

__all__ = [
    "AliasContext",
    "BudgetFactory",
    "CancelOutcome",
    "CancelResult",
    "Client",
    "Generation",
    "ProviderChoice",
    "ProviderClient",
    "SubmitOutcomeUnknown",
    "TransportFactory",
    "generate",
    "load_local_images",
    "resolve_provider",
]
