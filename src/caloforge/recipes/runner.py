"""Run a recipe into one run folder: skip what is up to date, resume what was interrupted.

Each stage (and each simulated data split, stage ``data-<split>``) has a key: the SHA-256 of
its command lines (run-folder paths written relative to the folder) and of the contents of
its input files. The run folder's ``manifest.json`` records every stage's key, status,
commands and wall time. A stage is skipped when its recorded key matches and its outputs
exist; a training stage interrupted with the same key continues with ``--resume``; anything
else runs afresh. A failing stage leaves the earlier stages' outputs as they are.

A run seed (``seed``, ``caloforge recipe run --seed``) replaces the seeds of the stages that
make the model (:data:`~caloforge.recipes.spec.SEEDED_KINDS`); it is in their command
lines, hence in their keys, so a folder made with another seed is made again, as after
any change of settings. The manifest and the model card record it.

Stages run the ``caloforge`` verbs in child processes (``python -m caloforge VERB ...``), so
a recipe does exactly what the documented commands do, and Geant4 gets the fresh process it
needs for each run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caloforge.recipes.spec import Recipe, RecipeError, run_options
from caloforge.recipes.stages import StagePlan, overrides, plan_stage, simulate_commands

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


class StageFailed(RuntimeError):
    """A stage's command exited with an error; ``exit_code`` is the child's exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class StageEvent:
    """A progress event: ``state`` is ``start``, ``skip``, ``resume``, ``done`` or
    ``no-data`` (an evaluate stage whose reference split was not given; ``note`` names it)."""

    name: str
    kind: str
    state: str
    index: int
    total: int
    wall_s: float = 0.0
    note: str = ""


def file_sha256(path: Path, cache: dict[str, Any] | None = None) -> str:
    """SHA-256 of a file's content, remembered in ``cache`` by (size, modification time)."""
    st = path.stat()
    key = str(path.resolve())
    if cache is not None:
        hit = cache.get(key)
        if hit and hit["size"] == st.st_size and hit["mtime_ns"] == st.st_mtime_ns:
            return str(hit["sha256"])
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    digest = h.hexdigest()
    if cache is not None:
        cache[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    return digest


def _relative(arg: str, run: Path) -> str:
    prefix = str(run) + os.sep
    return "RUN/" + arg[len(prefix):] if arg.startswith(prefix) else arg


def stage_key(plan: StagePlan, run: Path, cache: dict[str, Any]) -> str:
    """The key deciding whether a planned stage is up to date."""
    inputs = {str(p): i for i, p in enumerate(plan.inputs)}
    commands = [
        [f"INPUT{inputs[a]}" if a in inputs else _relative(a, run) for a in argv]
        for argv in plan.commands
    ]
    hashes = [file_sha256(p, cache) for p in plan.inputs]
    text = json.dumps({"commands": commands, "inputs": hashes}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def read_manifest(run: Path) -> dict[str, Any]:
    path = run / MANIFEST
    if not path.is_file():
        return {"stages": {}, "hashes": {}}
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise RecipeError(f"{path}: not valid JSON; move the run folder aside") from None
    manifest.setdefault("stages", {})
    manifest.setdefault("hashes", {})
    return manifest


STAGE_STOP_GRACE_S = 300.0  # how long an interrupted stage may take to stop on its own


def _stop_stage(proc: subprocess.Popen[bytes], signum: int) -> None:
    """Hand the runner's SIGINT or SIGTERM to the stage's command and let it stop on its
    own terms (a training writes a checkpoint of its current step first); killed only
    after :data:`STAGE_STOP_GRACE_S`. A stage that got the signal already (sent to the
    whole process group) takes the second copy as the same stop."""
    if proc.poll() is None:
        proc.send_signal(signum)
    try:
        proc.wait(timeout=STAGE_STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()


def _write_manifest(run: Path, manifest: Mapping[str, Any]) -> None:
    from caloforge.files import write_text

    write_text(run / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def _run_command(argv: tuple[str, ...], name: str, rerun: str) -> None:
    cmd = [sys.executable, "-m", "caloforge", *argv]
    log.info("stage %s: caloforge %s", name, " ".join(argv))
    with subprocess.Popen(cmd) as proc:
        try:
            code = proc.wait()
        except KeyboardInterrupt as exc:
            _stop_stage(proc, getattr(exc, "signum", signal.SIGINT))
            raise
    if code in (130, 143, -2, -15):
        raise KeyboardInterrupt
    if code != 0:
        raise StageFailed(
            f"stage {name!r} failed (caloforge {argv[0]} exited {code}); earlier stages are "
            f"kept; rerun with: {rerun}",
            2 if code == 2 else 1,
        )


def _check_data(recipe: Recipe, files: Mapping[str, Path]) -> None:
    """Every given data file exists and was made for the recipe's detector."""
    from caloforge.data import ShowerFile
    from caloforge.geometry import load_detector

    want = load_detector(recipe.detector).name
    for split, path in files.items():
        if not path.is_file():
            raise RecipeError(f"{recipe.path}: [data] {split} = {path}: no such file")
        got = ShowerFile(path).detector.name
        if got != want:
            raise RecipeError(
                f"{path}: showers of detector {got!r}, but recipe {recipe.name!r} is for {want!r}"
            )


def check_recipe(recipe: Recipe) -> None:
    """Everything that can be checked before a stage runs: the detector, the data files and
    every training stage's family and configuration keys."""
    from caloforge.train import resolve_run_config

    _check_data(recipe, recipe.data.files)
    for stage in recipe.stages:
        if stage.kind != "train":
            continue
        try:
            resolve_run_config(str(stage.settings["family"]), overrides=overrides(stage.config))
        except (ValueError, KeyError) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise RecipeError(f"{recipe.path}: stage {stage.name!r}: {text}") from None


def _splits_read(recipe: Recipe, until: str | None) -> set[str]:
    """The data splits that the stages up to ``until`` read (all of them without ``until``):
    training and validation always, the test split where an evaluate stage judges on it. A
    split read by no stage that runs is not simulated."""
    names = [s.name for s in recipe.stages]
    if until is None or until not in names:
        return {"train", "val", "test"}
    stages = recipe.stages[: names.index(until) + 1]
    return {"train", "val"} | {s.reference for s in stages if s.kind == "evaluate"}


def _needs_run(record: Mapping[str, Any] | None, key: str, plan: StagePlan) -> bool:
    if record is None or record.get("key") != key or record.get("status") != "done":
        return True
    return not all(p.exists() for p in plan.outputs)


def _mode(plan: StagePlan, record: Mapping[str, Any] | None, key: str) -> str:
    """``resume`` (continue an interrupted training with the same key) or ``fresh``."""
    if plan.resumable is None or record is None or record.get("key") != key:
        return "fresh"
    ready = (plan.resumable / "checkpoint.pt").is_file()
    return "resume" if ready and record.get("status") != "done" else "fresh"


def _commands(plan: StagePlan, mode: str, kind: str) -> list[tuple[str, ...]]:
    commands = [tuple(c) for c in plan.commands]
    if kind == "train":
        commands[0] = (*commands[0], "--resume" if mode == "resume" else "--overwrite")
    if kind == "data" and plan.outputs[0].exists():
        commands[0] = (*commands[0], "--overwrite")  # made with other settings
    return commands


def run_recipe(
    recipe: Recipe,
    run: Path,
    *,
    until: str | None = None,
    redo: str | None = None,
    seed: int | None = None,
    quiet: bool = True,
    on_event: Callable[[StageEvent], None] | None = None,
) -> dict[str, Any]:
    """Run ``recipe`` into folder ``run``; returns the manifest.

    Arguments:
        recipe: the parsed recipe.
        run: run folder (created).
        until: stop after this stage.
        redo: run this stage again even if it is up to date (later stages follow their keys).
        seed: run seed of the train, distill, calibrate and refine stages (see
            :meth:`~caloforge.recipes.spec.Recipe.with_seed`); ``None``: the recipe's seeds.
        quiet: pass ``--quiet`` to the verbs.
        on_event: called when a stage starts, is skipped, resumes or ends.

    Raises:
        RecipeError: bad stage names, seed or data (nothing in the run folder is changed).
        StageFailed: a stage's command failed (earlier stages' outputs are kept).
    """
    from caloforge.files import OutputLock

    names = [s.name for s in recipe.stages]
    for given in (until, redo):
        if given is not None and given not in names and given != "data":
            recipe.stage(given)  # raises naming the known stages
    recipe = recipe.with_seed(seed)
    check_recipe(recipe)
    run.mkdir(parents=True, exist_ok=True)
    with OutputLock(run):
        return _run_locked(recipe, run, until, redo, seed, quiet, on_event)


def _run_locked(
    recipe: Recipe,
    run: Path,
    until: str | None,
    redo: str | None,
    seed: int | None,
    quiet: bool,
    on_event: Callable[[StageEvent], None] | None,
) -> dict[str, Any]:
    from caloforge.recipes.card import environment, write_card

    manifest = read_manifest(run)
    manifest["recipe"] = {
        "name": recipe.name,
        "file": str(recipe.path),
        "sha256": file_sha256(recipe.path),
        "text": recipe.path.read_text(),
    }
    manifest["seed"] = seed
    manifest["set"] = list(recipe.overrides)
    manifest["environment"] = environment()
    given = [a for split, path in recipe.data.files.items() for a in ("--data", f"{split}={path}")]
    rerun = shlex.join(["caloforge", "recipe", "run", str(recipe.path), *given, "--out", str(run)])
    rerun += run_options(seed, recipe.overrides)
    data = {**recipe.data.files}
    read = _splits_read(recipe, until)
    sims = {s: p for s, p in simulate_commands(recipe, run, quiet).items() if s in read}
    todo: list[tuple[str, str]] = [(f"data-{s}", "data") for s in sims]
    todo += [(s.name, s.kind) for s in recipe.stages]
    cache = manifest["hashes"]
    for index, (name, kind) in enumerate(todo):
        if kind == "data":
            split = name.removeprefix("data-")
            plan = sims[split]
            data[split] = plan.outputs[0]
        else:
            stage = recipe.stage(name)
            reference = stage.reference
            if kind == "evaluate" and reference not in data:
                if on_event:
                    on_event(StageEvent(name, kind, "no-data", index, len(todo),
                                        note=f"no {reference} data (--data {reference}=FILE)"))
                continue
            plan = plan_stage(recipe, stage, run, data, quiet)
        key = stage_key(plan, run, cache)
        record = manifest["stages"].get(name)
        if name != redo and not _needs_run(record, key, plan):
            if on_event:
                on_event(StageEvent(name, kind, "skip", index, len(todo)))
        else:
            mode = "fresh" if name == redo else _mode(plan, record, key)
            if on_event:
                on_event(StageEvent(name, kind, "resume" if mode == "resume" else "start",
                                    index, len(todo)))
            if plan.prepare is not None and mode == "fresh":
                source, target = plan.prepare
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.lock"))
            commands = _commands(plan, mode, kind)
            entry: dict[str, Any] = {
                "kind": kind,
                "key": key,
                "status": "running",
                "commands": [["caloforge", *c] for c in commands],
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "notes": dict(plan.notes),
            }
            manifest["stages"][name] = entry
            _write_manifest(run, manifest)
            t0 = time.perf_counter()
            try:
                for argv in commands:
                    _run_command(argv, name, rerun)
            except KeyboardInterrupt:
                entry["status"] = "interrupted"
                _write_manifest(run, manifest)
                raise
            except StageFailed:
                entry["status"] = "failed"
                _write_manifest(run, manifest)
                raise
            entry["status"] = "done"
            entry["wall_s"] = round(time.perf_counter() - t0, 1)
            entry["outputs"] = [_relative(str(p), run) for p in plan.outputs]
            if on_event:
                on_event(StageEvent(name, kind, "done", index, len(todo), entry["wall_s"]))
        manifest["data"] = {s: str(p) for s, p in data.items()}
        _write_manifest(run, manifest)
        write_card(recipe, run, manifest)
        if name == until:
            break
    return manifest
