"""The one training loop, checkpoints and model loading."""

from caloforge.train.checkpoint import (
    CheckpointError,
    DetectorMismatchError,
    check_detector,
    load_checkpoint,
    save_checkpoint,
)
from caloforge.train.trainer import (
    VAL_METRICS,
    TrainCallback,
    TrainConfig,
    TrainResult,
    build_model,
    load_model,
    resolve_run_config,
    train,
    validation_metrics,
)

__all__ = [
    "VAL_METRICS",
    "CheckpointError",
    "DetectorMismatchError",
    "TrainCallback",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "check_detector",
    "load_checkpoint",
    "load_model",
    "resolve_run_config",
    "save_checkpoint",
    "train",
    "validation_metrics",
]
