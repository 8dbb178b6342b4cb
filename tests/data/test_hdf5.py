"""The HDF5 shower schema: round trips, shards, Challenge files and bad input."""

from __future__ import annotations

import socket
from pathlib import Path

import h5py
import numpy as np
import pytest

from caloforge.data import (
    Conditions,
    ShowerFile,
    ShowerFileError,
    ShowerWriter,
    condition_features,
    describe,
    read_showers,
    write_showers,
)
from caloforge.geometry import load_detector

DET = load_detector("atlas-pblar")


def _random_showers(n: int, seed: int = 0) -> tuple[np.ndarray, Conditions]:
    """Random non-negative arrays in the atlas-pblar layout (a format fixture, not physics)."""
    rng = np.random.default_rng(seed)
    energy = np.exp(rng.uniform(np.log(1e3), np.log(1e5), n))
    showers = (
        rng.exponential(1.0, (n, DET.n_voxels)) * (rng.random((n, DET.n_voxels)) < 0.2)
    ).astype(np.float32)
    return showers, Conditions.create(energy, "gamma", impact=(2.5, 2.5, 0.0))


def test_round_trip_keeps_values_and_attributes(tmp_path: Path) -> None:
    showers, cond = _random_showers(50)
    path = write_showers(
        tmp_path / "a.h5",
        showers,
        cond,
        DET,
        attrs={"seed": 7, "config": {"n": 50}},
        extras={"cpu_time": np.arange(50.0)},
    )
    back, cond2, det = read_showers(path)
    assert det == DET
    np.testing.assert_array_equal(back, showers)
    np.testing.assert_allclose(cond2.energy, cond.energy, rtol=1e-6)
    assert np.all(cond2.particle == 22)
    np.testing.assert_allclose(cond2.impact[:, :2], 2.5)
    with h5py.File(path) as f:
        assert f["incident_energies"].shape == (50, 1)
        assert f["showers"].compression == "gzip"
        assert f.attrs["seed"] == 7 and f.attrs["caloforge_schema"] == 1
        assert f["cpu_time"][3] == 3.0


def test_never_overwrites_without_permission(tmp_path: Path) -> None:
    showers, cond = _random_showers(5)
    path = write_showers(tmp_path / "a.h5", showers, cond, DET)
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_showers(path, showers[:2], cond.select(slice(0, 2)), DET)
    assert len(ShowerFile(path)) == 5
    write_showers(path, showers[:2], cond.select(slice(0, 2)), DET, overwrite=True)
    assert len(ShowerFile(path)) == 2


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    showers, cond = _random_showers(5)
    with (
        pytest.raises(ValueError, match="do not match detector"),
        ShowerWriter(tmp_path / "x.h5", DET) as w,
    ):
        w.append(showers[:, :100], cond)
    assert list(tmp_path.iterdir()) == []


def test_shards_read_as_one_dataset_in_chunks(tmp_path: Path) -> None:
    showers, cond = _random_showers(30)
    paths = [
        write_showers(
            tmp_path / f"s{i}.h5",
            showers[i * 10 : (i + 1) * 10],
            cond.select(slice(i * 10, (i + 1) * 10)),
            DET,
        )
        for i in range(3)
    ]
    data = ShowerFile(paths)
    assert len(data) == 30
    np.testing.assert_array_equal(data.showers(5, 25), showers[5:25])
    chunks = list(data.iter_chunks(7))
    assert [len(c[0]) for c in chunks] == [7, 7, 7, 7, 2]
    np.testing.assert_array_equal(np.concatenate([c[0] for c in chunks]), showers)
    summary = describe(paths)
    assert summary["showers"] == 30 and summary["detector"] == "atlas-pblar"
    assert summary["particles"] == [22] and summary["theta_deg"] == [0.0, 0.0]
    assert summary["impact_x_mm"] == [2.5, 2.5] == summary["impact_y_mm"]


def _challenge_file(path: Path, energies: np.ndarray, showers: np.ndarray, **attrs: str) -> Path:
    with h5py.File(path, "w") as f:
        f.create_dataset("incident_energies", data=energies.reshape(-1, 1))
        f.create_dataset("showers", data=showers)
        for k, v in attrs.items():
            f.attrs[k] = v
    return path


def test_challenge_layout_files_need_or_carry_a_detector(tmp_path: Path) -> None:
    showers, cond = _random_showers(4)
    bare = _challenge_file(tmp_path / "bare.h5", cond.energy, showers)
    with pytest.raises(ShowerFileError, match="does not say which detector"):
        ShowerFile(bare)
    assert ShowerFile(bare, "atlas-pblar").detector == DET
    named = _challenge_file(
        tmp_path / "named.h5", cond.energy, showers, detector="atlas-pblar", particle="gamma"
    )
    data = ShowerFile(named)
    assert data.detector == DET and np.all(data.conditions().particle == 22)
    with pytest.raises(ShowerFileError, match="is for detector 'atlas-pblar', not 'ild-wsi'"):
        ShowerFile(named, "ild-wsi")
    ds2 = load_detector("calochallenge-ds2")
    rng = np.random.default_rng(1)
    ds2_file = _challenge_file(
        tmp_path / "ds2.h5", np.full(3, 1e4), rng.random((3, 6480)).astype(np.float32)
    )
    s, _, det = read_showers(ds2_file, "calochallenge-ds2")
    assert s.reshape(3, 45, 16, 9).shape == (3, 45, 16, 9) and det == ds2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "no such file"),
        (lambda p: (p.write_text("not hdf5"), p)[1], "not an HDF5 file"),
        (
            lambda p: _challenge_file(
                p, np.ones(3), np.ones((3, 10), np.float32), detector="atlas-pblar"
            ),
            r"'showers' has shape \(3, 10\), expected \(N, 504\)",
        ),
        (
            lambda p: _challenge_file(
                p, np.ones(0), np.ones((0, 504), np.float32), detector="atlas-pblar"
            ),
            "holds no showers",
        ),
        (
            lambda p: _challenge_file(
                p, np.ones(3), np.ones((4, 504), np.float32), detector="atlas-pblar"
            ),
            "4 showers but 3 incident energies",
        ),
    ],
)
def test_bad_files_get_one_line_errors(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path / "bad.h5")
    with pytest.raises(ShowerFileError, match=message):
        ShowerFile(path)


def test_missing_key(tmp_path: Path) -> None:
    path = tmp_path / "nokey.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("showers", data=np.ones((2, 504)))
    with pytest.raises(ShowerFileError, match="missing dataset 'incident_energies'"):
        ShowerFile(path, DET)


def test_group_in_place_of_a_dataset(tmp_path: Path) -> None:
    path = tmp_path / "group.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("incident_energies", data=np.ones((2, 1)))
        f.create_group("showers").create_dataset("data", data=np.ones((2, 504)))
    with pytest.raises(ShowerFileError, match=r"group\.h5: 'showers' is an HDF5 group, not a"):
        ShowerFile(path, DET)


def test_write_leaves_no_lock_or_temporary_and_cleans_orphans(tmp_path: Path) -> None:
    orphan = tmp_path / ".a.h5.999999999@elsewhere.0badc0de.tmp"  # another host's: kept
    dead = tmp_path / f".a.h5.{2**22 + 1}@{socket.gethostname()}.0badc0de.tmp"
    for p in (orphan, dead):
        p.write_bytes(b"partial")
    showers, cond = _random_showers(3)
    write_showers(tmp_path / "a.h5", showers, cond, DET)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.h5", orphan.name])


@pytest.mark.parametrize(
    ("energy", "value", "message"),
    [
        (np.nan, 1.0, r"'incident_energies' row 1 is nan"),
        (-5.0, 1.0, r"'incident_energies' row 1 is -5.0"),
        (10.0, np.nan, r"'showers' row 1 holds NaN/inf"),
        (10.0, -1.0, r"'showers' row 1 holds negative"),
    ],
)
def test_bad_values_are_reported(tmp_path: Path, energy: float, value: float, message: str) -> None:
    e = np.array([10.0, energy, 10.0])
    s = np.ones((3, 504), np.float32)
    s[1, 7] = value
    data = ShowerFile(_challenge_file(tmp_path / "v.h5", e, s, detector="atlas-pblar"))
    with pytest.raises(ShowerFileError, match=message):
        data.conditions() if "incident" in message else data.showers()


def test_condition_features_layout() -> None:
    cond = Conditions.create(
        [1000.0, 10000.0], ["gamma", "e-"], direction=(0, 0, 1), impact=(1.0, 2.0, 0.0)
    )
    f = condition_features(cond)
    assert f.shape == (2, 6) and f.dtype == np.float32
    np.testing.assert_allclose(f[:, 0], [0.0, np.log(10.0)], atol=1e-6)
    assert f[0, 1] != f[1, 1]
    np.testing.assert_allclose(f[:, 2], 0.0)
    np.testing.assert_allclose(f[:, 4:], [[1.0, 2.0], [1.0, 2.0]])
    with pytest.raises(ValueError, match="unknown particle 'muon'"):
        Conditions.create([1.0], "muon")
    with pytest.raises(ValueError, match="finite and positive"):
        Conditions.create([1.0, -2.0])
