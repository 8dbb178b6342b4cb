"""The one training loop, its state and configuration, checkpoints and model loading."""

from caloforge.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from caloforge.train.config import RESUMABLE_KEYS, TrainConfig, resolve_run_config
from caloforge.train.loading import (
    DetectorMismatchError,
    build_model,
    check_detector,
    load_model,
)
from caloforge.train.trainer import (
    TrainCallback,
    TrainingDivergedError,
    TrainResult,
    train,
)
from caloforge.train.validation import VAL_METRICS, validation_metrics

__all__ = [
    "RESUMABLE_KEYS",
    "VAL_METRICS",
    "CheckpointError",
    "DetectorMismatchError",
    "TrainCallback",
    "TrainConfig",
    "TrainResult",
    "TrainingDivergedError",
    "build_model",
    "check_detector",
    "load_checkpoint",
    "load_model",
    "resolve_run_config",
    "save_checkpoint",
    "train",
    "validation_metrics",
]
