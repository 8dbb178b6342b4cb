"""The ``train`` configuration section, how a run's configuration is resolved, and which
keys a resumed run may change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from caloforge.config import ConfigError, config_to_dict, resolve_config
from caloforge.models import ModelConfig, get_family
from caloforge.train.validation import VAL_METRICS


@dataclass(frozen=True)
class TrainConfig:
    """Training-loop settings (the ``train`` config section).

    Arguments:
        steps: total optimisation steps (a resumed run continues up to this number).
        batch_size: showers per step.
        lr / betas / weight_decay: Adam settings (a family may set its own per optimiser).
        schedule: learning-rate schedule after warm-up: constant, cosine or linear decay.
        warmup_steps: linear warm-up steps.
        min_lr_factor: final learning rate of cosine/linear decay, as a factor of ``lr``.
        grad_clip: clip each optimiser's gradient norm to this value (0: off).
        ema_decay: exponential moving average of the weights used for sampling (0: off).
        checkpoint_every: steps between checkpoints (one is always written at the end).
        log_every: steps between metric lines.
        val_every: steps between validations (needs a validation file; 0: only at the end).
        val_showers: validation showers used (first N of the file).
        early_stop_metric: one of ``VAL_METRICS``; lower is better.
        early_stop_patience: stop after this many validations without improvement (0: off).
        max_time_min: stop (and checkpoint) after this many minutes of training (0: off).
        max_showers: training showers read (first N; 0: all).
        finalize_showers: training showers handed to the model's ``finalize`` hook.
        seed: seed of every random generator of the run.
        threads: torch CPU threads (0: torch's default).
        device: ``auto`` (cuda if available, else cpu), ``cpu``, ``cuda``, ``cuda:1``, ...
        max_memory_gb: memory a run may use, GB (0: what the device has available); a
            family that estimates its peak memory is refused before training when the
            estimate exceeds it (:mod:`caloforge.train.memory`).
    """

    steps: int = 10_000
    batch_size: int = 128
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    schedule: Literal["constant", "cosine", "linear"] = "constant"
    warmup_steps: int = 0
    min_lr_factor: float = 0.0
    grad_clip: float = 0.0
    ema_decay: float = 0.0
    checkpoint_every: int = 1000
    log_every: int = 50
    val_every: int = 1000
    val_showers: int = 2000
    early_stop_metric: str = "val_score"
    early_stop_patience: int = 0
    max_time_min: float = 0.0
    max_showers: int = 0
    finalize_showers: int = 5000
    seed: int = 0
    threads: int = 0
    device: str = "auto"
    max_memory_gb: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "steps",
            "warmup_steps",
            "max_showers",
            "val_every",
            "early_stop_patience",
            "threads",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        for name in (
            "batch_size",
            "checkpoint_every",
            "log_every",
            "val_showers",
            "finalize_showers",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.early_stop_metric not in VAL_METRICS:
            raise ValueError(
                f"train.early_stop_metric {self.early_stop_metric!r} is not one of "
                f"{', '.join(VAL_METRICS)}"
            )
        for name in ("weight_decay", "grad_clip", "max_time_min", "min_lr_factor", "max_memory_gb"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if not (0 <= self.lr < float("inf")):
            raise ValueError(f"train.lr must be a finite number >= 0, got {self.lr}")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"train.betas must be in [0, 1), got {self.betas}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"train.ema_decay must be in [0, 1), got {self.ema_decay}")


RESUMABLE_KEYS = (
    "train.steps",
    "train.max_time_min",
    "train.checkpoint_every",
    "train.log_every",
    "train.val_every",
    "train.val_showers",
    "train.early_stop_patience",
    "train.threads",
    "train.max_memory_gb",
)
"""The keys ``--resume`` lets a run change: where it stops, how often it logs, validates and
checkpoints, CPU threads. Every other key (architecture, optimiser, seed, data, device)
would make the continued run differ from one that was never interrupted."""


def resolve_run_config(
    family: str,
    *,
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
    base: dict[str, Any] | None = None,
) -> tuple[ModelConfig, TrainConfig]:
    """(model config, train config) of ``family``: family defaults (or ``base``, a stored
    resolved config) < config file < overrides."""
    cls = get_family(family)
    defaults = base if base is not None else {"train": cls.train_defaults}
    cfg = resolve_config(
        {"model": cls.config_class, "train": TrainConfig},
        defaults=defaults,
        file=config_file,
        overrides=overrides,
    )
    return cfg["model"], cfg["train"]


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    return {f"{s}.{k}": v for s, section in config.items() for k, v in section.items()}


def check_resume_config(
    family: str,
    stored: dict[str, Any],
    model: ModelConfig,
    train: TrainConfig,
    *,
    source: str,
) -> None:
    """Refuse a resumed configuration that changes keys other than :data:`RESUMABLE_KEYS`
    and the family's own ``resumable_keys`` (settings of a later phase, such as
    distillation, or of sampling).

    Arguments:
        stored: the checkpoint's ``config`` (``{"model": ..., "train": ...}``).
        model / train: the configuration the resumed run would use.
        source: the checkpoint path, for the message.

    Raises:
        ConfigError: naming every changed key with its stored and new value.
    """
    old = _flat(
        config_to_dict(
            dict(zip(("model", "train"), resolve_run_config(family, base=stored), strict=True))
        )
    )
    new = _flat(config_to_dict({"model": model, "train": train}))
    allowed = (*RESUMABLE_KEYS, *(f"model.{k}" for k in get_family(family).resumable_keys))
    changed = [k for k in new if k not in allowed and new[k] != old.get(k)]
    if changed:
        what = ", ".join(f"{k} ({old.get(k)!r} -> {new[k]!r})" for k in changed)
        raise ConfigError(
            f"{source}: --resume cannot change {what}; only {', '.join(allowed)} may "
            "change (or start again with --overwrite)"
        )


__all__ = [
    "RESUMABLE_KEYS",
    "TrainConfig",
    "check_resume_config",
    "resolve_run_config",
]
