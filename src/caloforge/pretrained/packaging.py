"""A finished recipe run's model stage -> a pretrained model folder.

``model.pt`` is the stage's checkpoint made for inference: its EMA weights (when it has
them) become its weights, and the training state (optimisers, data order, random-generator
states) is left out, so that it is a fraction of the training checkpoint and generates the
same showers; it is stored gzip-compressed (lossless). ``MODEL_CARD.md`` and
``manifest.json`` are the run's, the card with a section on the packaged model and the
manifest with a ``pretrained`` record (what
:mod:`caloforge.pretrained.registry` lists) holding the commands that made it.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any

from caloforge._version import __version__
from caloforge.pretrained.registry import CHECKPOINT, RECORD, PretrainedError
from caloforge.recipes.card import MODEL_CARD
from caloforge.recipes.results import data_options
from caloforge.recipes.runner import MANIFEST, file_sha256, read_manifest
from caloforge.recipes.spec import Recipe, builtin_recipes, parse_recipe, run_options
from caloforge.recipes.stages import stage_model

MAX_MB = 25.0
"""The largest ``model.pt`` shipped, MB (10^6 bytes)."""

MODEL_KINDS = ("train", "distill", "calibrate", "refine")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def recipe_command(recipe: Recipe, manifest: dict[str, Any], run: Path) -> str:
    """The ``caloforge recipe run`` command line of a run of ``recipe``: the shipped
    recipe's name when its file is the one that ran (same SHA-256), else the recorded file;
    ``--data`` for every split the run neither simulated nor took from the recipe; its run
    seed."""
    ran = manifest["recipe"]
    shipped = builtin_recipes().get(ran["name"])
    same = shipped is not None and file_sha256(shipped) == ran["sha256"]
    argv = ["caloforge", "recipe", "run", ran["name"] if same else ran["file"]]
    argv += data_options(manifest, recipe.data.files)
    return shlex.join([*argv, "--out", str(run)]) + run_options(
        manifest.get("seed"), manifest.get("set", ())
    )


def _source(run: Path, stage: str) -> tuple[Recipe, dict[str, Any], Path]:
    """The run's recipe and manifest, and the checkpoint that ``stage`` left."""
    if not (run / MANIFEST).is_file():
        raise PretrainedError(f"{run}: no {MANIFEST}; give the folder of a recipe run")
    manifest = read_manifest(run)
    recipe = parse_recipe(
        manifest["recipe"]["text"], Path(manifest["recipe"]["file"]), manifest.get("set", ())
    )
    kind = recipe.stage(stage).kind  # raises naming the stages
    if kind not in MODEL_KINDS:
        raise PretrainedError(
            f"{run}: stage {stage!r} is a {kind} stage; a model comes from a "
            f"{', '.join(MODEL_KINDS)} stage"
        )
    status = manifest["stages"].get(stage, {}).get("status", "not run")
    if status != "done":
        raise PretrainedError(f"{run / MANIFEST}: stage {stage!r} is {status}, not done")
    checkpoint = stage_model(recipe, run, stage)
    if not checkpoint.is_file():
        raise PretrainedError(f"{checkpoint}: no such checkpoint (stage {stage!r})")
    return recipe, manifest, checkpoint


def inference_checkpoint(checkpoint: Path) -> tuple[dict[str, Any], bool]:
    """The checkpoint dict to ship (the weights ``load_model`` uses, no training state),
    and whether those are EMA weights."""
    import torch

    from caloforge.train.loading import load_model

    model, ckpt = load_model(checkpoint)
    state = {  # tensors, and the extra states (plain values) of post-processors
        k: v.detach().cpu().clone() if isinstance(v, torch.Tensor) else v
        for k, v in model.state_dict().items()
    }
    payload = {k: v for k, v in ckpt.items() if k not in ("format", "format_version", "trainer")}
    return {**payload, "state": state, "ema": None}, bool(ckpt.get("ema"))


def _card(text: str, record: dict[str, Any]) -> str:
    size = record["size_bytes"] / 1e6
    return text.rstrip("\n") + "\n".join([
        "",
        "",
        "## Pretrained model",
        f"`caloforge generate --model {record['name']}` (or `caloforge.load_model("
        f"\"{record['name']}\")`) uses `model.pt`: the checkpoint of stage "
        f"`{record['stage']}` ({record['kind']}, {record['family']}, step {record['step']}) "
        f"of this run, {'its EMA weights as its weights, ' if record['ema'] else ''}"
        "without the training state; "
        f"{size:.1f} MB, sha256 {record['sha256'][:12]}.",
        "",
        "Made with:",
        "```",
        record["recipe_command"],
        record["command"],
        "```",
        "",
    ])


def _local_paths(run: Path, manifest: dict[str, Any], recipe: Recipe) -> dict[str, str]:
    """The machine's own paths in a run's records -> what a reader elsewhere sees: the run
    folder becomes ``RUN``; a data, recipe or detector file, its file name (the hashes of
    the data stay beside them)."""
    detector = recipe.detector if "/" in recipe.detector else None
    files = [*manifest.get("data", {}).values(), manifest.get("recipe", {}).get("file"), detector]
    paths = {str(q): Path(p).name for p in files if p for q in (p, Path(p).resolve())}
    for folder in {str(run), str(run.resolve())}:
        paths[folder] = "RUN"
    return dict(sorted(paths.items(), key=lambda kv: -len(kv[0])))  # longest first


def _portable(text: str, paths: dict[str, str]) -> str:
    for old, new in paths.items():
        text = text.replace(old, new)
    return text


def ship_model(
    run: str | Path,
    stage: str,
    name: str,
    *,
    folder: str | Path,
    overwrite: bool = False,
    max_mb: float = MAX_MB,
    command: str | None = None,
) -> Path:
    """Package stage ``stage`` of the recipe run in ``run`` as pretrained model ``name``.

    Arguments:
        run: a recipe run folder (``manifest.json``, ``MODEL_CARD.md``, the stages' outputs).
        stage: a train, distill, calibrate or refine stage of it, done.
        name: the model's name (lower case letters, digits, ``.``, ``_``, ``-``).
        folder: where model folders live (the package's: ``shipped_folder()``).
        overwrite: replace an existing model of that name.
        max_mb: refuse a ``model.pt`` larger than this, MB.
        command: the command line to record as the one that packaged it.

    Returns:
        The model folder ``folder/name``.

    Raises:
        PretrainedError: bad name, run, stage, or a model too large; RecipeError: unknown
        stage; FileExistsError: the model exists and not ``overwrite``.
    """
    from caloforge.files import OutputLock, atomic_output, write_text
    from caloforge.train.checkpoint import save_checkpoint

    run, target = Path(run), Path(folder) / name
    if not _NAME.match(name):
        raise PretrainedError(
            f"model name {name!r}: use lower case letters, digits, '.', '_' and '-'"
        )
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"{target}: a model of that name exists; overwrite=True (OVERWRITE=1) replaces it"
        )
    recipe, manifest, source = _source(run, stage)
    payload, ema = inference_checkpoint(source)
    Path(folder).mkdir(parents=True, exist_ok=True)
    with OutputLock(target), tempfile.TemporaryDirectory() as tmp:
        staged = save_checkpoint(Path(tmp) / CHECKPOINT, payload, compress=True)
        size = staged.stat().st_size
        if size > max_mb * 1e6:
            raise PretrainedError(
                f"{source}: {size / 1e6:.1f} MB for inference, more than the {max_mb:g} MB a "
                "pretrained model may have"
            )
        target.mkdir(exist_ok=True)
        record = {
            "name": name,
            "description": recipe.description,
            "detector": json.loads(payload["detector"])["name"],
            "family": payload["family"],
            "conditions": payload.get("conditions"),
            "stage": stage,
            "kind": recipe.stage(stage).kind,
            "step": int(payload["step"]),
            "ema": ema,
            "source": str(source.relative_to(run)),
            "size_bytes": size,
            "sha256": file_sha256(staged),
            "recipe_command": recipe_command(recipe, manifest, run.resolve()),
            "command": command or f"ship_model({str(run)!r}, {stage!r}, {name!r})",
            "caloforge_version": __version__,
        }
        card = run / MODEL_CARD
        text = card.read_text() if card.is_file() else f"# {name}\n"
        local = _local_paths(run, manifest, recipe)
        write_text(target / MODEL_CARD, _portable(_card(text, record), local), lock=False)
        body = json.dumps({**manifest, RECORD: record}, indent=2) + "\n"
        write_text(target / MANIFEST, _portable(body, local), lock=False)
        with atomic_output(target / CHECKPOINT, overwrite=True, lock=False) as out:
            shutil.copyfile(staged, out)
    return target


__all__ = ["MAX_MB", "MODEL_KINDS", "inference_checkpoint", "recipe_command", "ship_model"]
