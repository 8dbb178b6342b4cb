"""Recipes: parsing and refusals, and a tiny recipe run through the console script (train ->
calibrate -> evaluate -> export -> bench on TOY showers), rerun to check that up-to-date
stages are skipped and ``--from`` redoes one."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from caloforge.data import write_showers
from caloforge.geometry import load_detector
from caloforge.recipes import (
    Recipe,
    RecipeError,
    builtin_recipes,
    load_recipe,
    parse_recipe,
    run_recipe,
)
from caloforge.recipes import runner as runner_module
from caloforge.recipes import stages as stages_module
from caloforge.recipes.runner import StageEvent, check_recipe, stage_key
from caloforge.recipes.stages import StagePlan, plan_stage, simulate_commands
from caloforge.testing import toy_detector, toy_showers
from caloforge.train import load_checkpoint

CALOFORGE = Path(sys.executable).parent / "caloforge"

TINY_WGAN = (
    'latent_dim = 8, generator_hidden = "32,32", critic_hidden = "32", '
    'constrainer_hidden = "16", n_critic = 1, "train.batch_size" = 64, "train.steps" = 6, '
    '"train.log_every" = 3, "train.val_every" = 6, "train.val_showers" = 64, '
    '"train.finalize_showers" = 200'
)


def _cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CALOFORGE), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "250"},
        cwd=cwd,
    )


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(detector file, train file, val file) of TOY showers."""
    folder = tmp_path_factory.mktemp("toy")
    det = toy_detector(folder)
    s, c = toy_showers(det, 256, seed=1, impact_spread=5.0)
    train = write_showers(folder / "train.h5", s, c, det)
    s, c = toy_showers(det, 128, seed=2, impact_spread=5.0)
    val = write_showers(folder / "val.h5", s, c, det)
    return folder / "toy-3x4x4.toml", train, val


def _recipe_text(det: Path, train: Path, val: Path, stages: str) -> str:
    head = (
        f'name = "toy"\ndetector = "{det}"\n\n[data]\ntrain = "{train}"\nval = "{val}"\n\n'
    )
    return head + stages


TINY_STAGES = f"""
[[stages]]
name = "model"
kind = "train"
family = "wgan-gp"
threads = 1
config = {{ {TINY_WGAN} }}

[[stages]]
name = "cal"
kind = "calibrate"
from = "model"
bins = 2

[[stages]]
name = "validate"
kind = "evaluate"
models = ["model", "cal"]
classifier_seeds = 1

[[stages]]
name = "onnx"
kind = "export"
from = "cal"
parity = 16

[[stages]]
name = "speed"
kind = "bench"
models = ["cal"]
batch = "1,16"
repeats = 1
geant4 = false
"""


SPREAD_RECIPES = ("atlas-pblar-em-spread", "atlas-pblar-em-spread-wgan-gp")
PATCH_SCRIPT = Path(__file__).parents[2] / "benchmarks" / "train_patch_transformer.sh"


def test_shipped_recipes_parse_and_their_configs_resolve() -> None:
    names = builtin_recipes()
    assert {"atlas-pblar-gamma", *SPREAD_RECIPES, "calochallenge-ds2-patch-transformer"} <= set(
        names
    )
    for name in names:
        recipe = load_recipe(name)
        assert recipe.stages and recipe.name == name
        assert load_detector(recipe.detector).name == recipe.detector  # a shipped preset
        check_recipe(recipe.with_files({}))  # family and config keys of every train stage


@pytest.mark.usefixtures("no_teacher_run")
@pytest.mark.parametrize("name", list(builtin_recipes()))
def test_every_stage_of_a_shipped_recipe_plans(tmp_path: Path, name: str) -> None:
    """Every stage becomes command lines of the verbs (nothing runs); a stage judged on the
    test split names the validation file too."""
    recipe = load_recipe(name)
    data = {split: tmp_path / f"{split}.h5" for split in ("train", "val", "test")}
    assert set(simulate_commands(recipe, tmp_path)) == set(recipe.data.splits())
    for stage in recipe.stages:
        plan = plan_stage(recipe, stage, tmp_path / "run", data)
        assert plan.commands and plan.outputs, stage.name
        if stage.kind == "evaluate" and stage.settings.get("reference") == "test":
            assert _value(plan.commands[-1], "--val") == str(data["val"])


@pytest.mark.usefixtures("no_teacher_run")
@pytest.mark.parametrize("name", SPREAD_RECIPES)
def test_spread_recipes_use_every_condition_and_the_track_frame(
    tmp_path: Path, name: str
) -> None:
    """The models of the spread-condition mixture see every condition, are calibrated in the
    frame of the track and are judged last on the test split of the library recipe's data."""
    from caloforge.data import CONDITION_FEATURES
    from caloforge.recipes.stages import overrides
    from caloforge.train import resolve_run_config

    recipe = load_recipe(name)
    assert recipe.data == load_recipe("atlas-pblar-em-spread-library").data
    data = {split: tmp_path / f"{split}.h5" for split in ("train", "val", "test")}
    kinds = [s.kind for s in recipe.stages]
    modes: dict[str, str | None] = {}
    assert "calibrate" in kinds and "export" not in kinds  # the axis calibration does not export
    for stage in recipe.stages:
        if stage.kind == "train":
            model_cfg, _ = resolve_run_config(
                str(stage.settings["family"]), overrides=overrides(stage.config)
            )
            assert model_cfg.conditions == CONDITION_FEATURES
        if stage.kind == "calibrate":
            argv = plan_stage(recipe, stage, tmp_path / "run", data).commands[0]
            modes[stage.name] = _value(argv, "--mode")
    # the models go on from the track-frame calibration; an energy-binned one may stand
    # beside it for comparison, but no stage is built on it
    assert "axis" in modes.values()
    for name, mode in modes.items():
        if mode != "axis":
            assert all(s.settings.get("from") != name for s in recipe.stages), name
    last = recipe.stages[-1]
    assert (last.kind, last.settings["reference"], last.settings["classifier_seeds"]) == (
        "evaluate", "test", 5
    )


def test_every_recipe_with_a_test_split_is_judged_last_by_its_test_stage() -> None:
    """``benchmarks/judge_recipes.sh`` reads RUN/test of every recipe: the stage judged on
    the test split is the last one, is named ``test`` and has five classifier seeds."""
    for name in builtin_recipes():
        recipe = load_recipe(name)
        judged = [s for s in recipe.stages if s.settings.get("reference") == "test"]
        if not judged:
            continue
        last = recipe.stages[-1]
        assert judged == [last], name
        assert (last.name, last.kind, last.settings["classifier_seeds"]) == (
            "test", "evaluate", 5
        ), name


def test_recipes_of_different_data_never_share_a_simulation_seed() -> None:
    """Two recipes simulate the same events only when they ask for the same data."""
    seeds: dict[tuple[Any, ...], set[int]] = {}
    for name in builtin_recipes():
        recipe = load_recipe(name)
        sim = recipe.data.simulate
        if sim is None:
            continue
        kind = (recipe.detector, sim.particle, sim.energy, tuple(sorted(sim.options.items())))
        seeds.setdefault(kind, set()).update(
            sim.split_seed(split) for split, n in sim.showers.items() if n > 0
        )
    kinds = list(seeds)
    assert len(kinds) >= 3
    for i, a in enumerate(kinds):
        for b in kinds[i + 1 :]:
            assert not seeds[a] & seeds[b], (a, b)


SAMPLES_SCRIPT = Path(__file__).parents[2] / "benchmarks" / "reference_samples.sh"
SHORT = {"-d": "--detector", "-p": "--particle", "-e": "--energy", "-q": "--quiet"}


def _arguments(tokens: list[str]) -> dict[str, str | bool]:
    """Command-line options as a dict: ``--key value``, or ``--flag``: True."""
    out: dict[str, str | bool] = {}
    i = 0
    while i < len(tokens):
        key = SHORT.get(tokens[i], tokens[i])
        if i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
            out[key], i = tokens[i + 1], i + 2
        else:
            out[key], i = True, i + 1
    return out


def test_pion_recipe_simulates_reference_samples_job_3(tmp_path: Path) -> None:
    """atlas-pblar-pion's [data.simulate] is benchmarks/reference_samples.sh job 3, option
    for option and split by split (the same seeds: the same events); a boolean option is a
    bare flag."""
    script = SAMPLES_SCRIPT.read_text()

    def find(pattern: str, text: str = script) -> str:
        match = re.search(pattern, text, flags=re.MULTILINE | re.DOTALL)
        assert match, pattern
        return match.group(1)

    job = script.split("\n    3) ")[1].split(";;")[0]
    splits = find(r"for split in ([^;]+);", job).split()
    command = find(r'simulate (-n "\$n" .*?) -o "\$OUT/\$out"') + " "
    command += find(r'"\$seed" (.*?)\n\s*done', job)
    job_args = _arguments(command.replace("\\", " ").split())
    job_args["--energy"] = find(r"^E=(\S+)$")
    job_args["--workers"] = find(r"^WORKERS=\$\{WORKERS:-(\d+)\}$")

    import typer

    from caloforge.cli import app

    simulate = typer.main.get_command(app).commands["simulate"]  # type: ignore[attr-defined]
    recipe = load_recipe("atlas-pblar-pion")
    plans = simulate_commands(recipe, tmp_path)
    assert set(plans) == {s.split(":")[0] for s in splits}
    for split in splits:
        name, n, seed = split.split(":")
        argv = plans[name].commands[0]
        assert argv[0] == "simulate" and "--approximate-hadronic" in argv
        args = _arguments(list(argv[1:]))
        del args["-o"]  # the output paths differ, and so does nothing else
        assert args == job_args | {"-n": n, "--seed": seed}, name
        params = simulate.make_context("simulate", list(argv[1:])).params  # parses, no run
        assert (params["approximate_hadronic"], params["physics"]) == (True, "FTFP_BERT")


def test_ds2_data_are_scored_per_step(tmp_path: Path) -> None:
    """The calochallenge-ds2 recipe and benchmarks/reference_samples.sh job 4 simulate in
    the preset's scoring mode, steps, and name it (the recipe's data stage key with it)."""
    import typer

    from caloforge.cli import app
    from caloforge.geometry import load_detector

    simulate = typer.main.get_command(app).commands["simulate"]  # type: ignore[attr-defined]
    recipe = load_recipe("calochallenge-ds2-patch-transformer")
    assert load_detector(recipe.detector).physics.scoring == "steps"
    plans = simulate_commands(recipe, tmp_path)
    assert set(plans) == {"train", "val", "test"}
    for plan in plans.values():
        params = simulate.make_context("simulate", list(plan.commands[0][1:])).params
        assert params["scoring"] == "steps"
    job = SAMPLES_SCRIPT.read_text().split("\n    4) ")[1].split(";;")[0]
    assert "-d calochallenge-ds2" in job and "--scoring steps" in job


def _script_defaults(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+)=\$\{\1:-([^}]*)\}$", text, flags=re.MULTILINE))


def _script_block(text: str, stage: str) -> str:
    return text.split(f"if has {stage}")[1].split("\nfi\n")[0]


def test_patch_transformer_script_defaults_are_the_recipe_settings() -> None:
    """benchmarks/train_patch_transformer.sh and the calochallenge-ds2 recipe run the same
    pipeline: the script's defaults and fixed settings are the recipe's."""
    recipe = load_recipe("calochallenge-ds2-patch-transformer")
    text = PATCH_SCRIPT.read_text()
    env = _script_defaults(text)
    teacher, student = recipe.stage("teacher"), recipe.stage("student")
    assert teacher.settings["family"] == "patch-transformer"
    expected = {
        "TEACHER_STEPS": teacher.config["train.steps"],
        "TEACHER_MIN": teacher.config["train.max_time_min"],
        "BATCH_SIZE": teacher.config["train.batch_size"],
        "STUDENT_STEPS": student.settings["steps"],
        "STUDENT_MIN": student.settings["minutes"],
        "POOL": student.settings["pool"],
    }
    assert {key: type(value)(env[key]) for key, value in expected.items()} == expected
    threads = {s.settings["threads"] for s in recipe.stages if "threads" in s.settings}
    assert threads == {int(env["THREADS"])}
    # the fixed key=value settings of the script's teacher command
    block = _script_block(text, "teacher")
    fixed = dict(re.findall(r"\b((?:train\.)?\w+)=([\w.,]+)(?=\s)", block))
    assert fixed and all(str(teacher.config[k]) == v for k, v in fixed.items()), fixed
    assert env["MAX_MEMORY_GB"] == "0" and "train.max_memory_gb" not in teacher.config
    seed = re.search(r"--seed (\d+)", block)
    assert seed is not None and int(seed.group(1)) == teacher.settings["seed"]
    fill = re.search(r"fill_empty_layers=([\d.]+)", _script_block(text, "student"))
    assert fill is not None and float(fill.group(1)) == student.config["fill_empty_layers"]
    keep = "--keep-layers" in _script_block(text, "calibrate")
    assert keep == recipe.stage("student_cal").settings.get("keep_layers", False) is True
    bench = _script_block(text, "bench")
    speed = recipe.stage("speed").settings
    assert f"--repeats {speed['repeats']} " in bench
    assert f"--geant4-showers {speed['geant4_showers']} " in bench
    assert '--batch 1,128,1024 ' in bench and "batch" not in speed  # the bench stage's default
    # generation for the judgement: the script's precision, seed and conditions' split
    generate = re.search(r"generate .*?--quiet", _script_block(text, "generate"), re.S)
    assert generate is not None
    options = dict(re.findall(r"(--precision|--seed) (\w+)", generate.group()))
    evaluates = [s for s in recipe.stages if s.kind == "evaluate"]
    assert [s.settings.get("reference") for s in evaluates] == ["val", "test"]
    assert '--conditions-from "$TEST"' in generate.group()
    for stage in evaluates:
        assert stage.settings.get("precision", "auto") == options["--precision"] == "fp32"
        assert stage.settings.get("seed", 1) == int(options["--seed"])


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ('[[stages]]\nkind = "train"\nfamily = "vae"\nfoo = 1\n', "unknown key 'foo'"),
        ('[[stages]]\nkind = "cook"\n', "kind = 'cook'"),
        ('[[stages]]\nkind = "calibrate"\nfrom = "nothing"\n', "'nothing' is not an earlier"),
        ('[[stages]]\nkind = "train"\nfamily = "vae"\nseed = "x"\n', "seed = 'x': expected int"),
        ('[[stages]]\nkind = "evaluate"\nmodels = []\n', "models is required"),
        ("colour = 1\n", "unknown key 'colour'"),
    ],
)
def test_bad_recipe_names_file_and_key(tmp_path: Path, fragment: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    text = 'name = "x"\ndetector = "atlas-pblar"\n[data]\ntrain = "a.h5"\nval = "b.h5"\n'
    path.write_text(fragment + text if fragment.startswith("colour") else text + fragment)
    with pytest.raises(RecipeError, match=expected) as err:
        load_recipe(path)
    assert str(path) in str(err.value)


BENCH_HEAD = (
    'name = "x"\ndetector = "atlas-pblar"\n[data]\ntrain = "a.h5"\nval = "b.h5"\n'
    '[[stages]]\nname = "m"\nkind = "train"\nfamily = "vae"\n'
    '[[stages]]\nname = "speed"\nkind = "bench"\nmodels = ["m"]\n'
)


@pytest.mark.parametrize(
    ("setting", "option"),
    [
        ("", None),  # the bench verb's default: float32, and bfloat16 where native
        ('precision = "bf16"\n', "bf16"),
        ('precision = "fp32, bf16"\n', "fp32,bf16"),
        ('precision = ["fp32", "auto"]\n', "fp32,auto"),
    ],
)
def test_bench_stage_precision(tmp_path: Path, setting: str, option: str | None) -> None:
    recipe = parse_recipe(BENCH_HEAD + setting, tmp_path / "x.toml")
    data = {"train": tmp_path / "t.h5", "val": tmp_path / "v.h5"}
    argv = plan_stage(recipe, recipe.stage("speed"), tmp_path / "run", data).commands[0]
    assert argv[0] == "bench" and _value(argv, "--precision") == option
    assert argv.count("--precision") == (option is not None)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ('precision = "fp32,fp16"\n', "precision 'fp32,fp16': 'fp16' is not one of auto"),
        ('precision = ["fp32", 3]\n', "precision ['fp32', 3]: 3 is not one of auto"),
        ("precision = 3\n", "precision = 3: expected a string or a list"),
    ],
)
def test_bad_bench_stage_precision(tmp_path: Path, setting: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    with pytest.raises(RecipeError, match=re.escape(expected)) as err:
        parse_recipe(BENCH_HEAD + setting, path)
    assert str(path) in str(err.value) and "(speed)" in str(err.value)


def test_unknown_config_key_is_refused_before_anything_runs(
    tmp_path: Path, toy_data: tuple[Path, Path, Path]
) -> None:
    stages = '[[stages]]\nkind = "train"\nfamily = "vae"\nconfig = { latent_dimm = 3 }\n'
    path = tmp_path / "r.toml"
    path.write_text(_recipe_text(*toy_data, stages))
    line = _one_line_error(_cli("recipe", "run", path, "--out", tmp_path / "run"))
    assert "latent_dimm" in line and str(path) in line
    assert not (tmp_path / "run").exists()


def test_data_of_another_detector_is_refused(
    tmp_path: Path, toy_data: tuple[Path, Path, Path]
) -> None:
    _, train, val = toy_data
    path = tmp_path / "r.toml"
    stages = '[[stages]]\nkind = "train"\nfamily = "library"\n'
    path.write_text(_recipe_text(Path("atlas-pblar"), train, val, stages))
    line = _one_line_error(_cli("recipe", "run", path, "--out", tmp_path / "run"))
    assert str(train) in line and "atlas-pblar" in line
    assert not (tmp_path / "run").exists()


def test_unknown_recipe_and_stage(tmp_path: Path) -> None:
    line = _one_line_error(_cli("recipe", "run", "no-such-recipe"))
    assert "no-such-recipe" in line
    line = _one_line_error(
        _cli("recipe", "run", "atlas-pblar-gamma", "--until", "nope", "--out", tmp_path / "r")
    )
    assert "'nope'" in line and "teacher" in line


def test_failing_stage_keeps_earlier_outputs_and_says_how_to_rerun(
    tmp_path: Path, toy_data: tuple[Path, Path, Path]
) -> None:
    stages = TINY_STAGES.split("[[stages]]\nname = \"validate\"")[0].replace("bins = 2", "bins = 0")
    path = tmp_path / "r.toml"
    path.write_text(_recipe_text(*toy_data, stages))
    run = tmp_path / "run"
    proc = _cli("recipe", "run", path, "--out", run)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "stage 'cal' failed" in last
    _, train, val = toy_data  # the rerun command names every data file, as given or not
    assert f"recipe run {path} --data train={train} --data val={val} --out {run}" in last
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["model"]["status"] == "done"
    assert manifest["stages"]["cal"]["status"] == "failed"
    assert (run / "model" / "checkpoint.pt").is_file() and not (run / "cal.pt").exists()


def test_list_and_show() -> None:
    proc = _cli("recipe", "list")
    assert proc.returncode == 0
    rows = {line.split("│")[1].strip(): line for line in proc.stdout.splitlines()
            if line.count("│") > 2 and line.split("│")[1].strip()}
    assert set(builtin_recipes()) <= set(rows)
    for name in builtin_recipes():  # a recipe not run yet has no measured figures
        measured = rows[name].split("│")[4].strip()
        assert (measured == "-") == (not load_recipe(name).measured), name
        proc = _cli("recipe", "show", name)
        assert proc.returncode == 0 and proc.stdout.startswith("# ")
        assert f'name = "{name}"' in proc.stdout and "[[stages]]" in proc.stdout
    proc = _cli("recipe", "show", "atlas-pblar-gamma")
    assert proc.returncode == 0 and 'kind = "distill"' in proc.stdout


def test_parse_keeps_settings_typed(tmp_path: Path) -> None:
    text = (
        'name = "x"\ndetector = "atlas-pblar"\n[data.simulate]\nparticle = "gamma"\n'
        'energy = "10GeV"\ntrain = 10\nval = 5\nseed = 7\n'
        '[[stages]]\nname = "m"\nkind = "train"\nfamily = "vae"\nconfig = { latent_dim = 4 }\n'
        '[[stages]]\nkind = "calibrate"\nfrom = "m"\nkeep_layers = true\nbins = 3\n'
        'mode = "axis"\n'
    )
    recipe = parse_recipe(text, tmp_path / "x.toml")
    assert recipe.data.simulate is not None and recipe.data.simulate.split_seed("val") == 8
    assert recipe.stage("calibrate").settings == {
        "from": "m", "keep_layers": True, "bins": 3, "mode": "axis"
    }
    from caloforge.recipes.stages import plan_stage

    data = {"train": tmp_path / "t.h5", "val": tmp_path / "v.h5"}
    argv = plan_stage(recipe, recipe.stage("calibrate"), tmp_path / "run", data).commands[0]
    assert argv[:2] == ("calibrate", "--checkpoint")
    assert "--keep-layers" in argv and argv[argv.index("--mode") + 1] == "axis"
    assert recipe.stage("m").config == {"latent_dim": 4}
    assert recipe.with_files({"train": tmp_path / "t.h5"}).data.simulate.showers["train"] == 0


SEEDS_RECIPE = """name = "seeds"
detector = "atlas-pblar"

[data.simulate]
particle = "gamma"
energy = "10GeV"
train = 10
val = 5
seed = 101

[[stages]]
name = "teacher"
kind = "train"
family = "diffusion"
config = { "train.steps" = 4, "train.seed" = 3 }

[[stages]]
name = "student"
kind = "distill"
from = "teacher"
pool = 64

[[stages]]
name = "cal"
kind = "calibrate"
from = "student"
seed = 5

[[stages]]
name = "ref"
kind = "refine"
from = "cal"

[[stages]]
name = "validate"
kind = "evaluate"
models = ["student", "ref"]
seed = 9
classifier_seeds = 3
"""

# The keys of SEEDS_RECIPE's stages as computed before run seeds existed: a change here means
# that every run folder made so far would run again.
KEYS_WITHOUT_SEED = {
    "data-train": "dacc4d9e97b7bd913b22b71de28fdc9370a72346f0feae95f515b69789a87b6b",
    "data-val": "4f35d3bd0f52eea8cfc90b7d77cfcb3a1fa759d23967ebe71ef63f10ba92c97a",
    "teacher": "c6cfb9ad7d7eb2cd2a13e2b60cabc01d7d819e0cf5d9dca8f87fb0668553ce2c",
    "student": "42875c5c5e28764cc35c710021859dd591b9811278d12d29ad2114e76ff038e6",
    "cal": "a35dcf5f15dd4e19d87d88ed342551d6fbf513b09227767dd6a7914dc35e4667",
    "ref": "dec96c151de37d31e60a686b89d9baf7c0994b47e54199344bbb4788eb8d91f3",
    "validate": "35926536cf0deeae4fcac10966c6f4632bdefe8d144509fb88850f241b202486",
}


def _planned(recipe: Recipe, run: Path) -> dict[str, tuple[StagePlan, str]]:
    """Every stage's plan and key, with stand-in files of fixed content for data and models
    (``checkpoint_progress`` patched by the caller: nothing is trained)."""
    for rel in ("data/train.h5", "data/val.h5", "teacher/checkpoint.pt", "student/checkpoint.pt",
                "cal.pt", "ref.pt"):
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_bytes(rel.encode())
    sims = simulate_commands(recipe, run)
    data = {s: p.outputs[0] for s, p in sims.items()}
    plans = {f"data-{s}": p for s, p in sims.items()}
    plans |= {s.name: plan_stage(recipe, s, run, data) for s in recipe.stages}
    return {name: (plan, stage_key(plan, run, {})) for name, plan in plans.items()}


def _value(argv: tuple[str, ...], option: str) -> str | None:
    return argv[argv.index(option) + 1] if option in argv else None


@pytest.fixture
def no_teacher_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Distillation plans read the teacher's step from its checkpoint: a fixed one here."""
    monkeypatch.setattr(stages_module, "checkpoint_progress", lambda path: (4, 60.0))


@pytest.mark.usefixtures("no_teacher_run")
def test_no_run_seed_keeps_every_stage_key(tmp_path: Path) -> None:
    recipe = parse_recipe(SEEDS_RECIPE, tmp_path / "seeds.toml")
    assert recipe.with_seed(None) is recipe
    keys = {name: key for name, (_, key) in _planned(recipe, tmp_path / "run").items()}
    assert keys == KEYS_WITHOUT_SEED


@pytest.mark.usefixtures("no_teacher_run")
def test_run_seed_replaces_the_model_seeds_only(tmp_path: Path) -> None:
    recipe = parse_recipe(SEEDS_RECIPE, tmp_path / "seeds.toml")
    plain = _planned(recipe, tmp_path / "run")
    seeded = _planned(recipe.with_seed(7), tmp_path / "run")
    train = seeded["teacher"][0].commands[0]
    assert _value(train, "--seed") == "7" and "train.seed=3" not in train
    assert "distill_seed=7" in seeded["student"][0].commands[0]
    assert "--seed" not in seeded["student"][0].commands[0]  # resumes the teacher's seed
    assert _value(seeded["cal"][0].commands[0], "--seed") == "7"  # was 5
    assert _value(seeded["ref"][0].commands[0], "--seed") == "7"  # was the verb's default
    for name in ("teacher", "student", "cal", "ref"):
        assert seeded[name][1] != plain[name][1], name
    # the data and the judge are the same: same commands (generation seed 9, 3 classifiers)
    for name in ("data-train", "data-val", "validate"):
        assert seeded[name][0].commands == plain[name][0].commands, name
    assert _value(seeded["data-val"][0].commands[0], "--seed") == "102"
    assert _value(seeded["validate"][0].commands[-1], "--classifier-seeds") == "3"
    assert all(_value(c, "--seed") == "9" for c in seeded["validate"][0].commands[:-1])
    assert recipe.with_seed(7).stage("teacher").config == {"train.steps": 4}


@pytest.mark.parametrize("seed", [-1, True, 1.5])
def test_bad_run_seed_is_refused_before_anything_runs(tmp_path: Path, seed: object) -> None:
    recipe = parse_recipe(SEEDS_RECIPE, tmp_path / "seeds.toml")
    with pytest.raises(RecipeError, match=f"seed {seed!r}: expected a non-negative integer"):
        run_recipe(recipe, tmp_path / "run", seed=seed)  # type: ignore[arg-type]
    assert not (tmp_path / "run").exists()


def test_bad_run_seed_on_the_command_line(tmp_path: Path) -> None:
    run = tmp_path / "run"
    line = _one_line_error(_cli("recipe", "run", "atlas-pblar-gamma", "--seed", "-1", "--out", run))
    assert line == "error: --seed -1: must be at least 0"
    proc = _cli("recipe", "run", "atlas-pblar-gamma", "--seed", "two", "--out", run)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    usage, error = proc.stderr.strip().splitlines()  # a parser error: click's usage line first
    assert usage.startswith("Usage: caloforge recipe run")
    assert error.startswith("error: ") and "'--seed'" in error and "integer" in error
    assert not run.exists()


def test_run_seed_in_manifest_card_and_keys(
    tmp_path: Path, toy_data: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runner with the verbs stubbed (nothing trains): a run seed is recorded, and a
    folder made with another seed is made again, like any change of settings."""
    ran: list[tuple[str, ...]] = []

    def fake(argv: tuple[str, ...], name: str, rerun: str) -> None:
        ran.append(argv)
        out = Path(argv[argv.index("--out") + 1])
        out.mkdir(parents=True, exist_ok=True)
        (out / "checkpoint.pt").write_bytes(b"stand-in")

    monkeypatch.setattr(runner_module, "_run_command", fake)
    path = tmp_path / "r.toml"
    path.write_text(_recipe_text(*toy_data, '[[stages]]\nname = "model"\nkind = "train"\n'
                                 'family = "wgan-gp"\nseed = 1\n'))
    recipe, run = load_recipe(path), tmp_path / "run"
    states: list[str] = []

    def go(seed: int | None) -> dict[str, Any]:
        return run_recipe(recipe, run, seed=seed, on_event=lambda e: states.append(e.state))

    manifest = go(3)
    assert manifest["seed"] == 3 and json.loads((run / "manifest.json").read_text())["seed"] == 3
    assert _value(ran[-1], "--seed") == "3"
    card = (run / "MODEL_CARD.md").read_text()
    assert f"caloforge recipe run {path} --out RUN --seed 3\n" in card
    assert "Run seed 3" in card
    go(3)
    assert states == ["start", "done", "skip"]
    go(4)
    assert states[3:] == ["start", "done"] and ran[-1][-1] == "--overwrite"
    assert _value(ran[-1], "--seed") == "4"
    manifest = go(None)
    assert states[5:] == ["start", "done"] and _value(ran[-1], "--seed") == "1"
    assert manifest["seed"] is None
    card = (run / "MODEL_CARD.md").read_text()
    assert f"caloforge recipe run {path} --out RUN\n" in card and "Run seed" not in card


def test_test_stage_waits_for_test_data_and_names_the_validation_file(
    tmp_path: Path, toy_data: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An evaluate stage on the test split is passed over while no test file is given, and
    with one, evaluate also gets the validation file (it refuses a test file sharing events
    with it)."""
    ran: list[tuple[str, ...]] = []

    def fake(argv: tuple[str, ...], name: str, rerun: str) -> None:
        ran.append(argv)
        if argv[0] == "train":
            out = Path(argv[argv.index("--out") + 1])
            out.mkdir(parents=True, exist_ok=True)
            (out / "checkpoint.pt").write_bytes(b"stand-in")
        elif argv[0] == "generate":
            Path(argv[argv.index("-o") + 1]).parent.mkdir(parents=True, exist_ok=True)
            Path(argv[argv.index("-o") + 1]).write_bytes(b"stand-in")
        elif argv[0] == "evaluate":
            out = Path(argv[argv.index("--out") + 1])
            out.mkdir(parents=True, exist_ok=True)
            (out / "metrics.json").write_text("{}")

    monkeypatch.setattr(runner_module, "_run_command", fake)
    det, train, val = toy_data
    stages = ('[[stages]]\nname = "model"\nkind = "train"\nfamily = "wgan-gp"\n\n'
              '[[stages]]\nname = "test"\nkind = "evaluate"\nmodels = ["model"]\n'
              'reference = "test"\n')
    path = tmp_path / "r.toml"
    path.write_text(_recipe_text(det, train, val, stages))
    events: list[StageEvent] = []
    run_recipe(load_recipe(path), tmp_path / "run", on_event=events.append)
    assert [(e.name, e.state) for e in events] == [
        ("model", "start"), ("model", "done"), ("test", "no-data")
    ]
    assert "--data test=FILE" in events[-1].note and len(ran) == 1
    events.clear()
    recipe = load_recipe(path).with_files({"test": val})  # any file stands in for the test
    run_recipe(recipe, tmp_path / "run", on_event=events.append)
    assert [(e.name, e.state) for e in events][-2:] == [("test", "start"), ("test", "done")]
    evaluate = ran[-1]
    assert evaluate[0] == "evaluate" and _value(evaluate, "--val") == str(val)
    card = (tmp_path / "run" / "MODEL_CARD.md").read_text()  # a file given, not the recipe's
    assert f"caloforge recipe run {path} --data test={val} --out RUN\n" in card


def test_until_simulates_only_the_splits_its_stages_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_teacher_run: None
) -> None:
    """With ``--until`` before the test stage the test split is not simulated (the runner
    with the verbs stubbed); run on to the test stage, it is."""
    ran: list[tuple[str, ...]] = []

    def fake(argv: tuple[str, ...], name: str, rerun: str) -> None:
        ran.append(argv)
        out = Path(argv[argv.index("-o" if "-o" in argv else "--out") + 1])
        if argv[0] in ("simulate", "generate"):
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(b"stand-in")
        elif argv[0] == "evaluate":
            out.mkdir(parents=True, exist_ok=True)
            (out / "metrics.json").write_text("{}")
        else:
            out.mkdir(parents=True, exist_ok=True)
            (out / "checkpoint.pt").write_bytes(b"stand-in")

    monkeypatch.setattr(runner_module, "_run_command", fake)
    text = SEEDS_RECIPE.replace("val = 5\n", "val = 5\ntest = 5\n")
    text = text.split('[[stages]]\nname = "student"')[0]  # the teacher only
    text += ('[[stages]]\nname = "test"\nkind = "evaluate"\nmodels = ["teacher"]\n'
             'reference = "test"\n')
    path = tmp_path / "r.toml"
    path.write_text(text)
    recipe, run = load_recipe(path), tmp_path / "run"
    simulated = lambda: [_value(a, "-o") for a in ran if a[0] == "simulate"]  # noqa: E731
    run_recipe(recipe, run, until="teacher")
    assert simulated() == [str(run / "data" / "train.h5"), str(run / "data" / "val.h5")]
    assert not (run / "data" / "test.h5").exists()
    card = (run / "MODEL_CARD.md").read_text()  # the seeds of the splits it simulated
    assert "energy 10GeV, seeds 101 (train), 102 (val)\n" in card
    ran.clear()
    run_recipe(recipe, run)
    assert simulated() == [str(run / "data" / "test.h5")]  # train, val and teacher: up to date
    assert ran[-1][0] == "evaluate"
    card = (run / "MODEL_CARD.md").read_text()
    assert "seeds 101 (train), 102 (val), 103 (test)\n" in card


@pytest.mark.slow
def test_tiny_recipe_runs_skips_and_redoes(
    tmp_path: Path, toy_data: tuple[Path, Path, Path]
) -> None:
    path = tmp_path / "toy.toml"
    path.write_text(_recipe_text(*toy_data, TINY_STAGES))
    run = tmp_path / "run"
    proc = _cli("recipe", "run", path, "--out", run)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((run / "manifest.json").read_text())
    stages = ("model", "cal", "validate", "onnx", "speed")
    assert [manifest["stages"][s]["status"] for s in stages] == ["done"] * 5
    assert manifest["environment"]["versions"]["torch"]
    metrics = json.loads((run / "validate" / "metrics.json").read_text())
    assert {"validate-model", "validate-cal"} <= set(metrics["comparisons"])
    assert (run / "onnx.onnx").is_file() and (run / "speed.json").is_file()
    card = (run / "MODEL_CARD.md").read_text()
    assert "## Fidelity" in card and "## Speed" in card and "caloforge train" in card
    stamp = (run / "cal.pt").stat().st_mtime_ns

    again = _cli("recipe", "run", path, "--out", run)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("up to date, skipped") == 5
    assert (run / "cal.pt").stat().st_mtime_ns == stamp

    redo = _cli("recipe", "run", path, "--out", run, "--from", "cal", "--until", "cal")
    assert redo.returncode == 0, redo.stderr
    assert "[2/5] cal (calibrate): running" in redo.stdout
    assert (run / "cal.pt").stat().st_mtime_ns != stamp


TINY_DIFFUSION = (
    'hidden = 32, depth = 1, time_features = 4, student_hidden = 32, student_depth = 1, '
    'layer_transforms = 1, layer_hidden = 16, sample_steps = 3, coding = "hit-energy", '
    'condition_bank = 50, "train.batch_size" = 64, "train.steps" = 4, "train.log_every" = 2, '
    '"train.val_every" = 4, "train.val_showers" = 64, "train.finalize_showers" = 200'
)


@pytest.mark.slow
def test_distill_continues_the_teacher_in_its_own_folder(
    tmp_path: Path, toy_data: tuple[Path, Path, Path]
) -> None:
    stages = f"""
[[stages]]
name = "teacher"
kind = "train"
family = "diffusion"
threads = 1
config = {{ {TINY_DIFFUSION} }}

[[stages]]
name = "student"
kind = "distill"
from = "teacher"
steps = 3
pool = 32
teacher_steps = 2
threads = 1
"""
    path = tmp_path / "r.toml"
    path.write_text(_recipe_text(*toy_data, stages))
    run = tmp_path / "run"
    proc = _cli("recipe", "run", path, "--out", run)
    assert proc.returncode == 0, proc.stderr
    from caloforge.train import load_checkpoint

    teacher = load_checkpoint(run / "teacher" / "checkpoint.pt")
    student = load_checkpoint(run / "student" / "checkpoint.pt")
    assert teacher["step"] == 4 and student["step"] == 7
    assert student["config"]["model"]["distill_start"] == 4
    assert student["config"]["model"]["sampler"] == "student"
    assert teacher["config"]["model"]["distill_start"] == 0  # the teacher's run is untouched


def test_card_speed_rows_carry_geant4_time_of_the_same_run(tmp_path: Path) -> None:
    """The card's speed table puts each row's detector's Geant4 time beside it."""
    from caloforge.recipes.card import speed_rows

    report = {
        "rows": [{"model": "/x/student.pt", "detector": "atlas-pblar", "batch": 1024,
                  "precision": "bf16", "ms_per_shower": 0.0727}],
        "geant4": {"atlas-pblar": {"ms_mean": 269.4, "ms_median": 65.5}},
    }
    (tmp_path / "speed.json").write_text(json.dumps(report))
    rows, _ = speed_rows(tmp_path, {"speed": {"kind": "bench", "status": "done"}})
    assert rows == ["| student | 1024 | bf16 | 0.0727 | 269.4 |"]


def test_card_speed_rows_put_float32_beside_bfloat16(tmp_path: Path) -> None:
    """A report timed at fp32,bf16 (rows by precision, then batch): the card shows both,
    each batch size's float32 row first; rows name the model stage (a training stage's
    ``NAME/checkpoint.pt`` is ``NAME``)."""
    from caloforge.recipes.card import speed_rows

    rows = [
        {"model": "/x/student/checkpoint.pt", "detector": "d", "batch": b, "precision": p,
         "ms_per_shower": ms}
        for p, b, ms in [
            ("fp32", 1, 2.0), ("fp32", 128, 0.5), ("bf16", 1, 1.5), ("bf16", 128, 0.25)
        ]
    ]
    (tmp_path / "speed.json").write_text(json.dumps({"rows": rows, "geant4": {}}))
    card_rows, _ = speed_rows(tmp_path, {"speed": {"kind": "bench", "status": "done"}})
    assert card_rows == [
        "| student | 1 | fp32 | 2 | - |",
        "| student | 1 | bf16 | 1.5 | - |",
        "| student | 128 | fp32 | 0.5 | - |",
        "| student | 128 | bf16 | 0.25 | - |",
    ]


def test_run_results_read_bench_and_evaluate_reports(tmp_path: Path) -> None:
    """The bench reports and the evaluate stages (with their split, from the recipe the
    manifest records) of a run folder; unusable reports are refused naming the file."""
    from caloforge.recipes import bench_results, evaluate_results, run_recipe_of

    text = BENCH_HEAD + (
        '[[stages]]\nname = "validate"\nkind = "evaluate"\nmodels = ["m"]\n'
        '[[stages]]\nname = "test"\nkind = "evaluate"\nmodels = ["m"]\nreference = "test"\n'
        '[[stages]]\nname = "again"\nkind = "evaluate"\nmodels = ["m"]\n'
    )
    done = {"status": "done"}
    stages = {
        "m": {"kind": "train", **done},
        "speed": {"kind": "bench", **done},
        "test": {"kind": "evaluate", **done},
        "validate": {"kind": "evaluate", **done},
        "again": {"kind": "evaluate", "status": "failed"},
    }
    manifest = {"stages": stages, "recipe": {"name": "x", "text": text}}
    recipe = run_recipe_of(tmp_path, manifest)
    for name in ("test", "validate", "again"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({"comparisons": {}}))
    row = {"model": str(tmp_path / "m" / "checkpoint.pt"), "batch": 1, "ms_per_shower": 2.0}
    (tmp_path / "speed.json").write_text(json.dumps({"rows": [row], "machine": {"cpu": "c"}}))
    results = evaluate_results(tmp_path, stages, recipe)
    assert [(r.stage, r.split) for r in results] == [("test", "test"), ("validate", "val")]
    assert results[0].path == tmp_path / "test" / "metrics.json"
    assert results[0].generated(tmp_path, "m") == tmp_path / "gen" / "test-m.h5"
    assert results[0].precision(tmp_path, "m") is None  # no generated file
    [bench] = bench_results(tmp_path, stages)
    assert (bench.stage, bench.rows, bench.machine) == ("speed", (row,), {"cpu": "c"})
    (tmp_path / "speed.json").write_text('{"rows": [')
    with pytest.raises(RecipeError, match=r"speed\.json: unreadable"):
        bench_results(tmp_path, stages)
    (tmp_path / "speed.json").write_text(json.dumps({"rows": [{"batch": 1}]}))
    with pytest.raises(RecipeError, match=r"speed\.json: rows\[0\]: no ms_per_shower"):
        bench_results(tmp_path, stages)
    (tmp_path / "test" / "metrics.json").write_text("[]")
    with pytest.raises(RecipeError, match=r"metrics\.json: expected a JSON object"):
        evaluate_results(tmp_path, stages, recipe)
    with pytest.raises(RecipeError, match=r"manifest\.json: no recipe text"):
        run_recipe_of(tmp_path, {"stages": stages})


def test_a_stopped_recipe_stops_its_training_at_a_checkpoint(
    tmp_path: Path, toy_data: tuple[Path, Path, Path]
) -> None:
    # SIGTERM to the runner only (a batch system stopping the job's main process): the
    # runner hands it to the training stage, which writes a checkpoint of its current step
    # although its periodic ones are far away, and the run records the stage as interrupted
    config = (
        TINY_WGAN.replace('"train.steps" = 6', '"train.steps" = 1000000')
        .replace('"train.log_every" = 3', '"train.log_every" = 1')
        .replace('"train.val_every" = 6', '"train.val_every" = 0')
    ) + ', "train.checkpoint_every" = 1000000'
    stages = TINY_STAGES.split('\n[[stages]]\nname = "cal"')[0].replace(TINY_WGAN, config)
    path = tmp_path / "toy.toml"
    path.write_text(_recipe_text(*toy_data, stages))
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [str(CALOFORGE), "recipe", "run", str(path), "--out", str(run), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    metrics = run / "model" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.is_file() and metrics.stat().st_size > 0):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    logged = [json.loads(row)["step"] for row in metrics.read_text().splitlines()]
    step = int(load_checkpoint(run / "model" / "checkpoint.pt")["step"])
    assert step >= max(logged) >= 1
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["model"]["status"] == "interrupted"
    assert not list(run.rglob("*.lock")) and not list(run.rglob("*.tmp"))


def test_set_changes_stage_keys_and_configuration(tmp_path: Path, no_teacher_run: None) -> None:
    """``--set STAGE.KEY=VALUE``: a stage key, else a configuration key of a train or distill
    stage, read as a TOML value and checked like the file's own settings."""
    path = tmp_path / "seeds.toml"
    path.write_text(SEEDS_RECIPE)
    items = ("teacher.train.steps=9", "teacher.lr_note=fast", "student.pool=32",
             "student.train.max_time_min=1.5", "validate.classifier_seeds=1", "cal.seed=6")
    recipe = load_recipe(path, items)
    assert recipe.overrides == items
    assert recipe.stage("teacher").config == {"train.steps": 9, "train.seed": 3,
                                              "lr_note": "fast"}
    assert recipe.stage("student").settings["pool"] == 32
    assert recipe.stage("student").config == {"train.max_time_min": 1.5}
    assert recipe.stage("validate").settings["classifier_seeds"] == 1
    assert recipe.stage("cal").settings["seed"] == 6
    assert load_recipe(path).stage("teacher").config == {"train.steps": 4, "train.seed": 3}
    plans = _planned(recipe, tmp_path / "run")
    assert "train.steps=9" in plans["teacher"][0].commands[0]
    assert "distill_pool=32" in plans["student"][0].commands[0]
    plain = _planned(load_recipe(path), tmp_path / "run")
    assert plans["teacher"][1] != plain["teacher"][1]  # another setting: another run


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("teacher.train.steps", "--set 'teacher.train.steps': expected STAGE.KEY=VALUE"),
        ("teacher=3", "expected STAGE.KEY=VALUE"),
        ("nothing.x=1", "has no stage 'nothing' (stages: teacher, student, cal, ref, validate)"),
        ("validate.foo=1", "'foo' is not a key of evaluate stage 'validate' (keys: "),
        ("teacher.kind=refine", "kind of a stage cannot be set"),
        ("cal.seed=-2", "seed = -2: must not be negative"),
        ("validate.classifier_seeds=two", "classifier_seeds = 'two': expected int"),
    ],
)
def test_bad_set_names_the_item(tmp_path: Path, item: str, expected: str) -> None:
    path = tmp_path / "seeds.toml"
    path.write_text(SEEDS_RECIPE)
    with pytest.raises(RecipeError, match=re.escape(expected)):
        load_recipe(path, [item])


def test_set_on_the_command_line_is_recorded_and_refused_when_bad(
    tmp_path: Path, toy_data: tuple[Path, Path, Path]
) -> None:
    """Through the console script: a bad item is one line and exit 2 before anything runs; a
    good one reaches the stage's command, the manifest and the model card's command."""
    path = tmp_path / "r.toml"
    stages = TINY_STAGES.split("[[stages]]\nname = \"validate\"")[0]
    path.write_text(_recipe_text(*toy_data, stages))
    run = tmp_path / "run"
    line = _one_line_error(_cli("recipe", "run", path, "--out", run, "--set", "model.steps"))
    assert line == "error: --set 'model.steps': expected STAGE.KEY=VALUE"
    line = _one_line_error(_cli("recipe", "run", path, "--out", run, "--set", "model.bogus=1"))
    assert "stage 'model'" in line and "bogus" in line
    assert not run.exists()
    proc = _cli("recipe", "run", path, "--out", run, "-q", "--set", "model.train.steps=3",
                "--set", "cal.bins=3")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["set"] == ["model.train.steps=3", "cal.bins=3"]
    (train_cmd,) = manifest["stages"]["model"]["commands"]
    assert "train.steps=3" in train_cmd and "train.steps=6" not in train_cmd
    calibrate = manifest["stages"]["cal"]["commands"][0]
    assert calibrate[calibrate.index("--bins") + 1] == "3"
    card = (run / "MODEL_CARD.md").read_text()
    assert "--out RUN --set model.train.steps=3 --set cal.bins=3\n" in card
    assert "`model.train.steps=3`, `cal.bins=3`" in card
