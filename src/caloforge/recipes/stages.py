"""Each recipe stage as command lines of the existing ``caloforge`` verbs.

A stage is planned just before it runs, when the outputs of the stages it reads exist: a
:class:`StagePlan` names the files whose content keys the stage (its inputs), the command
lines (arguments after ``caloforge``), and the files it makes. The runner
(:mod:`caloforge.recipes.runner`) decides whether a stage runs fresh, resumes or is skipped.

Run folder layout (``RUN`` below)::

    RUN/data/{train,val,test}.h5      simulated data (when the recipe simulates)
    RUN/<train stage>/checkpoint.pt   a training run folder (train, distill)
    RUN/<calibrate|refine stage>.pt   post-processed checkpoints
    RUN/<export stage>.onnx           ONNX export
    RUN/gen/<evaluate stage>-<model>.h5, RUN/<evaluate stage>/metrics.json
    RUN/<bench stage>.json, .md       speed report
    RUN/manifest.json, RUN/MODEL_CARD.md
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caloforge.recipes.spec import STAGE_KEYS, Recipe, Stage


@dataclass(frozen=True)
class StagePlan:
    """What running a stage means now.

    Arguments:
        inputs: files whose content, with ``commands``, decides whether the stage must run.
        commands: argument lists of ``caloforge`` verbs, run in order.
        outputs: files the stage leaves behind (all present once it is done).
        model: the model file later stages read (checkpoint or export), if any.
        resumable: a run folder that ``caloforge train --resume`` continues.
        prepare: ``(source folder, target folder)`` copied before a fresh run (distillation
            continues its teacher's run in a folder of its own).
    """

    inputs: tuple[Path, ...]
    commands: tuple[tuple[str, ...], ...]
    outputs: tuple[Path, ...]
    model: Path | None = None
    resumable: Path | None = None
    prepare: tuple[Path, Path] | None = None
    notes: Mapping[str, Any] = field(default_factory=dict)


def _options(stage: Stage) -> list[str]:
    """The stage's settings that map one to one onto verb options."""
    out: list[str] = []
    for key, (tp, option) in STAGE_KEYS[stage.kind].items():
        if option is None or key not in stage.settings or key == "family":
            continue
        value = stage.settings[key]
        if tp is bool:
            on, _, off = option.partition("/")
            out += [on] if value else ([off] if off else [])
        else:
            out += [option, str(value)]
    return out


def overrides(config: Mapping[str, Any]) -> list[str]:
    def text(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    return [f"{k}={text(v)}" for k, v in config.items()]


def stage_model(recipe: Recipe, run: Path, name: str) -> Path:
    """The model file a model stage (train, distill, calibrate, refine) leaves in ``run``."""
    stage = recipe.stage(name)
    if stage.kind in ("train", "distill"):
        which = "best.pt" if stage.settings.get("checkpoint") == "best" else "checkpoint.pt"
        return run / name / which
    return run / f"{name}.pt"


def model_stage(model: str | Path) -> str:
    """The stage a model file of a run folder belongs to, the inverse of :func:`stage_model`:
    a training stage's ``NAME/checkpoint.pt`` or ``NAME/best.pt``, else ``NAME.pt`` (or an
    export's ``NAME.onnx``)."""
    path = Path(model)
    return path.parent.name if path.name in ("checkpoint.pt", "best.pt") else path.stem


def generated_file(run: Path, evaluate: str, model: str) -> Path:
    """The showers evaluate stage ``evaluate`` generates with model stage ``model``."""
    return run / "gen" / f"{evaluate}-{model}.h5"


def checkpoint_progress(path: Path) -> tuple[int, float]:
    """(training step, elapsed seconds) recorded in a checkpoint."""
    from caloforge.train import load_checkpoint

    ckpt = load_checkpoint(path)
    return int(ckpt["step"]), float(ckpt.get("trainer", {}).get("elapsed", 0.0))


def plan_stage(
    recipe: Recipe, stage: Stage, run: Path, data: Mapping[str, Path], quiet: bool = True
) -> StagePlan:
    """Plan ``stage`` of ``recipe`` in run folder ``run`` with the data files ``data``."""
    q = ["--quiet"] if quiet else []
    train, val = data["train"], data["val"]
    s = stage.settings
    if stage.kind in ("train", "distill"):
        return _plan_training(recipe, stage, run, train, val, q)
    if stage.kind in ("calibrate", "refine"):
        source = stage_model(recipe, run, str(stage.source))
        out = stage_model(recipe, run, stage.name)
        argv = (stage.kind, "--checkpoint", str(source), "--data", str(train), "-o", str(out),
                "--overwrite", *_options(stage), *q)
        return StagePlan((source, train), (argv,), (out,), model=out)
    if stage.kind == "export":
        source = stage_model(recipe, run, str(stage.source))
        out = run / f"{stage.name}.onnx"
        argv = ("export", "--checkpoint", str(source), "-o", str(out), "--data", str(train),
                "--overwrite", *_options(stage))
        return StagePlan((source, train), (argv,), (out,), model=out)
    if stage.kind == "evaluate":
        split = stage.reference
        reference = data[split]
        models = [stage_model(recipe, run, m) for m in stage.models]
        gens = [generated_file(run, stage.name, m) for m in stage.models]
        precision = ["--precision", str(s["precision"])] if "precision" in s else []
        commands: list[tuple[str, ...]] = [
            ("generate", "--checkpoint", str(m), "--conditions-from", str(reference), "-o",
             str(g), "--seed", str(s.get("seed", 1)), "--overwrite", *precision, *q)
            for m, g in zip(models, gens, strict=True)
        ]
        report = run / stage.name
        # Judged on the test split, the validation file is named too, so that evaluate
        # refuses a test file sharing events with it.
        apart = ("--val", str(val)) if split != "val" else ()
        commands.append(("evaluate", str(reference), *map(str, gens), "--train", str(train),
                         *apart, "--out", str(report), "--overwrite", *_options(stage), *q))
        return StagePlan(
            (reference, train, *models), tuple(commands), (report / "metrics.json", *gens)
        )
    if stage.kind == "bench":
        models = [stage_model(recipe, run, m) for m in stage.models]
        js, md = run / f"{stage.name}.json", run / f"{stage.name}.md"
        argv = ("bench", *(a for m in models for a in ("--checkpoint", str(m))),
                *_options(stage), "--json", str(js), "--markdown", str(md))
        if "batch" not in s:
            argv = (*argv, "--batch", "1,128,1024")
        return StagePlan(tuple(models), (argv,), (js, md))
    raise AssertionError(stage.kind)  # parse_recipe admits only the kinds above


def _plan_training(
    recipe: Recipe, stage: Stage, run: Path, train: Path, val: Path, quiet: list[str]
) -> StagePlan:
    """A train stage, or a distill stage: ``train --resume`` of a copy of its teacher's run
    with distillation starting at the teacher's last step."""
    folder = run / stage.name
    model = stage_model(recipe, run, stage.name)
    config: dict[str, Any] = dict(stage.config)
    extra: list[str] = []
    inputs: tuple[Path, ...] = (train, val)
    prepare: tuple[Path, Path] | None = None
    notes: dict[str, Any] = {}
    family = stage.settings.get("family")
    if stage.kind == "distill":
        s = stage.settings
        teacher = stage_model(recipe, run, str(stage.source))
        family = recipe.stage(str(stage.source)).settings["family"]
        step, elapsed = checkpoint_progress(teacher)
        phase: dict[str, Any] = {
            "distill_start": step,
            "train.steps": step + int(s.get("steps", 100_000)),
            "train.max_time_min": round(elapsed / 60 + float(s.get("minutes", 25.0)), 2),
            "train.val_every": 0,
            "sampler": "student",
        }
        if "pool" in s:
            phase["distill_pool"] = s["pool"]
        if "teacher_steps" in s:
            phase["distill_teacher_steps"] = s["teacher_steps"]
        if "seed" in s:  # the pool's; weights and batches follow the teacher's train.seed
            phase["distill_seed"] = s["seed"]
        config = {**phase, **config}
        extra, inputs = ["--resume"], (teacher, train, val)
        prepare, notes = (teacher.parent, folder), {"distill_start": step}
    argv = ("train", "--model", str(family), "--data", str(train), "--val", str(val),
            "--out", str(folder), "--detector", recipe.detector, *extra, *_options(stage),
            *quiet, *overrides(config))
    return StagePlan(
        inputs, (argv,), (model,), model=model, resumable=folder, prepare=prepare, notes=notes
    )


def _simulate_option(key: str, value: Any) -> list[str]:
    """A ``[data.simulate]`` option as ``simulate`` arguments: ``--key value``; a boolean
    is a flag, given when true (``approximate_hadronic = true``: ``--approximate-hadronic``)."""
    option = f"--{key.replace('_', '-')}"
    if isinstance(value, bool):
        return [option] if value else []
    return [option, str(value)]


def simulate_commands(recipe: Recipe, run: Path, quiet: bool = True) -> dict[str, StagePlan]:
    """One ``caloforge simulate`` per split the recipe simulates (none when files are given)."""
    sim = recipe.data.simulate
    if sim is None:
        return {}
    plans = {}
    for split, n in sim.showers.items():
        if n <= 0 or split in recipe.data.files:
            continue
        out = run / "data" / f"{split}.h5"
        extra = [a for k, v in sim.options.items() for a in _simulate_option(k, v)]
        argv = ("simulate", "--detector", recipe.detector, "--particle", sim.particle,
                "--energy", sim.energy, "-n", str(n), "--seed", str(sim.split_seed(split)),
                "--workers", str(sim.workers), "-o", str(out), *extra,
                *(["--quiet"] if quiet else []))
        plans[split] = StagePlan((), (argv,), (out,), model=out)
    return plans
