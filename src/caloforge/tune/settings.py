"""How trials are scored and pruned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class TuneSettings:
    """How trials are scored and pruned.

    Arguments:
        objective: fidelity metric, ``auc`` (two-sample classifier) or ``separation``.
        speed: add generation time per shower as a second objective (Pareto front).
        eval_showers: validation showers used for the fidelity and timing.
        prune: prune trials by the median rule on the intermediate validation loss.
        prune_startup: finished trials needed before pruning starts.
        prune_warmup: validations of a trial before it may be pruned.
        seed: sampler seed (None: different draws per worker, as workers should).
    """

    objective: Literal["auc", "separation"] = "auc"
    speed: bool = True
    eval_showers: int = 2000
    prune: bool = True
    prune_startup: int = 3
    prune_warmup: int = 1
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.objective not in ("auc", "separation"):
            raise ValueError(f"objective {self.objective!r} is not 'auc' or 'separation'")
        if self.eval_showers < 20:
            raise ValueError(f"eval_showers={self.eval_showers} must be >= 20")

    @property
    def directions(self) -> list[str]:
        return ["minimize", "minimize"] if self.speed else ["minimize"]

    @property
    def names(self) -> list[str]:
        fid = "auc" if self.objective == "auc" else "separation"
        return [fid, "ms_per_shower"] if self.speed else [fid]


__all__ = ["TuneSettings"]
