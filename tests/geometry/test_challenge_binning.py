"""Challenge dataset-1 binning XML files give the readout geometry of their showers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from caloforge.data import Conditions, read_showers, write_showers
from caloforge.geometry import DetectorError, load_detector

XML = """<Bins>
  <Bin pid="22" etaMin="0" etaMax="130" name="photon">
    <Layer id="0" r_edges="0,5,10,30" n_bin_alpha="1"/>
    <Layer id="1" r_edges="0,2,4,6,8" n_bin_alpha="10"/>
    <Layer id="2" r_edges="0" n_bin_alpha="1"/>
    <Layer id="3" r_edges="0,50,100" n_bin_alpha="1"/>
  </Bin>
</Bins>
"""


def test_binning_file_layout(tmp_path: Path) -> None:
    path = tmp_path / "binning_dataset_1_photons.xml"
    path.write_text(XML)
    det = load_detector(path)
    assert det.layer_sizes == (3, 40, 0, 2)
    assert det.n_voxels == 45
    seg = det.readout[1].segmentation
    # angle-major within a layer: (alpha bin 2, r bin 1) -> 2 * 4 + 1
    r, a = 3.0, (2.5 / 10) * 2 * np.pi
    assert seg.cell_index(r * np.cos(a), r * np.sin(a)) == 9
    assert "not for simulation" in det.description
    # files written with it read back with the same geometry
    showers = np.ones((2, 45), np.float32)
    out = write_showers(tmp_path / "s.h5", showers, Conditions.create([1e3, 2e3]), det)
    assert read_showers(out)[2] == det


def test_bad_binning_file(tmp_path: Path) -> None:
    path = tmp_path / "b.xml"
    path.write_text(XML.replace('r_edges="0,2,4,6,8"', 'r_edges="0,4,2"'))
    with pytest.raises(DetectorError, match="Layer id=1: r_edges must increase"):
        load_detector(path)
    path.write_text("<Bins><Bin")
    with pytest.raises(DetectorError, match="cannot read binning XML"):
        load_detector(path)
