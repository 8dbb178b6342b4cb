"""The one training loop shared by every model family.

:func:`train` resolves the configuration (family defaults < config file < ``key=value``),
reads the data, learns the preprocessing, and runs the loop: the family's
:meth:`~caloforge.models.ShowerModel.training_step` calls ``ctx.optimize(name, loss)`` for
each of its optimisers (so a GAN alternates critic and generator updates without a loop of
its own); the trainer owns the optimisers (Adam), the learning-rate schedule (a pure
function of the step, so resume is exact), gradient clipping, an optional EMA of the
weights, validation with early stopping, JSON-lines metrics, atomic checkpoints every N
steps and at the end, and exact resume (model, optimisers, EMA, random generators, data
order and position).

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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from caloforge._version import __version__
from caloforge.config import (
    ConfigError,
    config_from_dict,
    config_to_dict,
    resolve_config,
    save_config,
)
from caloforge.data import Conditions, ShowerFile, ShowerFileError
from caloforge.data.conditions import condition_ranges
from caloforge.distributed import ddp
from caloforge.files import write_text, writes_output
from caloforge.geometry import Detector
from caloforge.geometry.loader import detector_to_json
from caloforge.models import Batch, ModelConfig, ShowerModel, StepContext, get_family
from caloforge.train.checkpoint import (
    CheckpointError,
    check_detector,
    checkpoint_detector,
    load_checkpoint,
    save_checkpoint,
)

log = logging.getLogger(__name__)

VAL_METRICS = ("val_score", "val_response", "val_resolution", "val_layers")
"""Validation metrics (lower is better); see :func:`validation_metrics`."""


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
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"train.ema_decay must be in [0, 1), got {self.ema_decay}")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda if available else cpu; otherwise the named device (checked)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"device {name!r} is not a torch device (auto, cpu, cuda, cuda:N)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available on this machine")
    return device


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


def build_model(family: str, config: ModelConfig, detector: Detector, seed: int = 0) -> ShowerModel:
    """An untrained model of ``family``, its weights initialised from ``seed`` (the global
    torch random state is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_family(family)(config, detector)


def load_model(
    checkpoint: str | Path | dict[str, Any],
    device: str | torch.device = "cpu",
    *,
    use_ema: bool = True,
) -> tuple[ShowerModel, dict[str, Any]]:
    """A trained model (eval mode, EMA weights when stored) and its checkpoint dict.

    Raises:
        CheckpointError: unreadable file, unknown family or inconsistent weights.
    """
    source = "checkpoint" if isinstance(checkpoint, dict) else str(checkpoint)
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    try:
        cls = get_family(ckpt["family"])
    except KeyError as exc:
        raise CheckpointError(f"{source}: {exc.args[0]}") from None
    try:
        config = config_from_dict(cls.config_class, ckpt["config"]["model"])
    except ValueError as exc:
        raise CheckpointError(f"{source}: stored model config: {exc}") from None
    model = cls(config, checkpoint_detector(ckpt, source))
    try:
        model.load_checkpoint_state(ckpt["state"])
    except (RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise CheckpointError(
            f"{source}: weights do not fit the {cls.name} model: {first}"
        ) from None
    if use_ema and ckpt.get("ema"):
        EMA.copy_into(model, ckpt["ema"])
    model.to(torch.device(device) if isinstance(device, str) else device)
    model.eval()
    return model, ckpt


class EMA:
    """Exponential moving average of a model's :meth:`ema_parameters`."""

    def __init__(self, model: ShowerModel, decay: float) -> None:
        self.decay = decay
        self.shadow = {n: p.detach().clone() for n, p in model.ema_parameters()}

    @torch.no_grad()
    def update(self, model: ShowerModel) -> None:
        for n, p in model.ema_parameters():
            self.shadow[n].lerp_(p.detach(), 1.0 - self.decay)

    @staticmethod
    @torch.no_grad()
    def copy_into(model: nn.Module, weights: dict[str, torch.Tensor]) -> None:
        params = dict(model.named_parameters())
        for n, w in weights.items():
            if n not in params:
                raise CheckpointError(f"EMA weight {n!r} is not a parameter of the model")
            params[n].copy_(w.to(params[n].device))

    @contextmanager
    def applied(self, model: ShowerModel) -> Iterator[None]:
        """Temporarily swap the averaged weights in."""
        params = dict(model.named_parameters())
        backup = {n: params[n].detach().clone() for n in self.shadow}
        self.copy_into(model, self.shadow)
        try:
            yield
        finally:
            self.copy_into(model, backup)


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


def validation_metrics(
    model: ShowerModel,
    showers: NDArray[np.float32],
    conditions: Conditions,
    *,
    seed: int = 12345,
    n_bins: int = 5,
) -> dict[str, float]:
    """Cheap physics metrics of generated vs reference showers (lower is better).

    The model generates one shower per reference condition (fixed seed, own generator, so
    the training random state is untouched). In ``n_bins`` quantile bins of the incident
    energy: ``val_response`` = mean relative error of <E_vis/E_inc>; ``val_resolution`` =
    mean |sigma_gen / sigma_ref - 1| of E_vis/E_inc; ``val_layers`` = sum over layers of the
    absolute error of the mean layer energy fraction; ``val_score`` = response +
    0.2 x resolution + layers.
    """
    g = torch.Generator(device=model.device)
    g.manual_seed(seed)
    gen = model.sample(conditions, g).astype(np.float64)
    ref = showers.astype(np.float64)
    e = conditions.energy
    r_ref, r_gen = ref.sum(1) / e, gen.sum(1) / e
    le = np.log(e)
    edges = np.quantile(le, np.linspace(0, 1, n_bins + 1))
    which = np.clip(np.searchsorted(edges, le, side="right") - 1, 0, n_bins - 1)
    resp, reso = [], []
    for b in range(n_bins):
        sel = which == b
        if sel.sum() < 2:
            continue
        resp.append(abs(r_gen[sel].mean() - r_ref[sel].mean()) / max(r_ref[sel].mean(), 1e-12))
        reso.append(abs(r_gen[sel].std() / max(r_ref[sel].std(), 1e-12) - 1.0))
    det = model.detector

    def fractions(x: NDArray[np.float64]) -> NDArray[np.float64]:
        layers = np.stack([x[:, s].sum(1) for s in det.layer_slices], axis=1)
        return layers / np.maximum(layers.sum(1, keepdims=True), 1e-12)

    layers = float(np.abs(fractions(gen).mean(0) - fractions(ref).mean(0)).sum())
    out = {
        "val_response": float(np.mean(resp)),
        "val_resolution": float(np.mean(reso)),
        "val_layers": layers,
    }
    out["val_score"] = out["val_response"] + 0.2 * out["val_resolution"] + out["val_layers"]
    return out


def open_data(
    data: str | Path | Sequence[str | Path] | ShowerFile,
    fallback: Detector | str | Path | None = None,
) -> ShowerFile:
    """Open shower file(s) with the detector they carry; ``fallback`` only for files that
    carry none (Challenge files), so that a mismatch with a checkpoint is seen."""
    if isinstance(data, ShowerFile):
        return data
    try:
        return ShowerFile(data)
    except ShowerFileError as exc:
        if fallback is None or "does not say which detector" not in str(exc):
            raise
    return ShowerFile(data, fallback)


def _read(
    data: str | Path | Sequence[str | Path] | ShowerFile,
    detector: Detector | str | Path | None,
    limit: int,
) -> tuple[NDArray[np.float32], Conditions, Detector, list[str]]:
    f = open_data(data, detector)
    n = len(f) if limit <= 0 else min(limit, len(f))
    return f.showers(0, n), f.conditions(0, n), f.detector, [str(p) for p in f.paths]


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


@writes_output("out", folder=True, when=ddp.writes_files)
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
    is data-parallel (:mod:`caloforge.distributed.ddp`): the same global batch and data
    order as one process, gradients averaged over the ranks, only rank 0 writes files; the
    process group is created here (gloo on CPU, NCCL on CUDA) and destroyed at the end,
    unless the caller created it.

    Returns:
        :class:`TrainResult`.

    Raises:
        ConfigError, ShowerFileError, CheckpointError, DetectorMismatchError, FileExistsError;
        OutputLockedError: another process trains in ``out`` (its lock ``OUT.lock``).
    """
    owned = not (torch.distributed.is_available() and torch.distributed.is_initialized())
    try:
        return _train(
            family,
            data,
            out=out,
            val=val,
            config_file=config_file,
            overrides=overrides,
            resume=resume,
            overwrite=overwrite,
            detector=detector,
            callbacks=callbacks,
        )
    finally:
        if owned and torch.distributed.is_available() and torch.distributed.is_initialized():
            # every rank leaves together: a rank tearing gloo down while another still
            # talks to it aborted one run in a few ("terminate called without an active
            # exception")
            with contextlib.suppress(RuntimeError):
                torch.distributed.barrier()
            torch.distributed.destroy_process_group()


def _train(
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
    """:func:`train` inside the process group (if any)."""
    out = Path(out)
    ckpt_path, best_path = out / "checkpoint.pt", out / "best.pt"
    log_path = out / "metrics.jsonl"
    ckpt: dict[str, Any] | None = None
    if resume:
        ckpt = load_checkpoint(ckpt_path)
        if ckpt["family"] != family:
            raise CheckpointError(f"{ckpt_path}: holds a {ckpt['family']!r} run, not {family!r}")
        model_cfg, cfg = resolve_run_config(
            family, config_file=config_file, overrides=overrides, base=ckpt["config"]
        )
    else:
        if ckpt_path.exists() and not overwrite:
            raise FileExistsError(
                f"{out}: holds a training run; pass --resume to continue it "
                "or --overwrite to start again"
            )
        model_cfg, cfg = resolve_run_config(family, config_file=config_file, overrides=overrides)
    device = resolve_device(cfg.device)
    dist = ddp.join(device)
    device = ddp.local_device(device, dist)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)

    showers, conditions, det, paths = _read(
        data,
        detector if ckpt is None else checkpoint_detector(ckpt, str(ckpt_path)),
        cfg.max_showers,
    )
    if ckpt is not None:
        check_detector(ckpt, det, checkpoint=str(ckpt_path), data=", ".join(paths))
    val_set = None
    if val is not None:
        vs, vc, vdet, vpaths = _read(val, det, cfg.val_showers)
        if detector_to_json(vdet) != detector_to_json(det):
            raise ValueError(
                f"{', '.join(vpaths)}: validation data is for detector {vdet.name!r}, "
                f"not {det.name!r}"
            )
        val_set = (vs, vc)

    model = build_model(family, model_cfg, det, cfg.seed).to(device)
    generator = torch.Generator(device=device)
    generator.manual_seed(ddp.rank_seed(cfg.seed, dist.rank))
    order = torch.Generator()
    order.manual_seed(cfg.seed + 1)
    if ckpt is None:
        model.fit_preprocessing(showers, conditions)
        data_gen = torch.Generator()
        data_gen.manual_seed(cfg.seed + 2)
        model.fit_data(showers, conditions, data_gen)
    else:
        model.load_state_dict(ckpt["state"])
    ddp.broadcast_module(model, dist)
    full = model.make_batch(showers, conditions)
    n = len(full)
    finalize_batch = full.select(slice(0, cfg.finalize_showers))
    batch_size = min(cfg.batch_size, n)
    if batch_size < dist.world_size:
        raise ConfigError(
            f"train.batch_size={batch_size} is smaller than the {dist.world_size} processes"
        )
    local_n = batch_size
    rank_states: list[Any] | None = None

    specs = model.optimizers() if model.trainable else {}
    optimizers = {
        name: torch.optim.Adam(
            spec.params,
            lr=spec.lr if spec.lr is not None else cfg.lr,
            betas=spec.betas if spec.betas is not None else cfg.betas,
            weight_decay=cfg.weight_decay,
        )
        for name, spec in specs.items()
    }
    base_lr = {name: opt.param_groups[0]["lr"] for name, opt in optimizers.items()}
    ema = EMA(model, cfg.ema_decay) if cfg.ema_decay > 0 and optimizers else None

    step, pos, elapsed = 0, 0, 0.0
    perm: torch.Tensor | None = None
    best: float | None = None
    bad_validations = 0
    if ckpt is not None:
        t = ckpt.get("trainer", {})
        step = int(ckpt["step"])
        for name, opt in optimizers.items():
            opt.load_state_dict(t["optimizers"][name])
        saved = t.get("rank_generators")
        if not dist.enabled:
            generator.set_state(t["generator"])
        elif saved is not None and len(saved) == dist.world_size:
            generator.set_state(saved[dist.rank])
        else:  # another number of processes: rank 0 continues, the others reseed
            if dist.is_main:
                generator.set_state(t["generator"])
                log.warning(
                    "resuming with %d processes: noise generators reseeded", dist.world_size
                )
            else:
                generator.manual_seed(ddp.rank_seed(cfg.seed + step, dist.rank))
        order.set_state(t["order"])
        perm, pos = t.get("perm"), int(t.get("pos", 0))
        best, bad_validations = t.get("best"), int(t.get("bad_validations", 0))
        elapsed = float(t.get("elapsed", 0.0))
        if ema is not None and ckpt.get("ema"):
            ema.shadow = {k: v.to(device) for k, v in ckpt["ema"].items()}
        if dist.is_main:
            _truncate_log(log_path, step)
    elif overwrite and dist.is_main:
        for p in (log_path, best_path):
            p.unlink(missing_ok=True)
    resolved = {"model": model_cfg, "train": cfg}
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(out / "config.json", resolved)
    total = cfg.steps if optimizers else step

    def payload() -> dict[str, Any]:
        state = model.state_dict()
        return {
            "family": family,
            "caloforge_version": __version__,
            "step": step,
            "config": config_to_dict(resolved),
            "detector": detector_to_json(det),
            "condition_features": list(model.condition_names),
            "conditions": condition_ranges(conditions),
            "state": state,
            "preprocessing": {
                k: v for k, v in state.items() if k.startswith(("transform.", "cond_scaler."))
            },
            "ema": dict(ema.shadow) if ema is not None else None,
            "trainer": {
                "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
                "generator": generator.get_state(),
                "rank_generators": rank_states,
                "world_size": dist.world_size,
                "order": order.get_state(),
                "perm": perm,
                "pos": pos,
                "best": best,
                "bad_validations": bad_validations,
                "elapsed": elapsed,
            },
            "info": {
                "describe": model.describe(),
                "data": paths,
                "showers": n,
                "processes": dist.world_size,
            },
        }

    def finalize() -> None:
        with ema.applied(model) if ema is not None else _nothing():
            model.finalize(finalize_batch)

    def save(path: Path) -> None:
        """Checkpoint from rank 0 (a collective first: every rank's noise generator)."""
        nonlocal rank_states
        states = ddp.gather_values(generator.get_state(), dist)
        rank_states = states if dist.enabled else None
        if dist.is_main:
            save_checkpoint(path, payload())

    def write_log(record: dict[str, Any]) -> None:
        if not dist.is_main:
            return
        with log_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        for cb in callbacks:
            cb.on_log(record)

    def validate() -> bool:
        """Validate, keep the best checkpoint; True when early stopping says stop."""
        nonlocal best, bad_validations
        assert val_set is not None
        finalize()
        improved = False
        if dist.is_main:  # the other ranks wait for rank 0's decision
            with ema.applied(model) if ema is not None else _nothing():
                metrics = validation_metrics(model, *val_set)
            write_log({"step": step, "time": round(elapsed, 3), "val": metrics})
            value = metrics[cfg.early_stop_metric]
            improved = best is None or value < best
            if improved:
                best, bad_validations = value, 0
            else:
                bad_validations += 1
        best, bad_validations, improved = ddp.broadcast_value(
            (best, bad_validations, improved), dist
        )
        if improved:
            save(best_path)
        return cfg.early_stop_patience > 0 and bad_validations >= cfg.early_stop_patience

    callbacks = callbacks if dist.is_main else ()
    for cb in callbacks:
        cb.on_start(step, total)
    log.info(
        "training %s on %d showers (%s), %s, steps %d -> %d",
        family,
        n,
        ", ".join(paths),
        device,
        step,
        total,
    )
    stopped = "steps" if optimizers else "no training needed"
    sums: dict[str, float] = {}
    count = 0
    t0 = time.perf_counter() - elapsed

    def optimize(name: str, loss: torch.Tensor) -> None:
        if name not in optimizers:
            raise KeyError(f"{family}: no optimiser named {name!r} (has {', '.join(optimizers)})")
        opt = optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        ddp.average_gradients(
            (p for g in opt.param_groups for p in g["params"]), local_n, batch_size, dist
        )
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(
                [p for g in opt.param_groups for p in g["params"]], cfg.grad_clip
            )
        opt.step()

    model.train()
    while optimizers and step < cfg.steps:
        if perm is None or pos + batch_size > n:
            perm, pos = torch.randperm(n, generator=order), 0
        idx = perm[pos : pos + batch_size][ddp.local_slice(batch_size, dist)].to(device)
        local_n = len(idx)
        pos += batch_size
        factor = lr_factor(step, cfg)
        for name, opt in optimizers.items():
            for group in opt.param_groups:
                group["lr"] = base_lr[name] * factor
        losses = model.training_step(full.select(idx), StepContext(step, generator, optimize))
        if ema is not None:
            ema.update(model)
        step += 1
        elapsed = time.perf_counter() - t0
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v
        count += 1
        for cb in callbacks:
            cb.on_step(step)
        if step % cfg.log_every == 0 or step == cfg.steps:
            lrs = {name: opt.param_groups[0]["lr"] for name, opt in optimizers.items()}
            mean_losses = {k: v / count for k, v in sums.items()}
            mean_losses = ddp.mean_over_ranks(mean_losses, dist, device)
            record = {"step": step, "time": round(elapsed, 3), "lr": lrs, "loss": mean_losses}
            if any(not math.isfinite(v) for v in mean_losses.values()):
                stopped = "non-finite loss"
                log.warning("%s: non-finite loss at step %d; stopping", family, step)
            write_log(record)
            sums, count = {}, 0
        if (
            stopped == "steps"
            and cfg.max_time_min > 0
            and ddp.any_rank(elapsed > 60 * cfg.max_time_min, dist, device)
        ):
            stopped = "time limit"
        if (
            stopped == "steps"
            and val_set is not None
            and cfg.val_every > 0
            and step % cfg.val_every == 0
        ):
            if validate():
                stopped = "early stopping"
        if step % cfg.checkpoint_every == 0 and step < cfg.steps and stopped == "steps":
            finalize()
            save(ckpt_path)
        if stopped != "steps":
            break
    if (
        stopped in ("steps", "no training needed", "time limit")
        and val_set is not None
        and (not optimizers or cfg.val_every == 0 or step % cfg.val_every != 0)
    ):
        validate()
    finalize()
    save(ckpt_path)
    model.eval()
    info = model.describe()
    log.info("%s: stopped (%s) at step %d after %.1f s; %s", family, stopped, step, elapsed, info)
    result = TrainResult(
        out=out,
        checkpoint=ckpt_path,
        family=family,
        steps=step,
        stopped=stopped,
        elapsed_s=elapsed,
        best=best,
        best_checkpoint=best_path if best_path.exists() else None,
        describe=info,
    )
    for cb in callbacks:
        cb.on_end(result)
    return result


@contextmanager
def _nothing() -> Iterator[None]:
    yield


__all__ = [
    "EMA",
    "VAL_METRICS",
    "Batch",
    "TrainCallback",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "load_model",
    "lr_factor",
    "resolve_device",
    "resolve_run_config",
    "train",
    "validation_metrics",
]
