"""``caloforge merge``: shards of one run come back in event order; other files are
concatenated; bad inputs give one-line errors. TOY shower files only."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scale_helpers import write_toy_shards
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.data import ShowerFile, write_showers
from caloforge.files import OutputError
from caloforge.geometry import Detector
from caloforge.simulate import MergeError, merge_showers
from caloforge.testing import toy_showers


def _all(path: Path) -> dict[str, np.ndarray]:
    f = ShowerFile(path)
    return {k: f.read(k) for k in f.keys()}


def test_merge_of_shards_equals_the_single_file(toy_det: Detector, tmp_path: Path) -> None:
    paths, (showers, cond, extra) = write_toy_shards(tmp_path, toy_det, 11, 3)
    single = write_showers(
        tmp_path / "single.h5", showers, cond, toy_det, extras={"cpu_time": extra}
    )
    # given in any order, with a tiny block size so that the streaming path is exercised
    result = merge_showers(tmp_path / "merged.h5", paths[::-1], block=4)
    assert result.event_order and result.showers == 11
    merged, ref = _all(result.path), _all(single)
    assert sorted(merged) == sorted(ref)
    for key in ref:
        assert np.array_equal(merged[key], ref[key]), key
    f = ShowerFile(result.path)
    assert f.attrs["merged_from"]
    assert '"shard": null' in f.attrs["config"]
    # the shards also read as one dataset (shard order, the same showers)
    as_one = ShowerFile(paths)
    assert len(as_one) == 11
    assert np.array_equal(np.sort(as_one.showers(), axis=0), np.sort(showers, axis=0))


def test_other_files_are_concatenated(toy_det: Detector, tmp_path: Path) -> None:
    a = write_showers(tmp_path / "a.h5", *toy_showers(toy_det, 5, seed=1), toy_det)
    b = write_showers(tmp_path / "b.h5", *toy_showers(toy_det, 3, seed=2), toy_det)
    result = merge_showers(tmp_path / "ab.h5", [a, b])
    assert not result.event_order
    out = ShowerFile(result.path).showers()
    assert np.array_equal(out, np.concatenate([ShowerFile(a).showers(), ShowerFile(b).showers()]))
    # an incomplete shard set is concatenated too, and --concat forces concatenation
    paths, _ = write_toy_shards(tmp_path, toy_det, 9, 3)
    assert not merge_showers(tmp_path / "two.h5", paths[:2]).event_order
    assert not merge_showers(tmp_path / "cat.h5", paths, order="concat").event_order
    # shards of runs with different settings are not interleaved
    other, _ = write_toy_shards(tmp_path / "other", toy_det, 9, 3, {"seed": 99})
    assert not merge_showers(tmp_path / "mixed.h5", [paths[0], other[1], paths[2]]).event_order


def test_bad_inputs_give_one_line_errors(toy_det: Detector, tmp_path: Path) -> None:
    a = write_showers(tmp_path / "a.h5", *toy_showers(toy_det, 4, seed=1), toy_det)
    s, c = toy_showers(toy_det, 4, seed=2)
    extra = write_showers(tmp_path / "x.h5", s, c, toy_det, extras={"cpu_time": np.ones(4)})
    with pytest.raises(MergeError, match="columns"):
        merge_showers(tmp_path / "m.h5", [a, extra])
    with pytest.raises(OutputError, match="also an input"):
        merge_showers(a, [a, extra], overwrite=True)
    os.link(a, tmp_path / "same-inode.h5")
    with pytest.raises(OutputError, match="also an input"):
        merge_showers(tmp_path / "same-inode.h5", [a, extra], overwrite=True)
    with pytest.raises(MergeError, match="no input"):
        merge_showers(tmp_path / "m.h5", [])
    other = dataclasses.replace(toy_det, name="toy-renamed")
    b = write_showers(tmp_path / "b.h5", *toy_showers(other, 4, seed=3), other)
    with pytest.raises(MergeError, match="detector"):
        merge_showers(tmp_path / "m.h5", [a, b])
    merge_showers(tmp_path / "m.h5", [a])
    with pytest.raises(FileExistsError, match="overwrite"):
        merge_showers(tmp_path / "m.h5", [a])

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "caloforge", "merge", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    bad = cli(str(tmp_path / "c.h5"), str(a), str(tmp_path / "none.h5"))
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "none.h5: no such file" in bad.stderr
    ok = CliRunner().invoke(app, ["merge", str(tmp_path / "c.h5"), str(a), str(a)])
    assert ok.exit_code == 0, ok.output
    assert "8 showers" in ok.output and "concatenated" in ok.output
