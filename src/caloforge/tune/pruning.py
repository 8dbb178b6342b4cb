"""Pruning trials by the median rule on their intermediate validation loss."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from caloforge._optional import require
from caloforge.tune.settings import TuneSettings


class Pruning:
    """Trainer callback reporting the validation loss to the trial and pruning."""

    def __init__(self, trial: Any, settings: TuneSettings, metric: str) -> None:
        self.trial = trial
        self.settings = settings
        self.metric = metric
        self.seen = 0
        self.values: dict[str, float] = {}

    def on_start(self, start_step: int, total_steps: int) -> None: ...

    def on_step(self, step: int) -> None: ...

    def on_end(self, result: Any) -> None: ...

    def on_log(self, record: dict[str, Any]) -> None:
        if "val" not in record:
            return
        optuna = require("optuna")
        step, value = int(record["step"]), float(record["val"][self.metric])
        self.seen += 1
        if not math.isfinite(value):
            raise optuna.TrialPruned(f"non-finite validation loss at step {step}")
        if not self.settings.speed:  # Optuna's own pruner (one objective)
            self.trial.report(value, step)
            warm = self.seen > self.settings.prune_warmup
            if self.settings.prune and warm and self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step} ({self.metric}={value:.4g})")
            return
        self.values[str(step)] = value
        self.trial.set_user_attr("intermediate", self.values)
        if (
            self.settings.prune
            and self.seen > self.settings.prune_warmup
            and self._worse(step, value)
        ):
            raise optuna.TrialPruned(f"pruned at step {step} ({self.metric}={value:.4g})")

    def _worse(self, step: int, value: float) -> bool:
        """Median rule over the finished trials' values at the same step."""
        optuna = require("optuna")
        done = self.trial.study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)
        )
        others = [
            t.user_attrs["intermediate"][str(step)]
            for t in done
            if str(step) in t.user_attrs.get("intermediate", {})
        ]
        if len(others) < self.settings.prune_startup:
            return False
        return value > float(np.median(others))


__all__ = ["Pruning"]
