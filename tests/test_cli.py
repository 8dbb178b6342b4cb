"""The command-line interface: help, version, the foundation verbs and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from caloforge import __version__
from caloforge.data import Conditions, write_showers
from caloforge.geometry import load_detector


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "caloforge", *args], capture_output=True, text=True, timeout=120
    )


def test_version_and_help() -> None:
    out = run("--version")
    assert out.returncode == 0 and __version__ in out.stdout
    out = run("detector", "show", "--help")
    assert out.returncode == 0 and "Example" in out.stdout


def test_detector_list_and_show(tmp_path: Path) -> None:
    out = run("detector", "list")
    assert out.returncode == 0
    for name in ("atlas-pblar", "hgcal-hex", "calochallenge-ds2"):
        assert name in out.stdout
    png = tmp_path / "det.png"
    out = run("detector", "show", "atlas-pblar", "--plot", str(png))
    assert out.returncode == 0, out.stderr
    assert "Moliere radius 35.48 mm" in out.stdout and "voxels 504" in out.stdout
    assert "physics em_opt0, cut 0.7 mm, scoring replica" in out.stdout
    assert png.stat().st_size > 10_000
    out = run("detector", "show", "calochallenge-ds2")
    assert out.returncode == 0, out.stderr
    assert "physics em_opt0, cut 0.7 mm, scoring steps" in out.stdout


def test_info_summarises_and_plots(tmp_path: Path) -> None:
    det = load_detector("atlas-pblar")
    rng = np.random.default_rng(0)
    showers = rng.exponential(1.0, (20, det.n_voxels)).astype(np.float32)
    path = write_showers(tmp_path / "s.h5", showers, Conditions.create(np.full(20, 5000.0)), det)
    out = run("info", str(path), "--plot", str(tmp_path / "avg.png"))
    assert out.returncode == 0, out.stderr
    assert "atlas-pblar" in out.stdout and "20" in out.stdout
    assert (tmp_path / "avg.png").exists()


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    for args, message in [
        (("info", str(tmp_path / "missing.h5")), "no such file"),
        (("detector", "show", "nope"), "no such detector file or preset"),
    ]:
        out = run(*args)
        assert out.returncode == 2
        assert message in out.stderr and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1


def test_simulate_cli_writes_showers_and_refuses_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "sim.h5"
    res = run(
        "simulate",
        "-d",
        "atlas-pblar",
        "-e",
        "1GeV",
        "-n",
        "4",
        "--chunk-size",
        "2",
        "-o",
        str(out),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    from caloforge.data import ShowerFile

    data = ShowerFile(out)
    assert len(data) == 4
    ratio = data.showers().sum(1) / data.conditions().energy
    assert np.all((ratio > 0.12) & (ratio < 0.25))  # sampling fraction ~0.19
    for args, message in [
        (("-n", "4", "-o", str(out)), "exists"),
        (("-n", "4", "-e", "5TeV", "-o", str(tmp_path / "x.h5")), "outside the supported range"),
        (("-n", "4", "--shard", "3", "-o", str(tmp_path / "x.h5")), "expected k/N"),
    ]:
        res = run("simulate", *args, "--quiet")
        assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr
