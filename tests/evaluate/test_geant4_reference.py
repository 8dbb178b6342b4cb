"""Slow tier: the full evaluation on the two shared Geant4 samples of atlas-pblar."""

from __future__ import annotations

from pathlib import Path

import pytest

from caloforge.evaluate import FLOOR, EvaluationConfig, evaluate

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
TRAIN, VAL = DATA / "atlas-pblar_gamma_train.h5", DATA / "atlas-pblar_gamma_val.h5"


@pytest.mark.slow
@pytest.mark.skipif(
    not (TRAIN.exists() and VAL.exists()), reason=f"reference Geant4 files not found in {DATA}"
)
def test_geant4_vs_geant4_is_at_the_floor(tmp_path: Path) -> None:
    m = evaluate(
        VAL, {"geant4_train": TRAIN}, tmp_path / "report", config=EvaluationConfig(max_showers=5000)
    )
    for name in (FLOOR, "geant4_train"):
        c = m["comparisons"][name]
        for kind in ("voxel", "high_level"):
            assert c["classifier"][kind]["auc"] < 0.56, (name, kind, c["classifier"][kind]["auc"])
        assert c["max_separation"] < 0.03
    assert (tmp_path / "report" / "report.html").stat().st_size > 100_000
