"""``caloforge bench`` on a tiny checkpoint and its ONNX export, with a small Geant4 sample."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import caloforge.bench.run as run_module
import caloforge.bench.torch_backend as torch_module
from caloforge.bench import DEFAULT_PRECISIONS, BenchRow, PeakRSS, bench_torch, run_bench
from caloforge.geometry import load_detector
from caloforge.hardware import cpu_facts
from fastsim.conftest import needs_geant4


@needs_geant4
def test_bench_all_fields(tiny_wgan: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    report = run_bench(
        [tiny_wgan, tiny_onnx], [1, 16], repeats=2, warmup=1, min_showers=16, geant4_showers=3
    )
    assert {(r.backend, r.batch) for r in report.rows} == {
        ("torch", 1),
        ("torch", 16),
        ("onnxruntime", 1),
        ("onnxruntime", 16),
    }
    g4 = report.geant4["toy-3x4x4"]
    assert g4.n == 3 and g4.ms_mean > 0 and 1e3 <= g4.energy_mean_mev <= 1e5
    for r in report.rows:
        assert isinstance(r, BenchRow)
        assert r.repeats == 2 and r.threads == 1 and r.n_voxels == 48
        assert 0 < r.ms_min <= r.ms_per_shower <= r.ms_max
        assert r.showers_per_s == pytest.approx(1000 / r.ms_per_shower)
        assert r.flops_per_shower is not None and r.flops_per_shower > 0
        assert r.peak_memory_mb >= 0 and len(r.load) == 3
        assert r.speedup == pytest.approx(g4.ms_mean / r.ms_per_shower)
    # dense-layer FLOPs of the graph equal torch's count for an MLP generator
    by = {r.backend: r.flops_per_shower for r in report.rows}
    assert by["onnxruntime"] == pytest.approx(by["torch"], rel=0.05)
    data = json.loads(report.write_json(tmp_path / "b.json").read_text())
    assert len(data["rows"]) == 4 and "load_start" in data["machine"] and "geant4" in data
    md = report.markdown()
    rows = [ln for ln in md.splitlines() if ln.startswith("| ") and "| model (file) |" not in ln]
    assert len(rows) == 4
    assert "speed-up" in md and "load" in md


def test_peak_rss_sees_an_allocation() -> None:
    import numpy as np

    with PeakRSS(interval=0.001) as mem:
        a = np.ones(64 * 2**20 // 8)  # 64 MB
        a += 1
        del a
    assert mem.growth_mb > 30


def test_bad_input(tiny_wgan: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such model file"):
        run_bench([tmp_path / "missing.pt"], [1], geant4=False)
    other = tmp_path / "m.h5"
    other.write_text("x")
    with pytest.raises(ValueError, match="unknown model format"):
        run_bench([other], [1], geant4=False)
    with pytest.raises(ValueError, match="batch sizes"):
        run_bench([tiny_wgan], [0], geant4=False)
    with pytest.raises(ValueError, match="'wgan-gp' generates in fp32 only"):
        run_bench([tiny_wgan], [1], geant4=False, precision="bf16")


def test_bf16_precision_is_for_checkpoints_not_exports(tiny_onnx: Path) -> None:
    with pytest.raises(ValueError, match="not ONNX exports"):
        run_bench([tiny_onnx], [1], geant4=False, precision="bf16")
    report = run_bench([tiny_onnx], [2], repeats=1, warmup=0, min_showers=2, geant4=False)
    assert [(r.backend, r.precision) for r in report.rows] == [("onnxruntime", "fp32")]
    # in a list with float32, an export gives its float32 rows, once
    report = run_bench(
        [tiny_onnx], [2], repeats=1, warmup=0, min_showers=2, geant4=False, precision="fp32,bf16"
    )
    assert [(r.backend, r.precision) for r in report.rows] == [("onnxruntime", "fp32")]


def test_cli_bench_without_geant4(
    tiny_wgan: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from caloforge.cli import main

    md, js = tmp_path / "b.md", tmp_path / "b.json"
    argv = [
        "caloforge",
        "bench",
        "--checkpoint",
        str(tiny_wgan),
        "--batch",
        "1,8",
        "--repeats",
        "2",
        "--warmup",
        "1",
        "--no-geant4",
        "--json",
        str(js),
        "--markdown",
        str(md),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    data = json.loads(js.read_text())
    assert md.is_file() and len(data["rows"]) == 2
    # the hardware of the figures: CPU model, ISA flags, torch capability, threads, precision
    facts = cpu_facts()
    machine = data["machine"]
    assert machine["cpu"] == facts.model and machine["isa"] == facts.isa
    assert machine["torch_cpu_capability"] == facts.torch_capability
    assert machine["threads"] == 1 and machine["bf16_native"] == facts.native_bf16
    # the default fp32,auto: wgan-gp has no bfloat16 networks, auto adds nothing to fp32
    assert [r["precision"] for r in data["rows"]] == ["fp32", "fp32"]
    out = capsys.readouterr().out
    assert f"torch CPU capability {facts.torch_capability}" in out
    assert f"ISA {' '.join(facts.isa)}" in out and "1 threads" in out
    assert f"capability {facts.torch_capability}" in md.read_text()
    monkeypatch.setattr(sys, "argv", [*argv[:4], "--batch", "1,x"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --batch")


def test_bf16_rows_are_labelled(tiny_diffusion: Path) -> None:
    report = run_bench(
        [tiny_diffusion], [4], repeats=1, warmup=0, min_showers=4, geant4=False, precision="bf16"
    )
    assert [r.backend for r in report.rows] == ["torch-bf16"]
    assert report.rows[0].flops_per_shower is not None and report.rows[0].ms_per_shower > 0


def test_auto_precision_follows_the_hardware(tiny_diffusion: Path, tiny_wgan: Path) -> None:
    chosen = "bf16" if cpu_facts().native_bf16 else "fp32"
    kw = dict(repeats=1, warmup=0, min_showers=4, geant4=False, precision="auto")
    [row] = run_bench([tiny_diffusion], [4], **kw).rows  # type: ignore[arg-type]
    assert row.precision == chosen and row.backend == (
        "torch" if chosen == "fp32" else "torch-bf16"
    )
    # a family without bfloat16 networks runs float32 under auto instead of being refused
    [row] = run_bench([tiny_wgan], [4], **kw).rows  # type: ignore[arg-type]
    assert (row.precision, row.backend) == ("fp32", "torch")


def test_every_listed_precision_is_timed(tiny_diffusion: Path, tmp_path: Path) -> None:
    """fp32,bf16: rows of both precisions for every batch size, in one report; bfloat16
    first in the list does not leave the float32 rows in bfloat16."""
    kw = dict(repeats=1, warmup=0, min_showers=2, geant4=False)
    report = run_bench([tiny_diffusion], [1, 2], precision="fp32,bf16", **kw)  # type: ignore[arg-type]
    assert [(r.precision, r.backend, r.batch) for r in report.rows] == [
        ("fp32", "torch", 1),
        ("fp32", "torch", 2),
        ("bf16", "torch-bf16", 1),
        ("bf16", "torch-bf16", 2),
    ]
    data = json.loads(report.write_json(tmp_path / "b.json").read_text())
    assert [r["precision"] for r in data["rows"]] == ["fp32", "fp32", "bf16", "bf16"]
    md = [ln for ln in report.markdown().splitlines() if ln.startswith("| diffusion")]
    assert [ln.split(" | ")[2] for ln in md] == ["fp32", "fp32", "bf16", "bf16"]
    report = run_bench([tiny_diffusion], [2], precision=["bf16", "fp32"], **kw)  # type: ignore[arg-type]
    assert [(r.precision, r.backend) for r in report.rows] == [
        ("bf16", "torch-bf16"),
        ("fp32", "torch"),
    ]


def test_default_always_gives_float32(tiny_diffusion: Path, tiny_wgan: Path) -> None:
    """The default fp32,auto: float32 rows on any CPU, bfloat16 rows beside them only where
    bfloat16 is native; auto resolving to a listed precision is timed once. ``bench_torch``
    has the same default as ``run_bench``."""
    kw = dict(repeats=1, warmup=0, min_showers=2, geant4=False)
    report = run_bench([tiny_diffusion], [2], **kw)  # type: ignore[arg-type]
    native = cpu_facts().native_bf16
    assert [r.precision for r in report.rows] == (["fp32", "bf16"] if native else ["fp32"])
    rows = bench_torch(tiny_diffusion, [2], repeats=1, warmup=0, min_showers=2)
    assert [r.precision for r in rows] == [r.precision for r in report.rows]
    assert DEFAULT_PRECISIONS == "fp32,auto"
    report = run_bench([tiny_wgan], [2], precision="fp32,auto", **kw)  # type: ignore[arg-type]
    assert [r.precision for r in report.rows] == ["fp32"]


def test_bad_precision_list(tiny_wgan: Path) -> None:
    with pytest.raises(ValueError, match="precision 'fp32,fp64': 'fp64' is not one of auto"):
        run_bench([tiny_wgan], [1], geant4=False, precision="fp32,fp64")
    with pytest.raises(ValueError, match="expected one or more of auto, fp32, bf16"):
        run_bench([tiny_wgan], [1], geant4=False, precision=" , ")


def _no_timing(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record the models ``run_bench`` starts timing (and time none)."""
    timed: list[Path] = []

    def record(path: Path, *args: object, **kwargs: object) -> list[BenchRow]:
        timed.append(Path(path))
        return []

    monkeypatch.setattr(run_module, "bench_torch", record)
    monkeypatch.setattr(run_module, "bench_onnx", record)
    return timed


def test_precisions_a_model_cannot_run_are_refused_before_any_timing(
    tiny_diffusion: Path, tiny_wgan: Path, tiny_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fp32,bf16 with a family without bfloat16 networks, bf16 alone with an ONNX export:
    refused naming the file before the first model is timed."""
    timed = _no_timing(monkeypatch)
    with pytest.raises(ValueError, match="'wgan-gp' generates in fp32 only") as err:
        run_bench([tiny_diffusion, tiny_wgan], [1], geant4=False, precision="fp32,bf16")
    assert str(err.value).startswith(f"{tiny_wgan}: ")
    with pytest.raises(ValueError, match="not ONNX exports") as err:
        run_bench([tiny_diffusion, tiny_onnx], [1], geant4=False, precision="bf16")
    assert str(err.value).startswith(f"{tiny_onnx}: ")
    assert timed == []
    run_bench([tiny_diffusion, tiny_wgan], [1], geant4=False, precision="fp32,auto")
    assert timed == [tiny_diffusion, tiny_wgan]


def test_cli_bench_refuses_bf16_for_a_float32_family_in_one_line(
    tiny_wgan: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from caloforge.cli import main

    timed = _no_timing(monkeypatch)
    argv = ["caloforge", "bench", "--checkpoint", str(tiny_wgan), "--precision", "fp32,bf16",
            "--no-geant4"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 2 and timed == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {tiny_wgan}: model family 'wgan-gp'")


def test_one_model_per_resolved_precision_the_previous_freed(
    tiny_diffusion: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The precisions are resolved first: a model is loaded once per distinct precision
    (fp32,auto where auto is float32: once), and the previous model is gone before the
    next loads."""
    import weakref

    loaded: list[weakref.ref[object]] = []
    alive_at_load: list[bool] = []
    real = torch_module._model

    def counting(*args: object, **kwargs: object) -> object:
        alive_at_load.append(any(ref() is not None for ref in loaded))
        model, label = real(*args, **kwargs)  # type: ignore[arg-type]
        loaded.append(weakref.ref(model))
        return model, label

    monkeypatch.setattr(torch_module, "_model", counting)
    kw = dict(repeats=1, warmup=0, min_showers=2)
    rows = bench_torch(tiny_diffusion, [2], precision="fp32,bf16,auto", **kw)  # type: ignore[arg-type]
    assert [r.precision for r in rows] == ["fp32", "bf16"]
    assert alive_at_load == [False, False]
    loaded.clear()
    alive_at_load.clear()
    rows = bench_torch(tiny_diffusion, [2], precision="fp32,auto", **kw)  # type: ignore[arg-type]
    native = cpu_facts().native_bf16
    assert [r.precision for r in rows] == (["fp32", "bf16"] if native else ["fp32"])
    assert len(alive_at_load) == len(rows)


def test_the_geant4_baseline_repeats_the_training_files_physics(
    tiny_wgan: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import h5py

    import caloforge.train.checkpoint as checkpoint_module
    from caloforge.bench import Geant4Timing
    from caloforge.bench.conditions import simulation_settings

    data = tmp_path / "pions.h5"
    atlas, ds2 = load_detector("atlas-pblar"), load_detector("calochallenge-ds2")

    def record(**config: object) -> None:
        with h5py.File(data, "w") as f:
            f.attrs["config"] = json.dumps({"seed": 5, "scoring_pitch": None, **config})

    fake = {"info": {"data": [str(data)]}}
    monkeypatch.setattr(checkpoint_module, "load_checkpoint", lambda path: fake)
    # only what differs from the defaults of that particle's simulation in that detector
    pions = dict(physics="FTFP_BERT", production_cut=0.7, approximate_hadronic=True)
    record(**pions, scoring="steps")
    assert simulation_settings(tmp_path / "m.pt", atlas) == {
        "physics": "FTFP_BERT",
        "scoring": "steps",
        "approximate_hadronic": True,
    }
    assert simulation_settings(tmp_path / "m.pt", atlas, "pi+") == {
        "scoring": "steps",
        "approximate_hadronic": True,
    }
    # an EM file simulated with the detector's defaults names nothing
    record(physics="em_opt0", production_cut=0.7, approximate_hadronic=False, scoring_pitch=5.0)
    assert simulation_settings(tmp_path / "m.pt", atlas, "gamma") == {}
    # a file scored with replicas (left out of its record) of a detector scoring per step
    record(**pions)
    assert simulation_settings(tmp_path / "m.pt", ds2)["scoring"] == "replica"
    assert "scoring" not in simulation_settings(tmp_path / "m.pt", atlas)
    # a corrupt file or config record: the defaults, with a warning naming the file
    with h5py.File(data, "w") as f:
        f.attrs["config"] = "{not json"
    assert simulation_settings(tmp_path / "m.pt", atlas) == {}
    data.write_bytes(b"not an HDF5 file")
    assert simulation_settings(tmp_path / "m.pt", atlas) == {}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2 and all(str(data) in w for w in warnings)
    fake["info"]["data"] = [str(tmp_path / "gone.h5")]
    assert simulation_settings(tmp_path / "m.pt", atlas) == {}
    monkeypatch.undo()

    # run_bench hands the settings to the Geant4 timing, which records them in the report
    seen: dict[str, object] = {}

    def timing(det, energies, **kw):  # type: ignore[no-untyped-def]
        seen.update(kw)
        return Geant4Timing(
            det.name,
            "pi+",
            len(energies),
            "e",
            1.0,
            1.0,
            1e4,
            (0, 0, 0),
            0.1,
            settings=dict(kw["settings"]),
        )

    monkeypatch.setattr(
        run_module,
        "simulation_settings",
        lambda p, det, particle, files=None: {"physics": "FTFP_BERT"},
    )
    monkeypatch.setattr(run_module, "geant4_timing", timing)
    kw = dict(repeats=1, warmup=0, min_showers=2, geant4_showers=2)
    report = run_bench([tiny_wgan], [2], **kw)  # type: ignore[arg-type]
    assert seen["settings"] == {"physics": "FTFP_BERT"}
    assert "physics=FTFP_BERT" in report.markdown()
    # an untrained model on another detector: that detector's defaults
    report = run_bench([tiny_wgan], [2], untrained_detector="atlas-pblar", **kw)  # type: ignore[arg-type]
    assert seen["settings"] == {} and list(report.geant4) == ["atlas-pblar"]
    assert {(r.model, r.note) for r in report.rows} == {(str(tiny_wgan), "untrained, atlas-pblar")}
    assert "physics=" not in report.markdown()


def test_cli_bench_quiet_prints_only_the_files_it_wrote(tiny_wgan: Path, tmp_path: Path) -> None:
    from tests.cli.conftest import caloforge

    md, js = tmp_path / "b.md", tmp_path / "b.json"
    common = ["bench", "--checkpoint", tiny_wgan, "--batch", "1,8", "--repeats", "1"]
    out = caloforge(*common, "--no-geant4", "--json", js, "--markdown", md, "--quiet")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"wrote {js}", f"wrote {md}"] and out.stderr == ""
    assert len(json.loads(js.read_text())["rows"]) == 2
    loud = caloforge(*common, "--no-geant4")
    assert loud.returncode == 0 and "machine: " in loud.stdout
    assert "generation time per shower" in loud.stdout


def test_run_bench_reports_each_step(tiny_wgan: Path, tiny_onnx: Path) -> None:
    steps: list[str] = []
    report = run_bench(
        [tiny_wgan, tiny_onnx], [1, 4], repeats=1, warmup=0, geant4=False, progress=steps.append
    )
    assert len(report.rows) == 4
    assert steps == [
        f"timing {tiny_wgan.name} (1/2), batches 1,4",
        f"timing {tiny_onnx.name} (2/2), batches 1,4",
    ]


def test_without_times_the_model_less_its_last_postprocessors(
    calibrated: Path, tiny_onnx: Path, tmp_path: Path
) -> None:
    """``--without refiner`` times a refined checkpoint as the calibrated model it refines
    (labelled so); a post-processor the chain cannot leave out, an ONNX export or an
    untrained detector with ``--without`` are refused in one line, exit 2, before timing."""
    import subprocess

    from caloforge.postprocess import refine
    from export.conftest import training_file

    both = refine(
        calibrated, training_file(calibrated), tmp_path / "both.pt", candidates=4, hidden=16
    ).path
    kw = dict(repeats=1, warmup=0, geant4=False, precision="fp32", min_showers=8)
    rows = run_bench([both], [8], without=("refiner",), **kw).rows
    assert [(r.model, r.note, r.label) for r in rows] == [
        (str(both), "without refiner", "both.pt (without refiner)")
    ]
    full = run_bench([both], [8], **kw).rows
    assert [(r.note, r.label) for r in full] == [("", "both.pt")]
    # the note has a field of its own: a path with brackets keeps its name
    odd = tmp_path / "run (2)" / "m (a).pt"
    odd.parent.mkdir()
    odd.write_bytes(both.read_bytes())
    assert [r.label for r in run_bench([odd], [8], without=("refiner",), **kw).rows] == [
        "m (a).pt (without refiner)"
    ]
    # the calibrated model costs fewer operations than itself with 4 candidates refined
    assert rows[0].flops_per_shower < full[0].flops_per_shower

    script = [str(Path(sys.executable).parent / "caloforge"), "bench", "--no-geant4", "-q"]
    for args, needle in [
        (["-c", str(both), "--without", "calibration"], "'refiner' was fitted after"),
        (["-c", str(both), "--without", "foo"], "no post-processor 'foo'"),
        (["-c", str(tiny_onnx), "--without", "refiner"], "applies to .pt checkpoints"),
        (
            ["-c", str(both), "--without", "refiner", "--untrained-detector", "atlas-pblar"],
            "not to --untrained-detector",
        ),
    ]:
        r = subprocess.run([*script, *args, "-b", "1"], text=True, capture_output=True)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], r.stderr
