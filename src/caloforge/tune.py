"""Hyper-parameter optimisation of a model family with Optuna.

Each trial trains the family (the one trainer, :func:`caloforge.train.train`) with
configuration values drawn from a *search space*, then measures

* fidelity, lower is better: the AUC of a two-sample classifier (gradient-boosted trees,
  high-level observables + conditions) between generated and validation showers
  (``objective="auc"``, 0.5 = indistinguishable), or a weighted mean of the separation
  powers of the high-level observables (``objective="separation"``; every global
  observable weighs 1, each per-layer observable 1 / n_layers);
* speed: generation time per shower (ms, batch of ``eval_showers`` on this machine).

With ``speed=True`` (default) the study is multi-objective and its result is the Pareto
front of fidelity versus speed; otherwise fidelity alone. Bad trials are pruned from their
intermediate validation loss (the trainer's ``val_score`` at every ``train.val_every``
steps) by a median rule: a trial whose value at a step is worse than the median of the
finished trials at that step stops (Optuna's ``MedianPruner`` for one objective; the
same rule on stored intermediate values for two, which Optuna's pruners do not support).

Many workers share one study through ``storage``: ``sqlite:///study.db`` (or any
SQLAlchemy URL, e.g. PostgreSQL/MySQL on a cluster), or a journal file
(``journal:PATH``, or a path ending in ``.log``/``.journal``), which is safe on shared
file systems. The summary (``summary.json``) and plots (optimisation history, Pareto front,
parameter importances) are written under ``out``.

Search-space file (YAML or JSON), config keys as in ``key=value`` overrides::

    train.lr: {type: float, low: 1.0e-4, high: 3.0e-3, log: true}
    latent_dim: {type: int, low: 4, high: 32, step: 4}
    encoder_hidden: {type: categorical, choices: [[64, 64], [128, 128]]}
    train.batch_size: {type: categorical, choices: [64, 128, 256]}

(``type: log`` is short for a float with ``log: true``.)

References:
    Akiba et al., "Optuna: A Next-generation Hyperparameter Optimization Framework",
    arXiv:1907.10902. Watanabe, "Tree-structured Parzen Estimator", arXiv:2304.11127.
    Krause et al., "CaloFlow", arXiv:2106.05285 (classifier AUC as a fidelity metric).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from caloforge._optional import require
from caloforge.config import ConfigError, load_config_file
from caloforge.data import Conditions, ShowerFile
from caloforge.files import atomic_output

log = logging.getLogger(__name__)

KINDS = ("float", "int", "categorical", "log")
FIELDS = {"type", "low", "high", "log", "step", "choices"}
SECTIONS = ("model", "train")


class SpaceError(ValueError):
    """A search-space file is unreadable or names an unknown key or a bad distribution."""


@dataclass(frozen=True)
class Distribution:
    """One dimension of the search space.

    Arguments:
        key: the config key (``train.lr``, ``latent_dim``), as in ``key=value`` overrides.
        kind: ``float``, ``int`` or ``categorical``.
        low / high: bounds (inclusive) of float and int dimensions.
        log: sample on a log scale.
        step: discretisation step (int: default 1; float: None = continuous).
        choices: values of a categorical dimension (lists become ``a,b`` overrides).
    """

    key: str
    kind: Literal["float", "int", "categorical"]
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """Draw a value with an Optuna trial (categorical lists come back as ``a,b`` text)."""
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), log=self.log, step=step
            )
        return trial.suggest_categorical(self.key, [_as_choice(c) for c in self.choices])

    def edge_values(self) -> list[Any]:
        """Values checked against the configuration when the space is loaded."""
        if self.kind == "categorical":
            return [_as_choice(c) for c in self.choices]
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]


def _as_choice(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return value


def override(key: str, value: Any) -> str:
    """``key=value`` text of a drawn value (for :func:`caloforge.train.train`)."""
    if isinstance(value, bool):
        return f"{key}={'true' if value else 'false'}"
    return f"{key}={value}"


def _number(source: str, key: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpaceError(f"{source}: key {key!r}: {name}={value!r} is not a finite number")
    return float(value)


def parse_distribution(key: str, spec: Any, source: str = "space") -> Distribution:
    """A :class:`Distribution` from its mapping in the space file.

    Raises:
        SpaceError: naming the file, the key and the bad field.
    """
    if not isinstance(spec, Mapping):
        raise SpaceError(
            f"{source}: key {key!r}: expected a mapping like {{type: float, low: 1e-4, "
            f"high: 1e-2, log: true}}, got {spec!r}"
        )
    unknown = set(spec) - FIELDS
    if unknown:
        raise SpaceError(
            f"{source}: key {key!r}: unknown field(s) {sorted(unknown)}; "
            f"fields: {', '.join(sorted(FIELDS))}"
        )
    kind = spec.get("type")
    if kind not in KINDS:
        raise SpaceError(f"{source}: key {key!r}: type {kind!r} is not one of {', '.join(KINDS)}")
    log_flag = spec.get("log", kind == "log")
    if not isinstance(log_flag, bool):
        raise SpaceError(f"{source}: key {key!r}: log={log_flag!r} is not true or false")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SpaceError(f"{source}: key {key!r}: categorical needs a non-empty list 'choices'")
        extra = set(spec) - {"type", "choices"}
        if extra:
            raise SpaceError(
                f"{source}: key {key!r}: categorical takes only 'choices', not {sorted(extra)}"
            )
        return Distribution(key, "categorical", choices=tuple(choices))
    if "choices" in spec:
        raise SpaceError(f"{source}: key {key!r}: 'choices' belongs to type categorical")
    for name in ("low", "high"):
        if name not in spec:
            raise SpaceError(f"{source}: key {key!r}: type {kind} needs '{name}'")
    low = _number(source, key, "low", spec["low"])
    high = _number(source, key, "high", spec["high"])
    if not low < high:
        raise SpaceError(f"{source}: key {key!r}: low={low:g} must be < high={high:g}")
    if log_flag and low <= 0:
        raise SpaceError(f"{source}: key {key!r}: a log scale needs low > 0, got {low:g}")
    step = spec.get("step")
    if step is not None:
        step = _number(source, key, "step", step)
        if step <= 0:
            raise SpaceError(f"{source}: key {key!r}: step={step:g} must be > 0")
        if log_flag and not (kind == "int" and step == 1):
            raise SpaceError(f"{source}: key {key!r}: 'step' and 'log' cannot be combined")
    if kind == "int" and not (low.is_integer() and high.is_integer()):
        raise SpaceError(
            f"{source}: key {key!r}: int bounds must be integers, got {low:g}, {high:g}"
        )
    return Distribution(key, "int" if kind == "int" else "float", low, high, bool(log_flag), step)


def load_space(
    path: str | Path | Mapping[str, Any], family: str | None = None
) -> list[Distribution]:
    """Read a search-space file; with ``family``, check every key and bound against the
    family's configuration (``model`` and ``train`` sections).

    Raises:
        SpaceError: unreadable file, bad distribution, unknown key or ill-typed value
            (one line naming the file and key).
    """
    source = "space" if isinstance(path, Mapping) else str(path)
    if isinstance(path, Mapping):
        data: Mapping[str, Any] = path
    else:
        try:
            data = load_config_file(path)
        except ConfigError as exc:
            raise SpaceError(str(exc)) from None
    if not data:
        raise SpaceError(f"{source}: the search space is empty")
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, Mapping) and "type" not in value:
            for sub, spec in value.items():
                flat[f"{key}.{sub}"] = spec
        else:
            flat[str(key)] = value
    space = [parse_distribution(k, v, source) for k, v in flat.items()]
    if family is not None:
        from caloforge.train import resolve_run_config

        for dist in space:
            for value in dist.edge_values():
                try:
                    resolve_run_config(family, overrides=[override(dist.key, value)])
                except ConfigError as exc:
                    raise SpaceError(f"{source}: {exc}") from None
    return space


# ---------------------------------------------------------------------------------------
# storage and study
def open_storage(url: str | Path) -> Any:
    """An Optuna storage from a URL: ``sqlite:///x.db`` (or any SQLAlchemy URL),
    ``journal:PATH`` or a path ending in ``.log``/``.journal`` (journal file)."""
    optuna = require("optuna")
    text = str(url)
    if text.startswith("journal:") or text.endswith((".log", ".journal")):
        path = Path(text.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(path)))
    if "://" not in text:
        raise ValueError(
            f"--storage {text!r}: expected sqlite:///PATH.db, an RDB URL "
            "(postgresql://...), journal:PATH or a .log/.journal file"
        )
    if text.startswith("sqlite:///"):
        Path(text.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(text)


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


@dataclass
class TuneResult:
    """What :func:`tune` leaves: the study and its summary."""

    study_name: str
    storage: str
    trials_here: int
    summary: dict[str, Any]
    summary_path: Path
    plots: list[Path] = field(default_factory=list)


def fidelity(
    generated: np.ndarray,
    reference: np.ndarray,
    conditions: Any,
    detector: Any,
    objective: str,
) -> dict[str, float]:
    """Fidelity metrics of generated vs reference showers (same conditions, row by row):
    ``auc`` (gradient-boosted classifier on high-level observables + conditions) or
    ``separation`` (weighted mean separation power of the high-level observables)."""
    from caloforge.evaluate import ClassifierConfig, high_level_observables, two_sample_test
    from caloforge.evaluate.classifier import high_level_inputs
    from caloforge.evaluate.metrics import compare_observables

    e = conditions.energy
    ref = high_level_observables(reference, e, detector)
    gen = high_level_observables(generated, e, detector)
    gen = {k: np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0) for k, v in gen.items()}
    ref = {k: np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0) for k, v in ref.items()}
    if objective == "auc":
        cfg = ClassifierConfig(seeds=(0,), classifiers=("hgb",), max_per_class=len(e))
        res = two_sample_test(
            high_level_inputs(ref, conditions), high_level_inputs(gen, conditions), cfg
        )
        return {"auc": float(res["auc"]), "auc_err": float(res["auc_err"])}
    metrics = compare_observables(ref, gen)
    per_layer = {m.name for m in metrics if m.name.rsplit("_", 1)[-1].isdigit()}
    weights = np.array([1.0 / detector.n_layers if m.name in per_layer else 1.0 for m in metrics])
    values = np.array([np.nan_to_num(m.separation, nan=1.0) for m in metrics])
    return {"separation": float((weights * values).sum() / weights.sum())}


def _time_per_shower(model: Any, conditions: Conditions, seed: int) -> tuple[np.ndarray, float]:
    """(generated showers, ms per shower) with a small warm-up call first."""
    g = torch.Generator(device=model.device)
    g.manual_seed(seed)
    head = slice(0, 8)
    model.sample(
        Conditions(
            conditions.energy[head],
            conditions.particle[head],
            conditions.direction[head],
            conditions.impact[head],
        ),
        g,
    )
    t0 = time.perf_counter()
    gen = model.sample(conditions, g)
    return gen, 1000.0 * (time.perf_counter() - t0) / len(conditions.energy)


class _Pruning:
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
    study = _open_study(optuna, storage_url, name, cfg, pruner)
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
        pruning = _Pruning(trial, cfg, "val_score")
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
            gen, ms = _time_per_shower(model, ref_cond, seed=trial.number)
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


def _open_study(optuna: Any, storage_url: str, name: str, cfg: TuneSettings, pruner: Any) -> Any:
    """Create or load the study; retried, because workers that start together race to
    create the schema of a new SQLite database."""
    for attempt in range(6):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.create_study(
                    study_name=name,
                    storage=open_storage(storage_url),
                    directions=cfg.directions,
                    sampler=optuna.samplers.TPESampler(seed=cfg.seed),
                    pruner=pruner,
                    load_if_exists=True,
                )
        except Exception as exc:  # sqlalchemy IntegrityError/OperationalError of the race
            if attempt == 5 or not type(exc).__module__.startswith(("sqlalchemy", "optuna")):
                raise
            log.info("opening study %s: %s; retrying", name, type(exc).__name__)
            time.sleep(0.2 + 0.3 * attempt + random.random() * 0.3)
    raise AssertionError("unreachable")


def _trial_record(t: Any, names: list[str]) -> dict[str, Any]:
    return {
        "number": t.number,
        "values": dict(zip(names, t.values or [], strict=False)),
        "params": t.params,
        "run": t.user_attrs.get("run"),
        "steps": t.user_attrs.get("steps"),
        "parameters": t.user_attrs.get("parameters"),
        "duration_s": t.duration.total_seconds() if t.duration is not None else None,
    }


def summarise_study(
    study: Any, out: str | Path, names: list[str]
) -> tuple[dict[str, Any], Path, list[Path]]:
    """Write ``summary.json`` (trial counts, the best trials: the Pareto front for two
    objectives, the five best for one) and the plots under ``out/plots``.

    Returns:
        (summary dict, its path, plot paths).
    """
    optuna = require("optuna")
    out = Path(out)
    state = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == state.COMPLETE]
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in state}
    if len(names) > 1:
        best = sorted(study.best_trials, key=lambda t: t.values[0]) if complete else []
        kind = "pareto_front"
    else:
        best = sorted(complete, key=lambda t: t.values[0])[:5]
        kind = "best"
    summary = {
        "study": study.study_name,
        "objectives": names,
        "directions": ["minimize"] * len(names),
        "trials": counts,
        kind: [_trial_record(t, names) for t in best],
    }
    path = out / "summary.json"
    _atomic_write(path, lambda tmp: tmp.write_text(json.dumps(summary, indent=2, default=str)))
    plots = _plots(study, out / "plots", names, len(complete)) if complete else []
    return summary, path, plots


def _atomic_write(path: Path, write: Any) -> None:
    """``write(tmp)`` then rename; not locked: workers finishing together each write a
    complete file and the last one stays."""
    with atomic_output(path, overwrite=True, lock=False) as tmp:
        write(tmp)


def _plots(study: Any, folder: Path, names: list[str], n_complete: int) -> list[Path]:
    from caloforge.evaluate.plots import _pyplot

    optuna = require("optuna")
    plt = _pyplot()
    vis = optuna.visualization.matplotlib
    folder.mkdir(parents=True, exist_ok=True)
    multi = len(names) > 1
    target = (lambda t: t.values[0]) if multi else None
    jobs: list[tuple[str, Any]] = [
        (
            "history",
            lambda: vis.plot_optimization_history(study, target=target, target_name=names[0]),
        )
    ]
    if multi:
        jobs.append(("pareto_front", lambda: vis.plot_pareto_front(study, target_names=names)))
    if n_complete >= 2:
        jobs.append(
            (
                "param_importances",
                lambda: vis.plot_param_importances(study, target=target, target_name=names[0]),
            )
        )
    paths = []
    for stem, make in jobs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna's matplotlib backend is "experimental"
            try:
                ax = make()
            except (ValueError, RuntimeError, ZeroDivisionError) as exc:
                log.info("plot %s skipped: %s", stem, exc)
                continue
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        fig.tight_layout()
        path = folder / f"{stem}.png"
        _atomic_write(path, lambda tmp, f=fig: f.savefig(tmp, dpi=90, format="png"))
        plt.close(fig)
        paths.append(path)
    return paths


__all__ = [
    "Distribution",
    "SpaceError",
    "TuneResult",
    "TuneSettings",
    "fidelity",
    "load_space",
    "open_storage",
    "override",
    "parse_distribution",
    "summarise_study",
    "tune",
]
