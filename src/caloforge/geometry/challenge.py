"""Readout geometry from a Fast Calorimeter Simulation Challenge binning XML file (dataset 1).

The file lists, per layer, radial bin edges (mm) and the number of angular bins::

    <Bins><Bin pid="22" name="photon">
      <Layer id="0" r_edges="0,5,10,30,50,100,200,400,600" n_bin_alpha="1"/> ...

A layer whose ``r_edges`` holds a single value has no voxels. Voxels are ordered layer by
layer, angle-major within a layer, as in the Challenge files. The binning file does not
describe the material stack, so the detector built here carries a nominal one-slab-per-layer
stack (marked in its description): it is meant for reading, evaluating and training on such
files, not for simulating them.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path

from caloforge.geometry.detector import Detector, DetectorError, Gun, ReadoutLayer, SamplingLayer
from caloforge.geometry.segmentation import CylindricalSegmentation


def detector_from_challenge_binning(path: str | Path, particle: str | None = None) -> Detector:
    """Build a :class:`Detector` from a Challenge binning XML file.

    Arguments:
        path: the binning file.
        particle: the ``name`` of the ``<Bin>`` element to use (default: the first).

    Raises:
        ValueError: unreadable XML, unknown particle or malformed layer attributes,
            with the file and element named.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise DetectorError(f"{path}: cannot read binning XML: {exc}") from None
    bins = [b for b in root if b.tag == "Bin"]
    if particle is not None:
        bins = [b for b in bins if b.get("name") == particle]
    if not bins:
        raise DetectorError(
            f"{path}: no <Bin> element" + (f" named {particle!r}" if particle else "")
        )
    chosen = bins[0]
    readout = []
    radial_edges: list[tuple[float, ...]] = []
    for i, layer in enumerate(chosen.iter("Layer")):
        try:
            edges = tuple(float(v) for v in layer.get("r_edges", "").split(","))
            n_alpha = int(layer.get("n_bin_alpha", "1"))
        except ValueError:
            raise DetectorError(
                f"{path}: Layer id={layer.get('id')}: bad r_edges or n_bin_alpha"
            ) from None
        if any(b <= a for a, b in itertools.pairwise(edges)) or n_alpha < 1:
            raise DetectorError(
                f"{path}: Layer id={layer.get('id')}: r_edges must increase, n_bin_alpha >= 1"
            )
        readout.append(ReadoutLayer(i, i, CylindricalSegmentation(n_alpha, edges)))
        radial_edges.append(edges)
    if not readout:
        raise DetectorError(f"{path}: <Bin> has no <Layer> elements")
    size = 2 * max(edges_of[-1] for edges_of in radial_edges) or 1.0
    name = chosen.get("name", "particle")
    return Detector(
        name=f"challenge-binning-{path.stem}",
        description=f"readout of {path.name} ({name}); nominal material stack, not for simulation",
        layers=tuple(SamplingLayer("LAr", 1.0, "Pb", 1.0) for _ in readout),
        size_x=size,
        size_y=size,
        readout=tuple(readout),
        gun=Gun(particle=_GUN_PARTICLE.get(name, "gamma")),
    )


_GUN_PARTICLE = {"photon": "gamma", "pion": "pi+", "electron": "e-"}
