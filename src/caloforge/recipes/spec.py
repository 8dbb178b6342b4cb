"""Recipe files: a detector, its data and the ordered stages that turn them into a model.

A recipe is a small TOML file::

    name = "atlas-pblar-gamma"
    description = "Flow-matching teacher, one-pass student, calibration, refiner"
    detector = "atlas-pblar"

    [data]                        # existing files (paths relative to the recipe file) ...
    train = "train.h5"
    val = "val.h5"

    [data.simulate]               # ... or a Geant4 production that the recipe runs first
    particle = "gamma"
    energy = "loguniform:1GeV,100GeV"
    train = 20000                 # showers per split; each split has its own seed
    val = 5000
    seed = 101

    [[stages]]
    name = "teacher"
    kind = "train"
    family = "diffusion"
    config = { coding = "hit-energy", "train.steps" = 40000 }

Every stage is one run of an existing ``caloforge`` verb (see
:mod:`caloforge.recipes.stages`); the keys a stage takes are listed in ``STAGE_KEYS``.
Every bad key or value raises :class:`RecipeError` naming the file and the key.
"""

from __future__ import annotations

import shlex
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from caloforge.hardware import parse_precisions

SPLITS = ("train", "val", "test")
"""Data splits a recipe may name: training, validation (model selection), independent test."""

Scalar = int | float | bool | str


class Precisions(str):
    """The type of a bench stage's ``precision``: one precision, a comma string or a TOML
    list of them (:func:`caloforge.hardware.parse_precisions`), kept as the comma string
    given to ``caloforge bench --precision``."""

# Per stage kind: recipe key -> (type, verb option). ``None`` as option: used by the runner.
STAGE_KEYS: dict[str, dict[str, tuple[type, str | None]]] = {
    "train": {
        "family": (str, "--model"),
        "seed": (int, "--seed"),
        "threads": (int, "--threads"),
        "checkpoint": (str, None),
    },
    "distill": {
        "from": (str, None),
        "steps": (int, None),
        "minutes": (float, None),
        "pool": (int, None),
        "teacher_steps": (int, None),
        "threads": (int, "--threads"),
        "seed": (int, None),
    },
    "calibrate": {
        "from": (str, None),
        "bins": (int, "--bins"),
        "levels": (int, "--levels"),
        "grid": (int, "--grid"),
        "keep_layers": (bool, "--keep-layers"),
        "cluster_hits": (bool, "--cluster-hits"),
        "mode": (str, "--mode"),
        "offset_bins": (int, "--offset-bins"),
        "showers": (int, "-n"),
        "seed": (int, "--seed"),
    },
    "refine": {
        "from": (str, None),
        "candidates": (int, "--candidates"),
        "ensemble": (int, "--ensemble"),
        "hidden": (int, "--hidden"),
        "showers": (int, "-n"),
        "threads": (int, "--threads"),
        "seed": (int, "--seed"),
    },
    "evaluate": {
        "models": (list, None),
        "reference": (str, None),
        "seed": (int, None),
        "precision": (str, None),
        "classifier_seeds": (int, "--classifier-seeds"),
        "max_showers": (int, "--max-showers"),
    },
    "export": {
        "from": (str, None),
        "parity": (int, "--parity"),
    },
    "bench": {
        "models": (list, None),
        "batch": (str, "--batch"),
        "threads": (int, "--threads"),
        "repeats": (int, "--repeats"),
        "geant4": (bool, "--geant4/--no-geant4"),
        "geant4_showers": (int, "--geant4-showers"),
        "precision": (Precisions, "--precision"),
    },
}
STAGE_KINDS = tuple(STAGE_KEYS)
SEEDED_KINDS: dict[str, tuple[str, ...]] = {
    "train": ("seed", "train.seed"),
    "distill": ("distill_seed", "model.distill_seed"),
    "calibrate": (),
    "refine": (),
}
"""Stage kinds that draw random numbers in making the model, each with the ``config`` keys
its ``seed`` stands for. A run seed (:meth:`Recipe.with_seed`) replaces their seeds; the
data simulation and the evaluate stages (the judge) keep theirs."""
_COMMON_KEYS = {"name", "kind", "config"}
_SIMULATE_KEYS = {"particle", "energy", "seed", "workers", "options", *SPLITS}
_TOP_KEYS = {"name", "description", "detector", "data", "stages", "measured"}


class RecipeError(ValueError):
    """A recipe file, a recipe name or a stage name is not valid (one line)."""


@dataclass(frozen=True)
class SimulateSpec:
    """A Geant4 production: ``caloforge simulate`` once per split, each with its own seed.

    Arguments:
        particle: particle (or mixture) given to ``--particle``.
        energy: energy specification given to ``--energy``.
        showers: showers per split (``train``, ``val``, ``test``), zero for a split not made.
        seed: run seed of the training split; the validation split uses ``seed + 1`` and the
            test split ``seed + 2``, so that no two splits share an event.
        workers: worker processes (``--workers``).
        options: further ``simulate`` options, e.g. ``{"theta": "uniform:0,20"}``; a
            boolean is a flag given when true (``{"approximate_hadronic": true}``).
    """

    particle: str
    energy: str
    showers: Mapping[str, int]
    seed: int = 1
    workers: int = 1
    options: Mapping[str, Scalar] = field(default_factory=dict)

    def split_seed(self, split: str) -> int:
        return self.seed + SPLITS.index(split)


@dataclass(frozen=True)
class DataSpec:
    """Where the showers come from: existing files per split, else a :class:`SimulateSpec`."""

    files: Mapping[str, Path]
    simulate: SimulateSpec | None = None

    def splits(self) -> tuple[str, ...]:
        made = set(self.files)
        if self.simulate is not None:
            made |= {s for s, n in self.simulate.showers.items() if n > 0}
        return tuple(s for s in SPLITS if s in made)


@dataclass(frozen=True)
class Stage:
    """One stage: a run of a ``caloforge`` verb.

    Arguments:
        name: unique name in the recipe (the run folder's entry for its outputs).
        kind: one of :data:`STAGE_KINDS`.
        settings: the stage's keys (see :data:`STAGE_KEYS`), typed.
        config: ``key=value`` configuration overrides (train and distill).
    """

    name: str
    kind: str
    settings: Mapping[str, Any]
    config: Mapping[str, Scalar] = field(default_factory=dict)

    @property
    def source(self) -> str | None:
        """The stage whose model this stage reads (``from``)."""
        value = self.settings.get("from")
        return None if value is None else str(value)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.settings.get("models", ()))

    @property
    def reference(self) -> str:
        """The split an evaluate stage judges on: ``val`` (the default) or ``test``."""
        return str(self.settings.get("reference", "val"))


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe file."""

    name: str
    description: str
    detector: str
    data: DataSpec
    stages: tuple[Stage, ...]
    path: Path
    measured: Mapping[str, str] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.stages)
        raise RecipeError(f"{self.path}: no stage {name!r} (stages: {known})")

    def with_files(self, files: Mapping[str, Path]) -> Recipe:
        """The same recipe reading existing files for the given splits instead of simulating."""
        merged = {**self.data.files, **files}
        sim = self.data.simulate
        if sim is not None:
            left = {s: (0 if s in files else n) for s, n in sim.showers.items()}
            sim = None if not any(left.values()) else _replace_showers(sim, left)
        return replace(self, data=DataSpec(files=merged, simulate=sim))

    def with_seed(self, seed: int | None) -> Recipe:
        """The same recipe with ``seed`` as the seed of every stage of :data:`SEEDED_KINDS`
        (replacing its ``seed`` key and the configuration keys it stands for); ``None``: the
        recipe as it is. The data simulation and the evaluate stages keep their seeds, so two
        run seeds differ only in the model."""
        if seed is None:
            return self
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise RecipeError(f"seed {seed!r}: expected a non-negative integer")
        return replace(self, stages=tuple(_seeded(s, seed) for s in self.stages))


def run_options(seed: int | None, overrides: Sequence[str] = ()) -> str:
    """The ``recipe run`` options that give a run seed and setting overrides (empty for the
    recipe as it is), each quoted for a shell."""
    options = "" if seed is None else f" --seed {seed}"
    return options + "".join(f" --set {shlex.quote(item)}" for item in overrides)


def _apply_overrides(where: str, raw: dict[str, Any], overrides: Sequence[str]) -> None:
    """Set ``STAGE.KEY=VALUE`` items in the parsed TOML before it is checked: ``KEY`` is one
    of the stage's keys, or else a ``config`` key (train and distill stages); ``VALUE`` is
    read as a TOML value (``60``, ``1e-4``, ``true``, ``"x"``), else kept as a string."""
    tables = raw.get("stages")
    tables = tables if isinstance(tables, list) else []
    names = [t.get("name", t.get("kind")) for t in tables if isinstance(t, dict)]
    for item in overrides:
        target, sep, text = item.partition("=")
        stage_name, dot, key = target.partition(".")
        if not (sep and dot and stage_name and key):
            raise RecipeError(f"--set {item!r}: expected STAGE.KEY=VALUE")
        table = next((t for t in tables if isinstance(t, dict)
                      and t.get("name", t.get("kind")) == stage_name), None)
        if table is None:
            raise RecipeError(
                f"--set {item!r}: {where} has no stage {stage_name!r} (stages: "
                f"{', '.join(map(str, names))})"
            )
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        kind = table.get("kind")
        if key in ("name", "kind", "config"):
            raise RecipeError(f"--set {item!r}: {key} of a stage cannot be set")
        if key in STAGE_KEYS.get(str(kind), {}):
            table[key] = value
        elif kind in ("train", "distill"):
            config = table.setdefault("config", {})
            if isinstance(config, dict):
                config[key] = value
        else:
            raise RecipeError(
                f"--set {item!r}: {key!r} is not a key of {kind} stage {stage_name!r} "
                f"(keys: {', '.join(sorted(STAGE_KEYS.get(str(kind), {})))})"
            )


def _seeded(stage: Stage, seed: int) -> Stage:
    if stage.kind not in SEEDED_KINDS:
        return stage
    drop = SEEDED_KINDS[stage.kind]
    config = {k: v for k, v in stage.config.items() if k not in drop}
    return replace(stage, settings={**stage.settings, "seed": seed}, config=config)


def _replace_showers(sim: SimulateSpec, showers: Mapping[str, int]) -> SimulateSpec:
    return SimulateSpec(sim.particle, sim.energy, showers, sim.seed, sim.workers, sim.options)


def _check_keys(where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise RecipeError(
            f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def _typed(where: str, key: str, value: Any, tp: type) -> Any:
    if tp is Precisions:
        if not isinstance(value, (str, list)):
            raise RecipeError(f"{where}: {key} = {value!r}: expected a string or a list")
        try:
            return ",".join(parse_precisions(value, key))
        except ValueError as exc:
            raise RecipeError(f"{where}: {exc}") from None
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RecipeError(f"{where}: {key} = {value!r}: expected a list of stage names")
        return tuple(value)
    ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
    if not ok:
        raise RecipeError(f"{where}: {key} = {value!r}: expected {tp.__name__}")
    if tp in (int, float) and value < 0:
        raise RecipeError(f"{where}: {key} = {value!r}: must not be negative")
    return value


def _simulate(where: str, table: Mapping[str, Any]) -> SimulateSpec:
    _check_keys(where, table, _SIMULATE_KEYS)
    for key in ("particle", "energy"):
        if not isinstance(table.get(key), str):
            raise RecipeError(f"{where}: {key} is required (a string)")
    showers = {s: _typed(where, s, table.get(s, 0), int) for s in SPLITS}
    if showers["train"] <= 0 or showers["val"] <= 0:
        raise RecipeError(f"{where}: train and val must be positive shower counts")
    options = table.get("options", {})
    if not isinstance(options, dict):
        raise RecipeError(f"{where}: options = {options!r}: expected a table")
    return SimulateSpec(
        particle=table["particle"],
        energy=table["energy"],
        showers=showers,
        seed=_typed(where, "seed", table.get("seed", 1), int),
        workers=max(1, _typed(where, "workers", table.get("workers", 1), int)),
        options=dict(options),
    )


def _data(where: str, table: Any, base: Path) -> DataSpec:
    if not isinstance(table, dict):
        raise RecipeError(f"{where}: [data] is required (files per split or [data.simulate])")
    _check_keys(where, table, {*SPLITS, "simulate"})
    files: dict[str, Path] = {}
    for split in SPLITS:
        if split in table:
            value = table[split]
            if not isinstance(value, str):
                raise RecipeError(f"{where}: {split} = {value!r}: expected a file path")
            path = Path(value).expanduser()
            files[split] = path if path.is_absolute() else base / path
    sim = _simulate(f"{where}.simulate", table["simulate"]) if "simulate" in table else None
    spec = DataSpec(files=files, simulate=sim)
    missing = [s for s in ("train", "val") if s not in spec.splits()]
    if missing:
        raise RecipeError(f"{where}: no {missing[0]} data (a file or a simulate count)")
    return spec


def _stage(where: str, table: Any, earlier: list[Stage]) -> Stage:
    if not isinstance(table, dict):
        raise RecipeError(f"{where}: expected a table")
    kind = table.get("kind")
    if kind not in STAGE_KEYS:
        raise RecipeError(
            f"{where}: kind = {kind!r}: expected one of {', '.join(STAGE_KINDS)}"
        )
    name = table.get("name", kind)
    if not isinstance(name, str) or not name.replace("-", "_").isidentifier():
        raise RecipeError(f"{where}: name = {name!r}: expected a word (letters, digits, -, _)")
    if name == "data" or any(s.name == name for s in earlier):
        raise RecipeError(f"{where}: name = {name!r} is used twice (or reserved)")
    keys = STAGE_KEYS[kind]
    _check_keys(f"{where} ({name})", table, _COMMON_KEYS | set(keys))
    settings = {k: _typed(f"{where} ({name})", k, v, keys[k][0]) for k, v in table.items()
                if k in keys}
    config = table.get("config", {})
    if not isinstance(config, dict) or not all(
        isinstance(v, (int, float, bool, str)) for v in config.values()
    ):
        raise RecipeError(f"{where} ({name}): config = {config!r}: expected a table of values")
    if config and kind not in ("train", "distill"):
        raise RecipeError(f"{where} ({name}): config applies to train and distill stages only")
    by_name = {s.name: s for s in earlier}
    models_of = {"train", "distill", "calibrate", "refine"}
    if kind == "train" and "family" not in settings:
        raise RecipeError(f"{where} ({name}): family is required")
    refs = [settings["from"]] if "from" in settings else list(settings.get("models", ()))
    if kind in ("distill", "calibrate", "refine", "export") and "from" not in settings:
        raise RecipeError(f"{where} ({name}): from is required (an earlier stage)")
    if kind in ("evaluate", "bench") and not refs:
        raise RecipeError(f"{where} ({name}): models is required (earlier stages)")
    for ref in refs:
        if ref not in by_name or by_name[ref].kind not in models_of:
            raise RecipeError(f"{where} ({name}): {ref!r} is not an earlier model stage")
    if kind == "distill" and by_name[str(settings["from"])].kind != "train":
        raise RecipeError(f"{where} ({name}): distill reads a train stage")
    if settings.get("reference", "val") not in ("val", "test"):
        raise RecipeError(f"{where} ({name}): reference = {settings['reference']!r}: val or test")
    if settings.get("checkpoint", "last") not in ("last", "best"):
        raise RecipeError(
            f"{where} ({name}): checkpoint = {settings['checkpoint']!r}: last or best"
        )
    return Stage(name=name, kind=kind, settings=settings, config=dict(config))


def parse_recipe(text: str, path: Path, overrides: Sequence[str] = ()) -> Recipe:
    """Parse recipe text; ``path`` names the file in errors and anchors relative data paths.
    ``overrides``: ``STAGE.KEY=VALUE`` items that replace or add a stage's setting (a stage
    key, else a configuration key of a train or distill stage), checked like the file's."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: not valid TOML ({exc})") from None
    where = str(path)
    _apply_overrides(where, raw, overrides)
    _check_keys(where, raw, _TOP_KEYS)
    for key in ("name", "detector"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise RecipeError(f"{where}: {key} is required (a string)")
    data = _data(f"{where}: [data]", raw.get("data"), path.parent)
    tables = raw.get("stages")
    if not isinstance(tables, list) or not tables:
        raise RecipeError(f"{where}: at least one [[stages]] table is required")
    stages: list[Stage] = []
    for i, table in enumerate(tables):
        stages.append(_stage(f"{where}: stages[{i}]", table, stages))
    measured = raw.get("measured", {})
    if not isinstance(measured, dict):
        raise RecipeError(f"{where}: measured = {measured!r}: expected a table")
    return Recipe(
        name=raw["name"],
        description=str(raw.get("description", "")),
        detector=raw["detector"],
        data=data,
        stages=tuple(stages),
        path=path,
        measured={str(k): str(v) for k, v in measured.items()},
        overrides=tuple(overrides),
    )


def builtin_recipes() -> dict[str, Path]:
    """The recipes shipped with caloforge: name -> file."""
    folder = resources.files("caloforge.recipes") / "builtin"
    out = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".toml"):
            out[entry.name[: -len(".toml")]] = Path(str(entry))
    return dict(sorted(out.items()))


def load_recipe(name_or_path: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """A shipped recipe by name, or a recipe file by path, with ``overrides``
    (:func:`parse_recipe`)."""
    text_name = str(name_or_path)
    shipped = builtin_recipes()
    if text_name in shipped:
        path = shipped[text_name]
    else:
        path = Path(text_name).expanduser()
        if not path.is_file():
            raise RecipeError(
                f"{text_name}: no such recipe (shipped: {', '.join(shipped)}) and no such file"
            )
    return parse_recipe(path.read_text(), path, overrides)
