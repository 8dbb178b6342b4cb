"""Fast simulation inside Geant4: track selection, per-event deposit, counts, bad input."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from caloforge.data import Conditions, ShowerFile
from caloforge.deploy.fastsim import FastSimModelError, check_model
from caloforge.deploy.fastsim.selection import (
    Selector,
    event_showers,
    front_face_impact,
    selector_for,
)
from caloforge.deploy.runtime import OnnxGenerator, TrainedRange
from caloforge.geometry import load_detector
from caloforge.simulate import SimulationConfig, simulate
from cli_writers import caloforge, digest, leftovers, one_line_error

from .conftest import needs_geant4

RANGE = TrainedRange((22,), (1e3, 1e5), (0.0, 0.0), (-5.0, 5.0), (-5.0, 5.0))
UP = (0.0, 0.0, -100.0)
Z = (0.0, 0.0, 1.0)


def test_front_face_impact() -> None:
    d = np.array([0.1, 0.0, 1.0]) / np.linalg.norm([0.1, 0.0, 1.0])
    x, y, z = front_face_impact((1.0, 2.0, -100.0), tuple(d))  # type: ignore[misc]
    assert (x, y, z) == pytest.approx((11.0, 2.0, 0.0))
    assert front_face_impact((0.0, 0.0, 5.0), Z) is None  # inside the calorimeter
    assert front_face_impact(UP, (0.0, 0.0, -1.0)) is None  # moving away


def test_selector_decisions_and_mixed_events() -> None:
    sel = Selector(RANGE, 20.0, 20.0)
    sel.begin_event()
    assert sel.consider(22, 5e3, UP, Z)  # in range: fast
    assert sel.consider(22, 7e3, (1.0, 1.0, -50.0), Z, primary_first=False)  # mixed: also fast
    assert not sel.consider(11, 5e3, UP, Z)  # electron: not trained -> full
    assert not sel.consider(22, 5e5, UP, Z)  # above the trained energies -> full
    assert not sel.consider(22, 5e3, (8.0, 0.0, -10.0), Z)  # impact outside the range -> full
    assert not sel.consider(22, 5e3, (0.0, 0.0, 10.0), Z)  # born inside: not counted at all
    assert not sel.consider(22, 5e3, (30.0, 0.0, -10.0), Z)  # misses the front face
    assert len(sel.fast) == 2 and sel.n_full == 3
    cond = sel.conditions()
    assert cond.energy.tolist() == [5e3, 7e3] and cond.impact[1].tolist() == [1.0, 1.0, 0.0]
    centred = Selector(RANGE, 20.0, 20.0, particle_centred=True)
    centred.begin_event()
    assert centred.consider(22, 5e3, UP, Z)
    assert not centred.consider(22, 5e3, UP, Z, primary_first=False)  # one per event
    assert centred.n_full == 1
    assert selector_for(load_detector("atlas-pblar"), RANGE).particle_centred is False


def test_event_showers_sum_of_the_batch(tiny_onnx: Path) -> None:
    gen = OnnxGenerator(tiny_onnx, threads=1)
    cond = Conditions(
        np.array([5e3, 2e4]), np.array([22, 22]), np.tile(Z, (2, 1)), np.zeros((2, 3))
    )
    total = event_showers(gen, cond, np.random.default_rng(4))
    np.testing.assert_allclose(total, gen.sample(cond, np.random.default_rng(4)).sum(0), rtol=1e-5)
    empty = Conditions(np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros((0, 3)), np.zeros((0, 3)))
    assert event_showers(gen, empty, np.random.default_rng(0)).shape == (gen.n_voxels,)


@needs_geant4
def test_fastsim_in_geant4(tiny_onnx: Path, tmp_path: Path) -> None:
    """Trained-range photons go to the model (exactly its showers), others to Geant4."""
    det = OnnxGenerator(tiny_onnx, threads=1).detector
    cfg = SimulationConfig(
        detector=det,
        particle="gamma",
        energy="list:5GeV,300GeV",
        n=4,
        seed=3,
        impact=(1.0, -2.0),
        fastsim=tiny_onnx,
    )
    f = ShowerFile(simulate(cfg, tmp_path / "fs.h5"))
    assert f.read("fastsim_fast").tolist() == [1, 0, 1, 0]
    assert f.read("fastsim_full").tolist() == [0, 1, 0, 1]
    showers, cond = f.showers(), f.conditions()
    gen = OnnxGenerator(tiny_onnx, threads=1)
    for i in (0, 2):  # noise keyed by (run seed, event, track)
        expected = gen.run(gen.features(_row(cond, i)), gen.keyed_noise(3, np.array([[i, 0]])))
        np.testing.assert_allclose(showers[i], expected[0], rtol=1e-5, atol=1e-4)
    assert showers[1].sum() > 0  # the 300 GeV photon was simulated by Geant4
    cpu = f.read("cpu_time")
    assert (cpu > 0).all()
    model = f.read("time_model")  # the model's time is inside the event's CPU time
    assert (model[[0, 2]] > 0).all() and (model[[1, 3]] == 0).all()
    assert (model <= cpu).all() and (f.read("time_stacking") > 0).all()


@needs_geant4
def test_fastsim_batches_do_not_change_the_output(tiny_onnx: Path, tmp_path: Path) -> None:
    """Batches spanning events, chunks and workers: the same showers to the bit."""
    det = OnnxGenerator(tiny_onnx, threads=1).detector
    common = dict(
        detector=det,
        particle="gamma",
        energy="loguniform:2GeV,200GeV",
        n=8,
        seed=5,
        impact="uniform:-4,4",
        fastsim=tiny_onnx,
    )
    runs = {
        (batch, chunk, workers): ShowerFile(
            simulate(
                SimulationConfig(**common, fastsim_batch=batch, chunk_size=chunk, workers=workers),
                tmp_path / f"b{batch}-c{chunk}-w{workers}.h5",
            )
        )
        for batch, chunk, workers in ((1, 8, 1), (3, 8, 1), (1000, 3, 2))
    }
    first, *others = runs.values()
    n_fast = first.read("fastsim_fast")
    assert 0 < n_fast.sum() < 8  # both kinds of events
    for other in others:
        assert np.array_equal(other.showers(), first.showers())
        assert np.array_equal(other.read("fastsim_fast"), n_fast)


def _row(c: Conditions, i: int) -> Conditions:
    return Conditions(
        c.energy[i : i + 1], c.particle[i : i + 1], c.direction[i : i + 1], c.impact[i : i + 1]
    )


def test_bad_fastsim_models(tiny_onnx: Path, tmp_path: Path) -> None:
    det = OnnxGenerator(tiny_onnx, threads=1).detector
    pt = tmp_path / "m.pt"
    pt.write_bytes(b"not onnx")
    with pytest.raises(FastSimModelError, match=r"expected an exported \.onnx model"):
        SimulationConfig(detector=det, n=1, fastsim=pt)
    bad = tmp_path / "bad.onnx"
    bad.write_text("hello")
    with pytest.raises(FastSimModelError, match="not a readable ONNX model"):
        check_model(bad, det)
    with pytest.raises(FastSimModelError, match="no such ONNX model"):
        check_model(tmp_path / "missing.onnx", det)
    with pytest.raises(FastSimModelError, match="for detector 'toy-3x4x4'"):
        check_model(tiny_onnx, load_detector("atlas-pblar"))


def test_cli_fastsim_error_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from caloforge.cli import main

    pt = tmp_path / "m.pt"
    pt.write_bytes(b"x")
    monkeypatch.setattr(
        sys,
        "argv",
        ["caloforge", "simulate", "-n", "1", "--fastsim", str(pt), "-o", str(tmp_path / "o.h5")],
    )
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --fastsim") and ".onnx" in lines[0]


def test_simulate_refuses_its_fastsim_model_as_output(tiny_onnx: Path, tmp_path: Path) -> None:
    model = Path(shutil.copy(tiny_onnx, tmp_path / "m.onnx"))
    before = digest(model)
    det = tiny_onnx.parent / "toy-3x4x4.toml"
    args = ("simulate", "-d", det, "-n", "1", "--fastsim", model, "-o", model, "--overwrite")
    one_line_error(caloforge(*args), "m.onnx: is also an input")
    assert digest(model) == before and leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--fastsim-batch", "0"), "--fastsim-batch 0: must be at least 1"),
        (("--fastsim-batch", "many"), "--fastsim-batch"),
        (("--particle", "e-"), "the model is for particles gamma, the run shoots e-"),
        (("--energy", "500GeV"), "MeV, the run shoots 5e+05-5e+05 MeV"),
        (("-d", "atlas-pblar"), "the model is for detector 'toy-3x4x4' (48 voxels)"),
    ],
)
def test_cli_refuses_batch_and_models_of_other_runs(
    tiny_onnx: Path, tmp_path: Path, args: tuple[str, ...], fragment: str
) -> None:
    det = tiny_onnx.parent / "toy-3x4x4.toml"
    out = tmp_path / "o.h5"
    base = ("simulate", "-d", det, "-n", "2", "--fastsim", tiny_onnx, "-o", out)
    one_line_error(caloforge(*base, *args), fragment)
    assert not out.exists() and leftovers(tmp_path) == []


def test_keyed_noise_depends_only_on_its_key(tiny_onnx: Path) -> None:
    gen = OnnxGenerator(tiny_onnx, threads=1)
    keys = np.array([[0, 0], [0, 1], [1, 0], [7, 2]])
    noise = gen.keyed_noise(11, keys)
    assert noise.shape == (4, *gen.metadata.noise_shape)
    assert np.array_equal(gen.keyed_noise(11, keys[::-1]), noise[::-1])  # order-free
    assert np.array_equal(gen.keyed_noise(11, keys[3:]), noise[3:])
    assert len({row.tobytes() for row in noise}) == 4
    assert not np.array_equal(gen.keyed_noise(12, keys), noise)  # the run seed counts
    assert abs(float(gen.keyed_noise(1, np.c_[np.arange(500), np.zeros(500)]).std()) - 1) < 0.05


def test_cpu_profile_parts_add_up() -> None:
    from caloforge.deploy.fastsim.profile import PARTS, cpu_profile

    cols = {
        "cpu_time": np.array([0.010, 0.020]),
        "time_primary": np.array([0.001, 0.001]),
        "time_stacking": np.array([0.002, 0.0]),
        "time_model": np.array([0.003, 0.0]),
        "time_deposit": np.array([0.001, 0.002]),
    }
    prof = cpu_profile(cols)
    assert prof["total"] == pytest.approx(15.0)
    assert prof["transport"] == pytest.approx(10.0)  # the rest: (3 + 17) / 2 ms
    assert sum(prof[p] for p in PARTS) == pytest.approx(prof["total"])


def test_showers_placed_layer_by_layer_along_the_track(tmp_path: Path) -> None:
    from caloforge.deploy.fastsim.placement import layer_depths, layer_offsets, place_showers
    from caloforge.testing import toy_detector

    det = toy_detector(tmp_path)
    assert layer_depths(det).tolist() == [3.0, 9.0, 15.0]  # 6 mm layers
    theta = np.radians(40.0)
    d = np.array([[np.sin(theta), 0.0, np.cos(theta)]])
    off = layer_offsets(det, d, np.array([[0.0, 0.0]]), None, along_direction=True)
    np.testing.assert_allclose(off[0, :, 0], np.tan(theta) * np.array([3.0, 9.0, 15.0]))
    assert (off[0, :, 1] == 0).all()
    shower = np.zeros((1, det.n_voxels), dtype=np.float32)
    for layer, sl in enumerate(det.layer_slices):  # 1 MeV in cell (ix=1, iy=2) of each layer
        shower[0, sl.start + 1 * 4 + 2] = 1.0 + layer
    placed = place_showers(shower, det, off)
    # shifts 2.5, 7.6, 12.6 mm along x with 10 mm cells: 0, 1 and 1 cells further
    for layer, (sl, ix) in enumerate(zip(det.layer_slices, (1, 2, 2), strict=True)):
        assert placed[0, sl].tolist().index(1.0 + layer) == ix * 4 + 2
    assert placed.sum() == shower.sum()
    # a shift by the impact point: 25 mm right of the reference leaves the grid from ix=2 on
    off = layer_offsets(
        det, np.array([[0.0, 0.0, 1.0]]), np.array([[25.0, 0.0]]), (0.0, 0.0), along_direction=False
    )
    assert place_showers(shower, det, off).sum() == 0.0  # ix 1 + 2.5 cells: outside
    assert place_showers(shower, det, np.zeros_like(off)) is shower


def test_selector_takes_any_angle_when_the_model_ignores_direction() -> None:
    det = load_detector("atlas-pblar")
    angled = (np.sin(0.5), 0.0, np.cos(0.5))
    strict = selector_for(det, RANGE)  # conditioned on everything: theta range (0, 0)
    strict.begin_event()
    near = (0.0, 0.0, -1.0)  # enters 0.55 mm off the axis
    assert not strict.consider(22, 5e3, near, angled)
    free = selector_for(det, RANGE, ("log_energy", "impact_x", "impact_y"))
    free.begin_event()
    assert free.free_direction and not free.free_impact
    assert free.consider(22, 5e3, near, angled)  # any angle below 90 degrees
    assert not free.consider(22, 5e3, (20.0, 0.0, -10.0), Z)  # impact still checked
    anywhere = selector_for(det, RANGE, ("log_energy",))
    anywhere.begin_event()
    assert anywhere.consider(22, 5e3, (20.0, 0.0, -10.0), angled)


@needs_geant4
def test_angled_entry_in_geant4(tiny_onnx: Path, tmp_path: Path) -> None:
    """A model trained at normal incidence takes 40-degree photons; showers along the track."""
    from caloforge.deploy.fastsim.placement import layer_offsets, place_showers

    gen = OnnxGenerator(tiny_onnx, threads=1)
    det = gen.detector
    cfg = SimulationConfig(
        detector=det,
        particle="gamma",
        energy="20GeV",
        n=2,
        seed=9,
        theta=40.0,
        phi=30.0,
        impact=(1.0, -2.0),
        fastsim=tiny_onnx,
    )
    f = ShowerFile(simulate(cfg, tmp_path / "angled.h5"))
    assert f.read("fastsim_fast").tolist() == [1, 1]
    cond = f.conditions()
    raw = gen.run(gen.features(cond), gen.keyed_noise(9, np.array([[0, 0], [1, 0]])))
    off = layer_offsets(det, cond.direction, cond.impact, None, along_direction=True)
    assert np.abs(off).max() > 10.0  # the last layer moves by more than a cell
    np.testing.assert_allclose(f.showers(), place_showers(raw, det, off), rtol=1e-5, atol=1e-4)
