"""A bad detector description gets one clear error naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from caloforge.geometry import DetectorError, load_detector

GOOD = """
name = "tiny"
size_x = 40.0
size_y = 40.0

[[layers]]
absorber = "Pb"
absorber_thickness = 2.0
active = "LAr"
active_thickness = 4.0
repeat = 4

[[readout]]
group = 2
repeat = 2
segmentation = "cartesian"
nx = 4
ny = 4
cell_x = 10.0
cell_y = 10.0
"""


def _write(tmp_path: Path, text: str, name: str = "det.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_file_loads(tmp_path: Path) -> None:
    det = load_detector(_write(tmp_path, GOOD))
    assert det.n_voxels == 32 and len(det.layers) == 4 and det.n_layers == 2


def test_yaml_and_json_equivalent(tmp_path: Path) -> None:
    import json
    import tomllib

    import yaml

    data = tomllib.loads(GOOD)
    a = load_detector(_write(tmp_path, yaml.safe_dump(data), "d.yaml"))
    b = load_detector(_write(tmp_path, json.dumps(data), "d.json"))
    assert a == b == load_detector(_write(tmp_path, GOOD))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('absorber = "Pb"', 'absorber = "Pbb"', r"layers\[0\]\.absorber: unknown material 'Pbb'"),
        (
            "absorber_thickness = 2.0",
            "absorber_thickness = 0.0",
            r"absorber_thickness: must be positive",
        ),
        (
            "active_thickness = 4.0",
            "active_thickness = -1.0",
            r"active_thickness: must be positive",
        ),
        ("repeat = 2\n", "repeat = 3\n", r"cover 6 sampling layers but the stack has 4"),
        ('segmentation = "cartesian"', 'segmentation = "spiral"', r"unknown segmentation 'spiral'"),
        ("nx = 4", "nx = 40", r"larger than the detector"),
        ("nx = 4", 'nx = "four"', r"nx: expected a positive integer"),
        ("cell_x = 10.0", "cell_y2 = 1.0\ncell_x = 10.0", r"unknown field\(s\) cell_y2"),
        ('name = "tiny"', "", r"name: missing"),
        (
            "cell_y = 10.0\n",
            'cell_y = 10.0\n\n[physics]\nscoring = "mesh"\n',
            r"physics\.scoring: 'mesh' not in parallel, replica, steps",
        ),
    ],
)
def test_bad_field_is_named(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(DetectorError, match=message):
        load_detector(_write(tmp_path, GOOD.replace(old, new, 1)))


def test_unknown_preset_and_bad_syntax(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="no such detector file or preset"):
        load_detector("atlas-pblarr")
    with pytest.raises(DetectorError, match="cannot parse"):
        load_detector(_write(tmp_path, "name = [", "bad.toml"))
    with pytest.raises(DetectorError, match="unknown detector file type"):
        load_detector(_write(tmp_path, GOOD, "det.txt"))


def test_gun_must_point_into_calorimeter(tmp_path: Path) -> None:
    text = GOOD + '\n[gun]\nparticle = "gamma"\ndirection = [0.0, 0.0, -1.0]\n'
    with pytest.raises(DetectorError, match=r"gun\.direction"):
        load_detector(_write(tmp_path, text))
    text = GOOD + '\n[gun]\nparticle = "muon"\n'
    with pytest.raises(DetectorError, match=r"gun\.particle: unknown particle 'muon'"):
        load_detector(_write(tmp_path, text))
