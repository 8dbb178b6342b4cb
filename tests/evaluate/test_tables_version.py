"""Evaluation inputs simulated with different Geant4 data are named in one warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from caloforge.data import ShowerFile
from caloforge.evaluate import EvaluationConfig, evaluate
from caloforge.evaluate.tables_version import mixed_tables_versions, tables_version


def _geant4(mode: str, version: int | str) -> dict[str, object]:
    return {
        "generator": {"backend": "geant4", "g4data": {"mode": mode, "generator_version": version}}
    }


MODEL = {"generator": {"kind": "model", "model": "flow"}}


def test_tables_version_of_each_kind_of_file(write_toy, atlas) -> None:  # type: ignore[no-untyped-def]
    files = {
        "v4": _geant4("offline", 4),
        "official": _geant4("official", ""),
        "old": {"generator": {"g4data": {"mode": "offline"}}},
        "model": MODEL,
        "bare": None,
    }
    found = {
        k: tables_version(ShowerFile(write_toy(f"{k}.h5", atlas, 4, 1, attrs=a)))
        for k, a in files.items()
    }
    assert found == {
        "v4": "offline tables version 4",
        "official": "official data",
        "old": "offline tables of unrecorded version",
        "model": None,
        "bare": None,
    }


def test_same_version_and_model_output_give_no_warning(write_toy, atlas) -> None:  # type: ignore[no-untyped-def]
    ref = ShowerFile(write_toy("ref.h5", atlas, 4, 1, attrs=_geant4("offline", 4)))
    train = ShowerFile(write_toy("train.h5", atlas, 4, 2, attrs=_geant4("offline", 4)))
    model = ShowerFile(write_toy("model.h5", atlas, 4, 3, attrs=MODEL))
    assert mixed_tables_versions({"reference": ref, "training": train, "m": model}) is None


def test_evaluate_warns_of_mixed_tables(write_toy, atlas, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    # 10 reference showers are refused (too few to split) after the inputs are checked
    ref = write_toy("ref.h5", atlas, 10, 1, attrs=_geant4("offline", 4))
    train = write_toy("train.h5", atlas, 10, 2, attrs=_geant4("offline", 3))
    val = write_toy("val.h5", atlas, 10, 3, attrs=_geant4("offline", 4))
    g4 = write_toy("g4.h5", atlas, 10, 4, attrs=_geant4("official", ""))
    model = write_toy("model.h5", atlas, 10, 5, attrs=MODEL)
    cfg = EvaluationConfig(plots=False)
    with caplog.at_level(logging.WARNING), pytest.raises(ValueError, match="too few"):
        evaluate(ref, [g4, model], tmp_path / "out", train=train, val=val, config=cfg)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    line = warnings[0]
    assert f"reference {ref}: offline tables version 4" in line
    assert f"training {train}: offline tables version 3" in line
    assert f"validation {val}: offline tables version 4" in line
    assert f"candidate 'g4' {g4}: official data" in line
    assert "model.h5" not in line
