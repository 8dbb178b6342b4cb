"""End-to-end evaluation on toy files: metrics.json, HTML report, CLI, bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import h5py
import numpy as np
import pytest

from caloforge.data import Conditions, ShowerFileError, write_showers
from caloforge.evaluate import FLOOR, ClassifierConfig, EvaluationConfig, evaluate
from caloforge.geometry import load_detector

SMALL = EvaluationConfig(
    classifier=ClassifierConfig(
        seeds=(0,),
        mlp_epochs=15,
        mlp_hidden=32,
        hgb_max_iter=50,
        learning_curve="auto",
        curve_sizes=(100,),
    ),
    n_bootstrap=5,
    plot_formats=("png",),  # PDF writing is tested once, below, to keep the tier fast
)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.tables.append(a.get("id") or "")
        if tag == "img":
            self.images.append(a.get("src") or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One evaluation of toy files: reference, a good and a 5 %-scaled candidate, a training
    file, a training log."""
    from toy_showers import make_toy_showers

    tmp = tmp_path_factory.mktemp("report")
    det = load_detector("atlas-pblar")

    def write(name: str, n: int, seed: int, **kw: object) -> Path:
        s, c = make_toy_showers(det, n, seed, **kw)  # type: ignore[arg-type]
        return write_showers(tmp / name, s, c, det)

    ref = write("ref.h5", 600, 1)
    good = write("good.h5", 600, 2)
    scaled = write("scaled.h5", 600, 3, scale=1.05)
    train = write("train.h5", 1000, 4)
    logs = []
    for run in ("wgan", "vae"):  # one training log per run folder, one figure each
        log = tmp / "runs" / run / "metrics.jsonl"
        log.parent.mkdir(parents=True)
        log.write_text(
            "\n".join(json.dumps({"step": i, "loss": 1 / (i + 1), "lr": 1e-3}) for i in range(20))
        )
        logs.append(log)
    m = evaluate(ref, [good, scaled], tmp / "out", train=train, training_log=logs, config=SMALL)
    return tmp / "out", m


def test_metrics_json(report: tuple[Path, dict]) -> None:
    out, m = report
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["comparisons"].keys() == m["comparisons"].keys() == {FLOOR, "good", "scaled"}
    floor, good, scaled = (m["comparisons"][k] for k in (FLOOR, "good", "scaled"))
    # the floor and the good candidate agree; e_ratio and the classifier flag the scaled one
    assert floor["max_separation"] < 0.1 and good["max_separation"] < 0.1
    assert scaled["worst"][0] in ("e_ratio", "e_vis", "cell_energy")
    sep = {o["name"]: o["separation"] for o in scaled["observables"]}
    assert sep["e_ratio"] > 5 * max(
        o["separation"] for o in good["observables"] if o["name"] == "e_ratio"
    )
    assert scaled["classifier"]["high_level"]["auc"] > 0.6
    assert abs(good["classifier"]["high_level"]["auc"] - 0.5) < 0.08
    assert scaled["physics_distances"]["fpd"] > 3 * good["physics_distances"]["fpd"]
    assert set(m["memorisation"]) == {FLOOR, "good", "scaled"}
    assert not m["memorisation"]["good"]["flagged"]
    assert m["response"]["reference"]["mean"][0] == pytest.approx(0.19, abs=0.02)
    assert "weighted_mean" in m["cell_std_ratio"]["good"]
    # the layer energies' correlations: every sample and the floor, 3 x 3, symmetric
    corr = on_disk["layer_correlations"]
    assert corr["layers"] == 3 and set(corr["samples"]) == {"reference", "good", "scaled"}
    for matrix in (*corr["samples"].values(), *corr["floor"].values()):
        r = np.array(matrix, dtype=float)
        assert r.shape == (3, 3) and np.allclose(r, r.T) and np.allclose(np.diag(r), 1)
    differences = corr["max_abs_difference"]
    assert set(differences["candidates"]) == {"good", "scaled"}
    assert differences["candidates"]["good"]["pairs"] == differences["floor"]["pairs"] == 3
    # the toy reference varies only its energy: the conditional section holds the
    # per-particle statistics alone
    assert set(on_disk["conditional"]["samples"]["reference"]) == {"n", "per_particle"}


def test_html_is_self_contained(report: tuple[Path, dict]) -> None:
    out, _ = report
    parser = _Collector()
    parser.feed((out / "report.html").read_text())
    assert {
        "summary",
        "observables",
        "classifiers",
        "response",
        "layer_correlations",
        "memorisation",
    } <= set(parser.tables)
    assert len(parser.images) >= 10
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)
    text = " ".join(parser.text)
    assert "floor (reference vs reference)" in text and "scaled" in text and "e_ratio" in text
    for stem in (
        "hist_energy",
        "cell_maps",
        "response",
        "profiles",
        "cell_spectrum",
        "memorisation",
        "training_curves_wgan",
        "training_curves_vae",
    ):
        assert (out / "plots" / f"{stem}.png").stat().st_size > 1000


def test_plots_are_saved_as_png_and_pdf(tmp_path: Path) -> None:
    from caloforge.evaluate.plots import plot_training_curves

    png = plot_training_curves([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}], tmp_path)
    assert png.suffix == ".png" and png.stat().st_size > 1000
    assert png.with_suffix(".pdf").read_bytes().startswith(b"%PDF")


def test_interrupted_plot_leaves_the_previous_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.figure import Figure

    from caloforge.evaluate.plots import plot_training_curves

    records = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}]
    png = plot_training_curves(records, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(before) == {png.name, png.with_suffix(".pdf").name}

    def half_then_interrupted(self: Figure, fname: object, **kwargs: object) -> None:
        Path(str(fname)).write_bytes(b"\x89PNG\r\n")  # a part of a PNG, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", half_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        plot_training_curves(records, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium at /usr/bin/chromium"
)
def test_html_renders_in_headless_chromium(report: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = report
    shot = tmp_path / "shot.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        ["/usr/bin/chromium", *flags, "--dump-dom", (out / "report.html").as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert 'id="summary"' in dom and dom.count("<img") >= 10
    subprocess.run(
        [
            "/usr/bin/chromium",
            *flags,
            f"--screenshot={shot}",
            "--window-size=1200,900",
            (out / "report.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 10_000


def test_refuses_to_overwrite(report: tuple[Path, dict]) -> None:
    out, m = report
    with pytest.raises(FileExistsError, match="--overwrite"):
        evaluate(m["reference"]["path"], [m["candidates"]["good"]["path"]], out)


def test_ref2_floor_and_no_plots(write_toy, atlas, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ref, ref2, cand = (
        write_toy("a.h5", atlas, 300, 1),
        write_toy("b.h5", atlas, 300, 2),
        write_toy("c.h5", atlas, 300, 3),
    )
    cfg = EvaluationConfig(
        classifier=ClassifierConfig(seeds=(0,), classifiers=("hgb",), hgb_max_iter=30),
        n_bootstrap=3,
        plots=False,
    )
    m = evaluate(ref, {"model": cand}, tmp_path / "r", ref2=ref2, config=cfg)
    assert "second reference" in m["comparisons"][FLOOR]["how"]
    assert m["comparisons"][FLOOR]["n_candidate"] == 300
    assert m["memorisation"] is None and not (tmp_path / "r" / "plots").exists()
    assert (tmp_path / "r" / "report.html").exists()


# ---------------------------------------------------------------------------------------
# bad input: one clear line naming the file
def _raw(path: Path, showers: np.ndarray, detector: str | None = "atlas-pblar") -> Path:
    with h5py.File(path, "w") as f:
        f["showers"] = showers.astype(np.float32)
        f["incident_energies"] = np.full((len(showers), 1), 1000.0, dtype=np.float32)
        if detector:
            f.attrs["detector"] = detector
    return path


def test_bad_inputs(write_toy, atlas, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ref = write_toy("ref.h5", atlas, 100, 1)
    hex_det = load_detector("hgcal-hex")
    other = write_toy("hex.h5", hex_det, 50, 1)
    with pytest.raises(ShowerFileError, match=r"hex\.h5.*'hgcal-hex', not 'atlas-pblar'"):
        evaluate(ref, [other], tmp_path / "o1", config=SMALL)
    wrong = _raw(tmp_path / "wrong.h5", np.ones((10, 100)), detector=None)
    with pytest.raises(ShowerFileError, match=r"wrong\.h5.*\(N, 504\)"):
        evaluate(ref, [wrong], tmp_path / "o2", config=SMALL)
    empty = write_showers(
        tmp_path / "empty.h5", np.zeros((0, 504)), Conditions.create(np.ones(0) * 1.0), atlas
    )
    with pytest.raises(ShowerFileError, match=r"empty\.h5.*no showers"):
        evaluate(ref, [empty], tmp_path / "o3", config=SMALL)
    bad = np.ones((20, 504))
    bad[7, 3] = np.nan
    nan = _raw(tmp_path / "nan.h5", bad)
    with pytest.raises(ShowerFileError, match=r"nan\.h5.*row 7.*NaN"):
        evaluate(ref, [nan], tmp_path / "o4", config=SMALL)
    assert not (tmp_path / "o4").exists()  # nothing written on bad input


def test_cli_one_line_error_and_run(write_toy, atlas, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ref, cand = write_toy("ref.h5", atlas, 200, 1), write_toy("cand.h5", atlas, 200, 2)
    bad = np.ones((20, 504))
    bad[3, 3] = np.nan
    nan = _raw(tmp_path / "nan.h5", bad)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "160"}
    cmd = [sys.executable, "-c", "from caloforge.cli import main; main()", "evaluate"]
    r = subprocess.run(
        [*cmd, str(ref), str(nan), "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "nan.h5" in lines[0]
    args = [str(ref), str(cand), "--out", str(tmp_path / "rep"), "--no-plots"]
    r = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "floor (ref vs ref)" in r.stdout and "cand" in r.stdout and "report.html" in r.stdout
    # sizes beside every AUC: 200 per class train 120 classifier showers and test 40
    assert "120/40" in r.stdout and "fewer than 10000" in r.stdout
    # the floor's halves (100 per class) are below the classifier's minimum of 200
    assert "skipped" in r.stdout and "minimum of 200" in r.stdout
    assert "minimum of 200" in r.stderr and "WARNING" in r.stderr
    r = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "--overwrite" in r.stderr
    r = subprocess.run(
        [*cmd, *args, "--overwrite", "--quiet", "--max-showers", "60"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0 and "floor" not in r.stdout
    shutil.rmtree(tmp_path / "rep")


def test_metrics_below_their_minimum_are_skipped(write_toy, atlas, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    """A 60-shower reference: the classifier (minimum 200 per class) and FPD/KPD are
    skipped with a warning; the floor's halves (30) are below the observables' minimum."""
    from caloforge.evaluate.minimums import MINIMUM_PER_CLASS

    ref, cand = write_toy("ref.h5", atlas, 60, 1), write_toy("cand.h5", atlas, 60, 2)
    train = write_toy("train.h5", atlas, 300, 3)
    with caplog.at_level("WARNING", logger="caloforge.evaluate"):
        m = evaluate(ref, [cand], tmp_path / "r", train=train, config=SMALL)
    floor, c = m["comparisons"][FLOOR], m["comparisons"]["cand"]
    assert set(c["skipped"]) == {"classifier", "physics_distances", "memorisation"}
    assert set(floor["skipped"]) == {
        "observables",
        "classifier",
        "physics_distances",
        "memorisation",
    }
    assert c["classifier"] == {"voxel": None, "high_level": None}
    assert c["physics_distances"] is None and c["observables"]  # 60 >= 50: computed
    assert floor["observables"] == [] and floor["max_separation"] is None
    assert "60 showers per class, fewer than the minimum of 200" in c["skipped"]["classifier"]
    assert m["minimums"] == dict(MINIMUM_PER_CLASS) and m["memorisation"] is None
    assert "classifier skipped: 60 showers per class" in caplog.text
    on_disk = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert on_disk["comparisons"]["cand"]["skipped"] == c["skipped"]
    parser = _Collector()
    parser.feed((tmp_path / "r" / "report.html").read_text())
    text = " ".join(parser.text)
    assert "Skipped metrics" in text and "fewer than the minimum of 200" in text


def test_report_states_sizes_and_learning_curve(report: tuple[Path, dict]) -> None:
    out, m = report
    for name, c in m["comparisons"].items():
        for kind in ("voxel", "high_level"):
            r = c["classifier"][kind]
            n = 300 if name == FLOOR else 600  # the floor: halves of the reference
            assert r["n_train_per_class"] == round(0.6 * n) and r["below_documented_size"]
            assert r["n_test_per_class"] == round(0.2 * n)
    assert m["classifier_below_documented_size"]
    parser = _Collector()
    parser.feed((out / "report.html").read_text())
    assert "learning_curve" in parser.tables and "360 / 120" in " ".join(parser.text)
    # the curve: 100 showers per class, then the headline size; the same test split
    curve = m["comparisons"]["scaled"]["classifier"]["high_level"]["learning_curve"]
    assert [p["n_train_per_class"] for p in curve] == [100, 360]
    assert curve[-1]["auc"] == m["comparisons"]["scaled"]["classifier"]["high_level"]["auc"]
    assert (out / "plots" / "learning_curve.png").stat().st_size > 1000


def test_classifier_per_readout_layer_finds_the_layer_that_differs(
    atlas, toy_showers, tmp_path: Path, caplog
) -> None:  # type: ignore[no-untyped-def]
    """A candidate whose last readout layer alone carries twice the energy: the per-layer
    voxel test separates that layer and not the others; the console script prints it."""
    ref_s, ref_c = toy_showers(atlas, 800, 1)
    cand_s, cand_c = toy_showers(atlas, 800, 2, energy=ref_c.energy)
    last = atlas.voxel_layer == atlas.n_layers - 1
    cand_s[:, last] *= 2.0
    ref = write_showers(tmp_path / "ref.h5", ref_s, ref_c, atlas)
    cand = write_showers(tmp_path / "model.h5", cand_s, cand_c, atlas)
    cfg = EvaluationConfig(
        classifier=ClassifierConfig(seeds=(0,), classifiers=("hgb",), hgb_max_iter=30),
        n_bootstrap=3,
        plots=False,
        classifier_layers=True,
    )
    with caplog.at_level("WARNING", logger="caloforge.evaluate.classifier"):
        m = evaluate(ref, {"model": cand}, tmp_path / "r", config=cfg)
    # the small-size warning: once per all-voxel and high-level test, not per layer
    assert caplog.text.count("fewer than the documented") == 4
    layers = m["comparisons"]["model"]["classifier_layers"]
    assert [r["layer"] for r in layers] == list(range(atlas.n_layers))
    assert [r["voxels"] for r in layers] == list(atlas.layer_sizes)
    assert layers[-1]["auc"] > 0.75, layers
    assert all(r["auc"] < 0.62 for r in layers[:-1]), [r["auc"] for r in layers]
    assert all(r["learning_curve"] == [] and r["n_test_per_class"] > 0 for r in layers)
    assert m["comparisons"][FLOOR]["classifier_layers"] is not None
    html_text = (tmp_path / "r" / "report.html").read_text()
    assert "id='classifier_layers'" in html_text
    # a layer empty in both samples is named, not tested
    middle = atlas.voxel_layer == 1
    ref_s[:, middle], cand_s[:, middle] = 0.0, 0.0
    ref_e = write_showers(tmp_path / "ref_e.h5", ref_s, ref_c, atlas)
    cand_e = write_showers(tmp_path / "cand_e.h5", cand_s, cand_c, atlas)
    m = evaluate(ref_e, {"model": cand_e}, tmp_path / "empty", config=cfg)
    empty = m["comparisons"]["model"]["classifier_layers"][1]
    assert empty == {"layer": 1, "voxels": 144, "auc": None, "auc_err": None, "why": empty["why"]}
    assert "empty" in empty["why"]
    assert m["comparisons"]["model"]["classifier_layers"][2]["auc"] > 0.75
    # off by default: no per-layer entry
    off = evaluate(ref, {"model": cand}, tmp_path / "off", config=SMALL)
    assert off["comparisons"]["model"]["classifier_layers"] is None
    assert "id='classifier_layers'" not in (tmp_path / "off" / "report.html").read_text()
    n = 220  # the console script runs the default classifier settings: few showers keep it fast
    small_ref = write_showers(tmp_path / "sref.h5", ref_s[:n], ref_c.select(slice(0, n)), atlas)
    small = write_showers(tmp_path / "cand.h5", cand_s[:n], cand_c.select(slice(0, n)), atlas)
    script = Path(sys.executable).parent / "caloforge"
    r = subprocess.run(
        [
            str(script),
            "evaluate",
            str(small_ref),
            str(small),
            "--out",
            str(tmp_path / "cli"),
            "--no-plots",
            "--classifier-seeds",
            "1",
            "--learning-curve",
            "off",
            "--classifier-layers",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"},
    )
    assert r.returncode == 0, r.stderr
    assert "voxel AUC per readout layer, cand: 0: " in r.stdout
