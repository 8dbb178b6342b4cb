"""``tune``: run trials of a (possibly shared) study, then summarise it."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from caloforge._optional import require
from caloforge.data import ShowerFile
from caloforge.tune.pruning import Pruning
from caloforge.tune.scoring import fidelity, time_per_shower
from caloforge.tune.settings import TuneSettings
from caloforge.tune.space import load_space, override
from caloforge.tune.storage import open_study
from caloforge.tune.summary import summarise_study


@dataclass
class TuneResult:
    """What :func:`tune` leaves: the study and its summary."""

    study_name: str
    storage: str
    trials_here: int
    summary: dict[str, Any]
    summary_path: Path
    plots: list[Path] = field(default_factory=list)


def tune(
    family: str,
    data: str | Path | Sequence[str | Path],
    val: str | Path | Sequence[str | Path],
    *,
    space: str | Path | Mapping[str, Any],
    trials: int,
    out: str | Path,
    storage: str | Path | None = None,
    study_name: str | None = None,
    overrides: Sequence[str] = (),
    settings: TuneSettings | None = None,
    timeout_s: float | None = None,
) -> TuneResult:
    """Run ``trials`` trials of a (possibly shared) Optuna study, then summarise it.

    Arguments:
        family: model family (``caloforge models``).
        data: training shower file(s). val: validation file(s) (early stopping, pruning,
            fidelity and timing).
        space: the search-space file (see the module docstring) or its mapping.
        trials: trials run by this call (other workers add theirs to the same study).
        out: output folder: ``trials/NNNN/`` (one training run each), ``summary.json``,
            ``plots/``; also the default journal storage ``study.log``.
        storage: study storage URL (see :func:`open_storage`); default ``out/study.log``.
        study_name: default ``caloforge-FAMILY``; a study of that name is continued.
        overrides: fixed ``key=value`` settings of every trial (``train.steps=2000``).
        settings: :class:`TuneSettings`.
        timeout_s: stop starting trials after this many seconds.

    Returns:
        :class:`TuneResult`.

    Raises:
        SpaceError: bad space file. ConfigError: bad overrides. ValueError: bad storage.
    """
    optuna = require("optuna")
    import torch

    cfg = settings or TuneSettings()
    if trials < 1:
        raise ValueError(f"--trials {trials}: must be >= 1")
    dims = load_space(space, family)
    from caloforge.train import load_model, resolve_run_config, train

    resolve_run_config(family, overrides=list(overrides))  # bad fixed overrides: fail now
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    storage_url = str(storage) if storage is not None else f"journal:{out / 'study.log'}"
    name = study_name or f"caloforge-{family}"
    pruner = (
        optuna.pruners.MedianPruner(
            n_startup_trials=cfg.prune_startup, n_warmup_steps=0, interval_steps=1
        )
        if cfg.prune and not cfg.speed
        else optuna.pruners.NopPruner()
    )
    study = open_study(optuna, storage_url, name, cfg, pruner)
    if study.user_attrs.get("family", family) != family:
        raise ValueError(
            f"study {name!r} holds {study.user_attrs['family']!r} trials, not {family!r}"
        )
    study.set_user_attr("family", family)
    study.set_user_attr("objectives", cfg.names)
    val_file = ShowerFile(val) if not isinstance(val, ShowerFile) else val
    n_eval = min(cfg.eval_showers, len(val_file))
    ref_showers, ref_cond = val_file.showers(0, n_eval), val_file.conditions(0, n_eval)

    def objective(trial: Any) -> Any:
        drawn = {d.key: d.suggest(trial) for d in dims}
        trial_out = out / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("run", str(trial_out))
        pruning = Pruning(trial, cfg, "val_score")
        result = train(
            family,
            data,
            val=val_file,
            out=trial_out,
            overrides=[*overrides, *(override(k, v) for k, v in drawn.items())],
            overwrite=True,
            callbacks=[pruning],  # type: ignore[list-item]
        )
        trial.set_user_attr("steps", result.steps)
        trial.set_user_attr("stopped", result.stopped)
        trial.set_user_attr("parameters", int(result.describe.get("parameters", 0)))
        if result.stopped == "non-finite loss":
            raise optuna.TrialPruned("non-finite training loss")
        model, _ = load_model(result.best_checkpoint or result.checkpoint)
        with torch.no_grad():
            gen, ms = time_per_shower(model, ref_cond, seed=trial.number)
        if not np.isfinite(gen).all():
            raise optuna.TrialPruned("generated showers hold NaN/inf")
        scores = fidelity(gen, ref_showers, ref_cond, val_file.detector, cfg.objective)
        scores["ms_per_shower"] = ms
        for k, v in scores.items():
            trial.set_user_attr(k, v)
        values = [scores[k] for k in cfg.names]
        return tuple(values) if cfg.speed else values[0]

    before = len(study.trials)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.optimize(
            objective, n_trials=trials, timeout=timeout_s, catch=(ValueError, RuntimeError)
        )
    summary, path, plots = summarise_study(study, out, cfg.names)
    return TuneResult(name, storage_url, len(study.trials) - before, summary, path, plots)


__all__ = ["TuneResult", "tune"]
