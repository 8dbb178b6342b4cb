"""What a training run changes as it goes, in one dataclass written to and read from a
checkpoint in one place (:meth:`TrainState.to_checkpoint` / :meth:`TrainState.from_checkpoint`).

Exact resume needs the model weights, the optimiser states, the EMA weights, the noise
generator of every process, the data-order generator with the current permutation and
position in it, the best validation metric with the patience counter, and the elapsed
time. The checkpoint keys are those of :mod:`caloforge.train.checkpoint`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from caloforge._version import __version__
from caloforge.geometry.loader import detector_to_json
from caloforge.models import ShowerModel
from caloforge.train import ddp
from caloforge.train.checkpoint import CheckpointError
from caloforge.train.config import TrainConfig
from caloforge.train.loading import copy_parameters, load_state

log = logging.getLogger(__name__)


class EMA:
    """Exponential moving average of a model's :meth:`~ShowerModel.ema_parameters`.

    Each parameter's average starts when the parameter is first trained, and its decay warms
    up over that parameter's own updates, ``min(decay, (1 + n) / (10 + n))`` after ``n`` of
    them: the average of a network trained from a later step (a distilled student) holds
    none of its initial weights, and that of a short training is not held back by the
    weights of its first steps. From about ``10 / (1 - decay)`` updates on it is the plain
    average with ``decay``.
    """

    def __init__(self, model: ShowerModel, decay: float) -> None:
        self.decay = decay
        self.shadow = {n: p.detach().clone() for n, p in model.ema_parameters()}
        self.updates = dict.fromkeys(self.shadow, 0)

    @torch.no_grad()
    def update(self, model: ShowerModel) -> None:
        for n, p in model.ema_parameters():
            k = self.updates[n]
            if k == 0 and torch.equal(self.shadow[n], p):
                continue  # not trained yet: nothing to average
            self.updates[n] = k + 1
            self.shadow[n].lerp_(p.detach(), 1.0 - min(self.decay, (1 + k) / (10 + k)))

    def restore(
        self,
        model: ShowerModel,
        shadow: dict[str, torch.Tensor],
        updates: dict[str, int] | None,
        step: int,
    ) -> None:
        """The state of a saved run. A checkpoint written before the update counts were
        kept: a parameter whose average equals its weights has not been trained yet, the
        others count the run's ``step`` updates."""
        self.shadow = shadow
        if updates is None:
            params = dict(model.ema_parameters())
            updates = {n: 0 if torch.equal(v, params[n]) else step for n, v in shadow.items()}
        self.updates = {n: int(updates.get(n, 0)) for n in shadow}

    @contextmanager
    def applied(self, model: ShowerModel) -> Iterator[None]:
        """Temporarily swap the averaged weights in."""
        params = dict(model.named_parameters())
        backup = {n: params[n].detach().clone() for n in self.shadow}
        copy_parameters(model, self.shadow)
        try:
            yield
        finally:
            copy_parameters(model, backup)


@dataclass
class TrainState:
    """The live state of a run: model, optimisers, EMA, random generators and counters.

    Arguments:
        model: the model being trained.
        optimizers: one Adam optimiser per :meth:`~ShowerModel.optimizers` group.
        base_lr: each optimiser's learning rate before the schedule's factor.
        generator: this process's noise generator (handed to ``training_step``).
        order: the data-order generator (the same on every process).
        ema: the weight average, or None.
        world_size: processes of the run.
        step: optimisation steps done.
        perm / pos: the current data permutation and the position in it.
        best / bad_validations: best validation metric so far, validations since.
        elapsed: seconds of training so far (over every resumed part).
    """

    model: ShowerModel
    optimizers: dict[str, torch.optim.Optimizer]
    base_lr: dict[str, float]
    generator: torch.Generator
    order: torch.Generator
    ema: EMA | None = None
    world_size: int = 1
    step: int = 0
    perm: torch.Tensor | None = None
    pos: int = 0
    best: float | None = None
    bad_validations: int = 0
    elapsed: float = 0.0

    @classmethod
    def create(
        cls,
        model: ShowerModel,
        cfg: TrainConfig,
        *,
        device: torch.device,
        dist: ddp.DistContext = ddp.SINGLE,
    ) -> TrainState:
        """The state at step 0 of a model whose preprocessing and data are fitted."""
        generator = torch.Generator(device=device)
        generator.manual_seed(ddp.rank_seed(cfg.seed, dist.rank))
        order = torch.Generator()
        order.manual_seed(cfg.seed + 1)
        specs = model.optimizers() if model.trainable else {}
        optimizers: dict[str, torch.optim.Optimizer] = {
            name: torch.optim.Adam(
                spec.params,
                lr=spec.lr if spec.lr is not None else cfg.lr,
                betas=spec.betas if spec.betas is not None else cfg.betas,
                weight_decay=cfg.weight_decay,
            )
            for name, spec in specs.items()
        }
        return cls(
            model=model,
            optimizers=optimizers,
            base_lr={name: opt.param_groups[0]["lr"] for name, opt in optimizers.items()},
            generator=generator,
            order=order,
            ema=EMA(model, cfg.ema_decay) if cfg.ema_decay > 0 and optimizers else None,
            world_size=dist.world_size,
        )

    @classmethod
    def from_checkpoint(
        cls,
        ckpt: dict[str, Any],
        model: ShowerModel,
        cfg: TrainConfig,
        *,
        device: torch.device,
        dist: ddp.DistContext = ddp.SINGLE,
        source: str = "checkpoint",
    ) -> TrainState:
        """The state saved by :meth:`to_checkpoint`, loaded into ``model`` and new optimisers.

        A run resumed with another number of processes continues rank 0's noise
        generator and reseeds the others.

        Raises:
            CheckpointError: the weights do not fit ``model`` or the trainer state is missing.
        """
        load_state(model, ckpt, source)
        state = cls.create(model, cfg, device=device, dist=dist)
        t = ckpt.get("trainer")
        if not isinstance(t, dict) or set(state.optimizers) - set(t.get("optimizers", {})):
            raise CheckpointError(f"{source}: holds no training state to resume from")
        state.step = int(ckpt["step"])
        for name, opt in state.optimizers.items():
            opt.load_state_dict(t["optimizers"][name])
        saved = t.get("rank_generators")
        if not dist.enabled:
            state.generator.set_state(t["generator"])
        elif saved is not None and len(saved) == dist.world_size:
            state.generator.set_state(saved[dist.rank])
        elif dist.is_main:
            state.generator.set_state(t["generator"])
            log.warning("resuming with %d processes: noise generators reseeded", dist.world_size)
        else:
            state.generator.manual_seed(ddp.rank_seed(cfg.seed + state.step, dist.rank))
        state.order.set_state(t["order"])
        state.perm, state.pos = t.get("perm"), int(t.get("pos", 0))
        state.best, state.bad_validations = t.get("best"), int(t.get("bad_validations", 0))
        state.elapsed = float(t.get("elapsed", 0.0))
        if state.ema is not None and ckpt.get("ema"):
            ema = model.current_names(ckpt["ema"])
            shadow = {k: v.to(device) for k, v in ema.items()}
            updates = t.get("ema_updates")
            updates = None if updates is None else model.current_names(updates)
            state.ema.restore(model, shadow, updates, state.step)
        return state

    def to_checkpoint(
        self,
        *,
        config: dict[str, Any],
        conditions: dict[str, Any],
        info: dict[str, Any],
        rank_generators: list[torch.Tensor] | None = None,
    ) -> dict[str, Any]:
        """The checkpoint dict (the one place that writes it).

        Arguments:
            config: the resolved configuration, ``{"model": {...}, "train": {...}}``.
            conditions: the range of the training conditions
                (:func:`caloforge.data.conditions.condition_ranges`).
            info: what the run was trained on (data paths, showers, processes).
            rank_generators: every process's noise-generator state (data-parallel runs).
        """
        weights = self.model.state_dict()
        return {
            "family": self.model.name,
            "caloforge_version": __version__,
            "step": self.step,
            "config": config,
            "detector": detector_to_json(self.model.detector),
            "condition_features": list(self.model.condition_names),
            "conditions": conditions,
            "state": weights,
            "preprocessing": {
                k: v for k, v in weights.items() if k.startswith(("transform.", "cond_scaler."))
            },
            "ema": dict(self.ema.shadow) if self.ema is not None else None,
            "trainer": {
                "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
                "generator": self.generator.get_state(),
                "rank_generators": rank_generators,
                "world_size": self.world_size,
                "order": self.order.get_state(),
                "perm": self.perm,
                "pos": self.pos,
                "best": self.best,
                "bad_validations": self.bad_validations,
                "elapsed": self.elapsed,
                "ema_updates": dict(self.ema.updates) if self.ema is not None else None,
            },
            "info": {"describe": self.model.describe(), **info},
        }

    def non_finite(self, losses: dict[str, float]) -> str | None:
        """What is not finite after a step (a loss or a weight), or None."""
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        if bad:
            return "non-finite loss " + ", ".join(f"{k}={losses[k]}" for k in bad)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if params and not torch.isfinite(torch.nn.utils.get_total_norm(params)):
            names = [n for n, p in self.model.named_parameters() if not p.isfinite().all()]
            if names:
                return "non-finite weights in " + ", ".join(names[:3])
        return None


__all__ = ["EMA", "TrainState"]
