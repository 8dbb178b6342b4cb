"""The one training loop shared by every model family.

:func:`train` resolves the configuration (family defaults < config file < ``key=value``),
reads the data, learns the preprocessing, and runs the loop: the family's
:meth:`~caloforge.models.ShowerModel.training_step` calls ``ctx.optimize(name, loss)`` for
each of its optimisers (so a GAN alternates critic and generator updates without a loop of
its own); the trainer owns the optimisers (Adam), the learning-rate schedule (a pure
function of the step, so resume is exact), gradient clipping, an optional EMA of the
weights, validation with early stopping, JSON-lines metrics, atomic checkpoints every N
steps, at the end and at the step where a SIGINT or SIGTERM arrives
(:mod:`~caloforge.train.interrupts`), and exact resume (everything in
:class:`~caloforge.train.state.TrainState`).

A step that gives a non-finite loss or weight stops the run with
:class:`TrainingDivergedError`; the checkpoint on disk is the last good one. ``resume``
refuses a configuration that differs from the checkpoint's in any key but
:data:`~caloforge.train.config.RESUMABLE_KEYS`.

Outputs in ``out``: ``checkpoint.pt`` (latest; resumable and usable by ``generate``),
``best.pt`` (best validation metric, when a validation file is given), ``metrics.jsonl``
and ``config.json`` (the resolved configuration).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from caloforge.config import ConfigError, config_to_dict, save_config
from caloforge.data import Conditions, ShowerFile
from caloforge.data.conditions import condition_ranges
from caloforge.files import write_text, writes_output
from caloforge.geometry import Detector, same_detector
from caloforge.models import Batch, ModelConfig, StepContext
from caloforge.train import ddp
from caloforge.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from caloforge.train.config import TrainConfig, check_resume_config, resolve_run_config
from caloforge.train.interrupts import StepBoundarySignals
from caloforge.train.loading import (
    build_model,
    check_detector,
    checkpoint_detector,
    open_data,
    resolve_device,
)
from caloforge.train.memory import check_memory
from caloforge.train.state import TrainState
from caloforge.train.validation import validation_metrics

log = logging.getLogger(__name__)


class TrainingDivergedError(ValueError):
    """A step gave a non-finite loss or weight; the run stopped, its last good checkpoint kept.

    A ``ValueError`` (one line, exit code 2 on the command line): a diverging run is fixed
    by changing what it was given (learning rate, clipping, data), not caloforge.
    """


class TrainCallback:
    """Hooks the CLI uses for its progress bar; the library itself only logs."""

    def on_start(self, start_step: int, total_steps: int) -> None: ...

    def on_step(self, step: int) -> None: ...

    def on_log(self, record: dict[str, Any]) -> None: ...

    def on_end(self, result: TrainResult) -> None: ...


@dataclass
class TrainResult:
    """What a training run produced."""

    out: Path
    checkpoint: Path
    family: str
    steps: int
    stopped: str
    elapsed_s: float
    best: float | None = None
    best_checkpoint: Path | None = None
    describe: dict[str, Any] = field(default_factory=dict)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Learning-rate factor at ``step`` (warm-up, then constant / cosine / linear decay)."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    span = max(cfg.steps - cfg.warmup_steps, 1)
    t = min(max(step - cfg.warmup_steps, 0) / span, 1.0)
    decay = 0.5 * (1 + math.cos(math.pi * t)) if cfg.schedule == "cosine" else 1.0 - t
    return cfg.min_lr_factor + (1 - cfg.min_lr_factor) * decay


@dataclass(frozen=True)
class RunFiles:
    """The files of a run folder (:meth:`in_folder`)."""

    out: Path
    checkpoint: Path
    best: Path
    metrics: Path
    config: Path

    @classmethod
    def in_folder(cls, out: Path) -> RunFiles:
        names = ("checkpoint.pt", "best.pt", "metrics.jsonl", "config.json")
        return cls(out, *(out / name for name in names))


def _read(
    data: str | Path | Sequence[str | Path] | ShowerFile,
    detector: Detector | str | Path | None,
    limit: int,
) -> tuple[NDArray[np.float32], Conditions, Detector, list[str]]:
    f = open_data(data, detector)
    n = len(f) if limit <= 0 else min(limit, len(f))
    return f.showers(0, n), f.conditions(0, n), f.detector, [str(p) for p in f.paths]


def _read_validation(
    val: str | Path | Sequence[str | Path] | ShowerFile, detector: Detector, limit: int
) -> tuple[NDArray[np.float32], Conditions]:
    showers, conditions, det, paths = _read(val, detector, limit)
    if not same_detector(det, detector):
        raise ValueError(
            f"{', '.join(paths)}: validation data is for detector {det.name!r}, "
            f"not {detector.name!r}"
        )
    return showers, conditions


def _run_config(
    family: str,
    files: RunFiles,
    *,
    config_file: str | Path | None,
    overrides: Sequence[str],
    resume: bool,
    overwrite: bool,
) -> tuple[dict[str, Any] | None, ModelConfig, TrainConfig]:
    """(checkpoint to resume from or None, model config, train config) of a run, with the
    checks of its folder: a run there is resumed, or replaced only with ``overwrite``."""
    if not resume:
        if files.checkpoint.exists() and not overwrite:
            raise FileExistsError(
                f"{files.out}: holds a training run; pass --resume to continue it "
                "or --overwrite to start again"
            )
        return None, *resolve_run_config(family, config_file=config_file, overrides=overrides)
    ckpt = load_checkpoint(files.checkpoint)
    source = str(files.checkpoint)
    if ckpt["family"] != family:
        raise CheckpointError(f"{source}: holds a {ckpt['family']!r} run, not {family!r}")
    model_cfg, cfg = resolve_run_config(
        family, config_file=config_file, overrides=overrides, base=ckpt["config"]
    )
    check_resume_config(family, ckpt["config"], model_cfg, cfg, source=source)
    return ckpt, model_cfg, cfg


def _truncate_log(path: Path, step: int) -> None:
    """Drop metric lines beyond ``step`` (written after the checkpoint a run resumes from)."""
    if not path.exists():
        return
    keep = [
        ln
        for ln in path.read_text().splitlines()
        if ln.strip() and json.loads(ln).get("step", 0) <= step
    ]
    write_text(path, "".join(ln + "\n" for ln in keep))


class _Loop:
    """The loop of one run: :meth:`run` reads top to bottom, the other methods are its parts.

    Only ``state`` changes as the loop goes (and the running loss sums between log lines).
    """

    def __init__(
        self,
        state: TrainState,
        cfg: TrainConfig,
        *,
        data: Batch,
        val_set: tuple[NDArray[np.float32], Conditions] | None,
        files: RunFiles,
        config: dict[str, Any],
        conditions: dict[str, Any],
        info: dict[str, Any],
        dist: ddp.DistContext,
        device: torch.device,
        callbacks: Sequence[TrainCallback],
        resumed: bool,
    ) -> None:
        self.state, self.cfg, self.data, self.val_set = state, cfg, data, val_set
        self.files, self.config, self.conditions, self.info = files, config, conditions, info
        self.dist, self.device, self.callbacks = dist, device, callbacks
        self.batch_size = min(cfg.batch_size, len(data))
        if self.batch_size < dist.world_size:
            raise ConfigError(
                f"train.batch_size={self.batch_size} is smaller than the "
                f"{dist.world_size} processes"
            )
        self.local_n = self.batch_size
        self.finalize_batch = data.select(slice(0, cfg.finalize_showers))
        self.last_saved = state.step if resumed else None
        self.sums: dict[str, float] = {}
        self.count = 0

    def run(self) -> str:
        """Train up to ``train.steps``; returns why it stopped."""
        s, cfg = self.state, self.cfg
        with StepBoundarySignals() as signals:
            stopped = self.loop(signals)
            if (
                stopped != "early stopping"
                and self.val_set is not None
                and (not s.optimizers or cfg.val_every == 0 or s.step % cfg.val_every != 0)
            ):
                self.validate()
            self.finalize()
            self.save(self.files.checkpoint)
        s.model.eval()
        return stopped

    def loop(self, signals: StepBoundarySignals) -> str:
        """The steps; returns why they stopped. A SIGINT or SIGTERM noted by ``signals``
        during a step is handed on after the step, once its checkpoint is written."""
        s, cfg = self.state, self.cfg
        stopped = "steps" if s.optimizers else "no training needed"
        t0 = time.perf_counter() - s.elapsed
        s.model.train()
        while s.optimizers and s.step < cfg.steps:
            ctx = StepContext(s.step, s.generator, self.optimize)
            losses = s.model.training_step(self.next_batch(), ctx)
            if s.ema is not None:
                s.ema.update(s.model)
            s.step += 1
            s.elapsed = time.perf_counter() - t0
            self.check_finite(losses)
            for k, v in losses.items():
                self.sums[k] = self.sums.get(k, 0.0) + v
            self.count += 1
            for cb in self.callbacks:
                cb.on_step(s.step)
            if s.step % cfg.log_every == 0 or s.step == cfg.steps:
                self.log_losses()
            if cfg.max_time_min > 0 and ddp.any_rank(
                s.elapsed > 60 * cfg.max_time_min, self.dist, self.device
            ):
                stopped = "time limit"
            elif self.val_set is not None and cfg.val_every > 0 and s.step % cfg.val_every == 0:
                if self.validate():
                    stopped = "early stopping"
            if stopped != "steps":
                break
            if s.step % cfg.checkpoint_every == 0 and s.step < cfg.steps:
                self.finalize()
                self.save(self.files.checkpoint)
            if ddp.any_rank(signals.pending is not None, self.dist, self.device):
                if self.last_saved != s.step:
                    self.finalize()
                    self.save(self.files.checkpoint)
                log.info("%s: checkpoint of step %d written", self.files.checkpoint, s.step)
                signals.deliver()
                raise KeyboardInterrupt  # a rank of a distributed run that got no signal
        return stopped

    def next_batch(self) -> Batch:
        """This process's part of the next global batch; sets the learning rates."""
        s, n, size = self.state, len(self.data), self.batch_size
        if s.perm is None or s.pos + size > n:
            s.perm, s.pos = torch.randperm(n, generator=s.order), 0
        idx = s.perm[s.pos : s.pos + size][ddp.local_slice(size, self.dist)].to(self.device)
        self.local_n = len(idx)
        s.pos += size
        factor = lr_factor(s.step, self.cfg)
        for name, opt in s.optimizers.items():
            for group in opt.param_groups:
                group["lr"] = s.base_lr[name] * factor
        return self.data.select(idx)

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        """``ctx.optimize``: back-propagate, average over processes, clip, step."""
        if name not in self.state.optimizers:
            raise KeyError(
                f"{self.state.model.name}: no optimiser named {name!r} "
                f"(has {', '.join(self.state.optimizers)})"
            )
        opt = self.state.optimizers[name]
        params = [p for g in opt.param_groups for p in g["params"]]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        ddp.average_gradients(params, self.local_n, self.batch_size, self.dist)
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        opt.step()

    def check_finite(self, losses: dict[str, float]) -> None:
        """Stop at the first non-finite loss or weight (on every process together)."""
        what = self.state.non_finite(losses)
        if not ddp.any_rank(what is not None, self.dist, self.device):
            return
        kept = (
            f"the last good checkpoint (step {self.last_saved}) is kept: {self.files.checkpoint}"
            if self.last_saved is not None
            else "no checkpoint of this run was written"
        )
        raise TrainingDivergedError(
            f"{self.state.model.name}: training diverged at step {self.state.step} "
            f"({what or 'on another process'}); {kept}; lower train.lr, set train.grad_clip "
            "or check the data"
        )

    def log_losses(self) -> None:
        s = self.state
        losses = {k: v / self.count for k, v in self.sums.items()}
        self.write_log(
            {
                "step": s.step,
                "time": round(s.elapsed, 3),
                "lr": {name: opt.param_groups[0]["lr"] for name, opt in s.optimizers.items()},
                "loss": ddp.mean_over_ranks(losses, self.dist, self.device),
            }
        )
        self.sums, self.count = {}, 0

    def write_log(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        with self.files.metrics.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        for cb in self.callbacks:
            cb.on_log(record)

    def finalize(self) -> None:
        """The model's ``finalize`` hook on the training showers (EMA weights applied)."""
        s = self.state
        with s.ema.applied(s.model) if s.ema is not None else contextlib.nullcontext():
            s.model.finalize(self.finalize_batch)

    def validate(self) -> bool:
        """Validate, keep the best checkpoint; True when early stopping says stop."""
        assert self.val_set is not None
        s, cfg = self.state, self.cfg
        self.finalize()
        improved = False
        if self.dist.is_main:  # the other ranks wait for rank 0's decision
            with s.ema.applied(s.model) if s.ema is not None else contextlib.nullcontext():
                metrics = validation_metrics(s.model, *self.val_set)
            self.write_log({"step": s.step, "time": round(s.elapsed, 3), "val": metrics})
            value = metrics[cfg.early_stop_metric]
            improved = s.best is None or value < s.best
            if improved:
                s.best, s.bad_validations = value, 0
            else:
                s.bad_validations += 1
        s.best, s.bad_validations, improved = ddp.broadcast_value(
            (s.best, s.bad_validations, improved), self.dist
        )
        if improved:
            self.save(self.files.best)
        return cfg.early_stop_patience > 0 and s.bad_validations >= cfg.early_stop_patience

    def save(self, path: Path) -> None:
        """Checkpoint from rank 0 (a collective first: every rank's noise generator)."""
        states = ddp.gather_values(self.state.generator.get_state(), self.dist)
        if self.dist.is_main:
            ckpt = self.state.to_checkpoint(
                config=self.config,
                conditions=self.conditions,
                info=self.info,
                rank_generators=states if self.dist.enabled else None,
            )
            save_checkpoint(path, ckpt)
        if path == self.files.checkpoint:
            self.last_saved = self.state.step


@writes_output("out", folder=True, when=ddp.writes_files)
@ddp.leaves_group
def train(
    family: str,
    data: str | Path | Sequence[str | Path] | ShowerFile,
    *,
    out: str | Path,
    val: str | Path | Sequence[str | Path] | ShowerFile | None = None,
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
    resume: bool = False,
    overwrite: bool = False,
    detector: Detector | str | Path | None = None,
    callbacks: Sequence[TrainCallback] = (),
) -> TrainResult:
    """Train (or resume training) a model of ``family`` on shower files.

    Arguments:
        family: registry name (``caloforge models`` lists them).
        data: training shower file(s).
        out: run folder (``checkpoint.pt``, ``best.pt``, ``metrics.jsonl``, ``config.json``).
        val: validation file(s), for validation metrics and early stopping.
        config_file: YAML/JSON with ``model:`` and ``train:`` sections (or flat keys).
        overrides: ``key=value`` strings (``train.lr=3e-4``, ``latent_dim=16``).
        resume: continue the run in ``out`` exactly where its checkpoint stopped; the
            stored configuration is the base layer (a larger ``train.steps`` extends it).
        overwrite: start again in a folder that holds a run.
        detector: geometry for data files that do not carry one.
        callbacks: progress hooks (the CLI's progress bar).

    Under ``torchrun --nproc-per-node K`` (``WORLD_SIZE`` > 1 in the environment) the run
    is data-parallel (:mod:`caloforge.train.ddp`): the same global batch and data
    order as one process, gradients averaged over the ranks, only rank 0 writes files; the
    process group is created here (gloo on CPU, NCCL on CUDA) and destroyed at the end,
    unless the caller created it.

    Returns:
        :class:`TrainResult`.

    Raises:
        ConfigError, ShowerFileError, CheckpointError, DetectorMismatchError, FileExistsError;
        OutputLockedError: another process trains in ``out`` (its lock ``OUT.lock``).
    """
    files = RunFiles.in_folder(Path(out))
    ckpt, model_cfg, cfg = _run_config(
        family,
        files,
        config_file=config_file,
        overrides=overrides,
        resume=resume,
        overwrite=overwrite,
    )
    device = resolve_device(cfg.device)
    dist = ddp.join(device)
    device = ddp.local_device(device, dist)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)

    showers, conditions, det, paths = _read(
        data,
        detector if ckpt is None else checkpoint_detector(ckpt, str(files.checkpoint)),
        cfg.max_showers,
    )
    if ckpt is not None:
        check_detector(ckpt, det, checkpoint=str(files.checkpoint), data=", ".join(paths))
    val_set = None if val is None else _read_validation(val, det, cfg.val_showers)

    model = build_model(family, model_cfg, det, cfg.seed).to(device)
    check_memory(model, min(cfg.batch_size, len(showers)), cfg.max_memory_gb, device)
    if ckpt is None:
        model.fit_preprocessing(showers, conditions)
        data_gen = torch.Generator()
        data_gen.manual_seed(cfg.seed + 2)
        model.fit_data(showers, conditions, data_gen)
        started = time.perf_counter()
        stage1_loss = model.fit_stage1_alone(showers, conditions, data_gen, lr=cfg.lr)
        ddp.broadcast_module(model, dist)
        state = TrainState.create(model, cfg, device=device, dist=dist)
        if stage1_loss is not None:
            state.elapsed = time.perf_counter() - started
            log.info("stage 1 trained alone: loss %.3f after %.1f s", stage1_loss, state.elapsed)
    else:
        state = TrainState.from_checkpoint(
            ckpt, model, cfg, device=device, dist=dist, source=str(files.checkpoint)
        )
    batch = model.make_batch(showers, conditions)
    resolved = {"model": model_cfg, "train": cfg}
    if dist.is_main:
        if ckpt is not None:
            _truncate_log(files.metrics, state.step)
        elif overwrite:
            for p in (files.metrics, files.best):
                p.unlink(missing_ok=True)
        files.out.mkdir(parents=True, exist_ok=True)
        save_config(files.config, resolved)
    callbacks = callbacks if dist.is_main else ()
    loop = _Loop(
        state,
        cfg,
        data=batch,
        val_set=val_set,
        files=files,
        config=config_to_dict(resolved),
        conditions=condition_ranges(conditions),
        info={"data": paths, "showers": len(batch), "processes": dist.world_size},
        dist=dist,
        device=device,
        callbacks=callbacks,
        resumed=ckpt is not None,
    )
    total = cfg.steps if state.optimizers else state.step
    for cb in callbacks:
        cb.on_start(state.step, total)
    log.info(
        "training %s on %d showers (%s), %s, steps %d -> %d",
        family,
        len(batch),
        ", ".join(paths),
        device,
        state.step,
        total,
    )
    stopped = loop.run()
    info = model.describe()
    log.info(
        "%s: stopped (%s) at step %d after %.1f s; %s",
        family,
        stopped,
        state.step,
        state.elapsed,
        info,
    )
    result = TrainResult(
        out=files.out,
        checkpoint=files.checkpoint,
        family=family,
        steps=state.step,
        stopped=stopped,
        elapsed_s=state.elapsed,
        best=state.best,
        best_checkpoint=files.best if files.best.exists() else None,
        describe=info,
    )
    for cb in callbacks:
        cb.on_end(result)
    return result


__all__ = [
    "RunFiles",
    "TrainCallback",
    "TrainResult",
    "TrainingDivergedError",
    "lr_factor",
    "train",
]
