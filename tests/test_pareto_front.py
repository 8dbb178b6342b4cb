"""``benchmarks/pareto_front.py`` on small run folders written in the layout of
``caloforge recipe run`` (manifest, evaluate reports, bench report)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.benchmark_scripts import run_benchmark

from caloforge.bench import machine_line

MACHINE = {"cpu": "Toy CPU", "cpus": 2, "isa": ["avx2", "avx512f"], "threads": 2}


def _classifier(auc: float, seeds: list[int]) -> dict[str, Any]:
    return {
        "auc": auc,
        "auc_err": 0.004,
        "headline": "hgb",
        "n_train_per_class": 2000,
        "n_test_per_class": 1000,
        "seeds": seeds,
    }


def _run(
    folder: Path,
    recipe: str,
    evaluate: dict[str, tuple[str, dict[str, tuple[float, float]]]],
    bench: list[dict[str, Any]],
) -> Path:
    """A finished run: ``evaluate`` maps each evaluate stage to (split, model -> (voxel AUC,
    high-level AUC)); ``bench`` holds the speed stage's rows. The manifest records a recipe
    with a train stage per model."""
    folder.mkdir()
    stages: dict[str, Any] = {}
    toml = [f'name = "{recipe}"', 'detector = "atlas-pblar"', "[data]", 'train = "train.h5"',
            'val = "val.h5"']  # fmt: skip
    for model in dict.fromkeys(m for _, models in evaluate.values() for m in models) or ["m"]:
        toml += ["[[stages]]", f'name = "{model}"', 'kind = "train"', 'family = "vae"']
    for stage, (split, models) in evaluate.items():
        toml += ["[[stages]]", f'name = "{stage}"', 'kind = "evaluate"', f'reference = "{split}"',
                 f"models = {json.dumps(list(models))}"]  # fmt: skip
        stages[stage] = {"kind": "evaluate", "status": "done", "outputs": []}
        reference = f"{split}.h5"
        comparisons: dict[str, Any] = {
            "floor (reference vs reference)": {
                "classifier": {"voxel": _classifier(0.5, [0, 1, 2]), "high_level": None}
            }
        }
        for model, (vox, hl) in models.items():
            comparisons[f"{stage}-{model}"] = {
                "classifier": {
                    "voxel": _classifier(vox, [0, 1, 2]),
                    "high_level": _classifier(hl, [0, 1, 2]),
                }
            }
        (folder / stage).mkdir()
        (folder / stage / "metrics.json").write_text(
            json.dumps(
                {
                    "reference": {"path": f"data/{reference}", "n": 5000},
                    "candidates": {
                        f"{stage}-{m}": {"path": str(folder / "gen" / f"{stage}-{m}.h5")}
                        for m in models
                    },
                    "comparisons": comparisons,
                }
            )
        )
    if bench:
        stages["speed"] = {"kind": "bench", "status": "done", "outputs": []}
        report = {"rows": bench, "geant4": {}, "machine": MACHINE}
        (folder / "speed.json").write_text(json.dumps(report))
    manifest = {"stages": stages, "recipe": {"name": recipe, "text": "\n".join(toml)}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _generated(run: Path, stage: str, model: str, precision: str) -> None:
    """The showers evaluate stage ``stage`` judged for ``model``, generated in ``precision``."""
    from caloforge.data import write_showers
    from caloforge.testing import toy_detector, toy_showers

    det = toy_detector(run.parent)
    showers, cond = toy_showers(det, 4)
    (run / "gen").mkdir(exist_ok=True)
    generator = {"kind": "model", "model": "vae", "precision": precision}
    write_showers(run / "gen" / f"{stage}-{model}.h5", showers, cond, det,
                  attrs={"generator": json.dumps(generator)})  # fmt: skip


def _speed(model: Path, ms: float, precision: str = "fp32", batch: int = 1024) -> dict[str, Any]:
    backend = "torch" if precision == "fp32" else f"torch-{precision}"
    return {
        "model": str(model),
        "backend": backend,
        "precision": precision,
        "batch": batch,
        "device": "cpu",
        "ms_per_shower": ms,
    }


def _pareto(*args: str | Path, pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_benchmark("pareto_front.py", *args, pythonpath=pythonpath)


def _table(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """(recipe, model) -> column -> cell of the Markdown table in ``text``."""
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [
        dict(zip(header, (c.strip() for c in ln.strip("|").split("|")), strict=True))
        for ln in lines[2:]
    ]
    return {(r["recipe"], r["model"]): r for r in rows}


def test_front_table_and_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    alpha = tmp_path / "alpha"
    beta = tmp_path / "beta-seed2"
    _run(
        alpha,
        "alpha",
        {
            "validate": ("val", {"fast": (0.9, 0.9)}),
            "test": ("test", {"fast": (0.70, 0.65), "slow": (0.58, 0.62)}),
        },
        [
            _speed(alpha / "fast.pt", 0.2),
            _speed(alpha / "fast.pt", 0.1, "bf16"),
            _speed(alpha / "fast.pt", 0.01, batch=128),  # another batch: not used
            _speed(alpha / "slow.pt", 5.0),
        ],
    )
    _run(
        beta,
        "beta",
        {"test": ("test", {"model": (0.64, 0.80)})},
        [
            _speed(beta / "model" / "checkpoint.pt", 1.0),
            _speed(beta / "model" / "checkpoint.pt", 0.15, "bf16"),
            {**_speed(beta / "onnx.onnx", 0.001), "backend": "onnxruntime"},  # not PyTorch
        ],
    )
    # the judged showers: alpha's fast model in float32, beta's in bfloat16; alpha's slow
    # one records no precision (a file of an older caloforge: the fastest speed is used)
    _generated(alpha, "test", "fast", "fp32")
    _generated(beta, "test", "model", "bf16")
    gamma = _run(tmp_path / "gamma", "gamma", {"validate": ("val", {"m": (0.55, 0.55)})}, [])
    empty = _run(tmp_path / "delta", "delta", {}, [])
    out = tmp_path / "out"

    res = _pareto(alpha, beta, gamma, empty, "--out", out)

    assert res.returncode == 0, res.stderr
    assert res.stderr.strip() == f"warning: {empty}: no finished evaluate stage; skipped"
    assert (out / "pareto.md").read_text() == res.stdout
    assert (out / "pareto.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in out.iterdir()) == ["pareto.md", "pareto.png"]
    table = _table(res.stdout)
    assert len([ln for ln in res.stdout.splitlines() if ln.startswith("| ")]) == 1 + 4
    assert list(next(iter(table.values()))) == [
        "recipe", "model", "judged on", "AUC voxels", "AUC high-level",
        "showers per class (train / test)", "classifier seeds", "ms/shower fp32",
        "ms/shower bf16", "measured on", "Pareto front",
    ]  # fmt: skip
    assert set(table) == {
        ("alpha", "fast"), ("alpha", "slow"), ("beta (beta-seed2)", "model"), ("gamma", "m")
    }  # fmt: skip
    fast, slow = table["alpha", "fast"], table["alpha", "slow"]
    model, val = table["beta (beta-seed2)", "model"], table["gamma", "m"]
    # each speed at the precision of the judged showers: alpha's fast model at fp32 (0.2,
    # not its faster bf16 0.1), beta's at bf16 (0.15): beta's is then the fastest and on
    # the front (paired with alpha's bf16 speed it would not be), alpha's fast one has the
    # lower max AUC, and alpha's slow one the lowest (its speed: the fastest measured, as
    # its file records no precision); the ONNX row and the batch-128 row do not count
    assert fast["Pareto front"] == "yes (fp32)"
    assert model["Pareto front"] == "yes (bf16)"
    assert slow["Pareto front"] == "yes (fp32, fastest)"
    assert (fast["ms/shower fp32"], fast["ms/shower bf16"]) == ("0.2", "0.1")
    assert (model["ms/shower fp32"], model["ms/shower bf16"]) == ("1", "0.15")
    assert fast["judged on"] == "test: test.h5"
    assert fast["AUC voxels"] == "0.700 ± 0.004 (hgb)"
    assert model["AUC high-level"] == "0.800 ± 0.004 (hgb)"
    assert fast["showers per class (train / test)"] == "2,000 / 1,000"
    assert fast["classifier seeds"] == "0-2"
    assert fast["measured on"] == model["measured on"] == "[1]"
    assert f"\n[1] {machine_line(MACHINE)}\n" in res.stdout
    assert "different machines" not in res.stdout
    # a run without a test stage falls back to its validation figures, labelled, not placed
    assert val["judged on"] == "validation: val.h5"
    assert (val["Pareto front"], val["measured on"]) == ("-", "-")
    assert "judged on the test file" in res.stdout
    assert "max(voxel AUC, high-level AUC)" in res.stdout


@pytest.mark.parametrize("case", ["missing", "file", "no-manifest", "bad-manifest"])
def test_not_a_run_folder_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    path = tmp_path / "run"
    if case == "file":
        path.write_text("x")
    elif case != "missing":
        path.mkdir()
    if case == "bad-manifest":
        (path / "manifest.json").write_text("{not json")
    res = _pareto(path, "--out", tmp_path / "out")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.startswith(f"error: {path}")
    assert res.stdout == ""
    assert not (tmp_path / "out").exists()


def _no_matplotlib(folder: Path) -> str:
    """A PYTHONPATH entry under which ``import matplotlib`` fails."""
    (folder / "matplotlib").mkdir()
    (folder / "matplotlib" / "__init__.py").write_text("raise ImportError('blocked')\n")
    return str(folder)


@pytest.mark.parametrize(
    "case", ["truncated-bench", "bench-row", "no-comparisons", "bad-recipe", "no-matplotlib"]
)
def test_unusable_run_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    """Unreadable or incomplete reports of a run folder, or matplotlib missing: one line
    naming the file (or the missing package), exit code 2, nothing written."""
    run = _run(
        tmp_path / "run", "r", {"test": ("test", {"m": (0.6, 0.6)})}, [_speed(Path("m.pt"), 1.0)]
    )
    named = run
    if case == "truncated-bench":
        named = run / "speed.json"
        named.write_text(named.read_text()[:20])
    elif case == "bench-row":
        named = run / "speed.json"
        named.write_text(json.dumps({"rows": [{"model": "m.pt", "batch": 1024}]}))
    elif case == "no-comparisons":
        named = run / "test" / "metrics.json"
        named.write_text(json.dumps({"reference": {"path": "test.h5"}}))
    elif case == "bad-recipe":
        named = run / "manifest.json"
        manifest = json.loads(named.read_text())
        named.write_text(json.dumps({**manifest, "recipe": {"name": "r", "text": "x = ["}}))
    extra = _no_matplotlib(tmp_path) if case == "no-matplotlib" else None
    res = _pareto(run, "--out", tmp_path / "out", pythonpath=extra)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    if case == "no-matplotlib":
        assert res.stderr.startswith("error: matplotlib is needed"), res.stderr
    else:
        assert res.stderr.startswith(f"error: {named}"), res.stderr
    assert res.stdout == ""
    assert not (tmp_path / "out").exists()
