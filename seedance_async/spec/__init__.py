"""What to generate and what came of it: the task spec, its rules, the model catalog,
statuses, handles, results, and the one codec for their JSON forms.
"""

from __future__ import annotations

from seedance_async.spec._catalog import MODELS, ModelCapabilities, model_capabilities
from seedance_async.spec._codec import (
    dump_handle,
    dump_result,
    dump_status,
    dump_task,
    load_handle,
    load_result,
    load_status,
    load_stored_task,
    load_task,
    task_hash,
)
from seedance_async.spec._cost import (
    CostEstimate,
    PriceTable,
    estimate_cost,
    estimate_tokens,
    load_price_table,
    usage_cost,
)
from seedance_async.spec._handle import Attempt, DownloadPart, Outcome, TaskHandle, TaskResult
from seedance_async.spec._rules import UnknownModelWarning
from seedance_async.spec._status import (
    FAILURE_CATEGORIES,
    TERMINAL_STATES,
    EffectiveParams,
    FailureCategory,
    TaskState,
    TaskStatus,
    Usage,
)
from seedance_async.spec._task import VideoTask, validate
from seedance_async.spec._vocab import (
    Image,
    ImageRole,
    Ratio,
    RatioName,
    Resolution,
    ResolutionName,
    RoleName,
    ServiceTier,
    ServiceTierName,
)

__all__ = [
    "FAILURE_CATEGORIES",
    "MODELS",
    "TERMINAL_STATES",
    "Attempt",
    "CostEstimate",
    "DownloadPart",
    "EffectiveParams",
    "FailureCategory",
    "Image",
    "ImageRole",
    "ModelCapabilities",
    "Outcome",
    "PriceTable",
    "Ratio",
    "RatioName",
    "Resolution",
    "ResolutionName",
    "RoleName",
    "ServiceTier",
    "ServiceTierName",
    "TaskHandle",
    "TaskResult",
    "TaskState",
    "TaskStatus",
    "UnknownModelWarning",
    "Usage",
    "VideoTask",
    "dump_handle",
    "dump_result",
    "dump_status",
    "dump_task",
    "estimate_cost",
    "estimate_tokens",
    "load_handle",
    "load_price_table",
    "load_result",
    "load_status",
    "load_stored_task",
    "load_task",
    "model_capabilities",
    "task_hash",
    "usage_cost",
    "validate",
]
