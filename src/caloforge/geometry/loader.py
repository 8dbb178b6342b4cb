"""Load detector descriptions from TOML, YAML or JSON files and built-in presets.

Every field is validated and a bad value raises :class:`DetectorError` naming the file
and the field, e.g. ``atlas.toml: layers[0].absorber: unknown material 'Pbb'``.
The file format is documented in ``docs/architecture.md``.
"""

from __future__ import annotations

import itertools
import json
import math
import tomllib
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

from caloforge.geometry.challenge import detector_from_challenge_binning
from caloforge.geometry.detector import (
    SCORING_MODES,
    Detector,
    DetectorError,
    Gun,
    PhysicsSettings,
    ReadoutLayer,
    SamplingLayer,
)
from caloforge.geometry.materials import get_material
from caloforge.geometry.segmentation import (
    CartesianSegmentation,
    CylindricalSegmentation,
    HexagonalSegmentation,
    Segmentation,
)

PHYSICS_LISTS = ("em_opt0", "em_opt4", "FTFP_BERT")
PARTICLES = ("e-", "e+", "gamma", "pi+", "pi-")


def preset_names() -> list[str]:
    """Names of the built-in detector presets."""
    folder = resources.files("caloforge.geometry") / "presets"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_detector(name_or_path: str | Path) -> Detector:
    """Load a preset by name, or a detector file (``.toml``, ``.yaml``/``.yml``, ``.json``).

    Raises:
        DetectorError: unknown preset, unreadable file, or an invalid field.
    """
    text_name = str(name_or_path)
    if text_name in preset_names():
        res = resources.files("caloforge.geometry") / "presets" / f"{text_name}.toml"
        return detector_from_dict(tomllib.loads(res.read_text()), source=f"preset {text_name}")
    path = Path(name_or_path)
    if not path.exists():
        raise DetectorError(
            f"{text_name}: no such detector file or preset (presets: {', '.join(preset_names())})"
        )
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(path.read_text())
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text())
        elif suffix == ".json":
            data = json.loads(path.read_text())
        elif suffix == ".xml":
            return detector_from_challenge_binning(path)
        else:
            raise DetectorError(
                f"{path}: unknown detector file type {suffix!r} (use .toml, .yaml, .json, "
                "or a Challenge binning .xml)"
            )
    except DetectorError:
        raise
    except Exception as exc:  # parser errors of three libraries
        raise DetectorError(f"{path}: cannot parse: {exc}") from None
    if not isinstance(data, dict):
        raise DetectorError(f"{path}: expected a mapping at the top level")
    return detector_from_dict(data, source=str(path))


# ---------------------------------------------------------------------------------------
class _Fields:
    """Typed access to one mapping of a description, with errors naming the field."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise DetectorError(f"{where}: expected a table/mapping, got {type(data).__name__}")
        self.data = dict(data)
        self.where = where

    def _err(self, key: str, msg: str) -> DetectorError:
        return DetectorError(f"{self.where}.{key}: {msg}")

    def number(self, key: str, default: float | None = None, *, positive: bool = True) -> float:
        if key not in self.data:
            if default is None:
                raise self._err(key, "missing")
            return default
        value = self.data.pop(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self._err(key, f"expected a number, got {value!r}")
        if positive and value <= 0:
            raise self._err(key, f"must be positive, got {value!r}")
        return float(value)

    def integer(self, key: str, default: int | None = None) -> int:
        if key not in self.data:
            if default is None:
                raise self._err(key, "missing")
            return default
        value = self.data.pop(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self._err(key, f"expected a positive integer, got {value!r}")
        return value

    def string(self, key: str, default: str | None = None) -> str:
        if key not in self.data:
            if default is None:
                raise self._err(key, "missing")
            return default
        value = self.data.pop(key)
        if not isinstance(value, str):
            raise self._err(key, f"expected a string, got {value!r}")
        return value

    def vector(self, key: str, default: tuple[float, ...], n: int) -> tuple[float, ...]:
        value = self.data.pop(key, default)
        if (
            not isinstance(value, list | tuple)
            or len(value) != n
            or not all(isinstance(v, int | float) and math.isfinite(v) for v in value)
        ):
            raise self._err(key, f"expected {n} numbers, got {value!r}")
        return tuple(float(v) for v in value)

    def material(self, key: str) -> str:
        name = self.string(key)
        try:
            get_material(name)
        except KeyError as exc:
            raise self._err(key, str(exc.args[0])) from None
        return name

    def done(self) -> None:
        if self.data:
            raise DetectorError(f"{self.where}: unknown field(s) {', '.join(sorted(self.data))}")


def _layers(items: Any, where: str) -> tuple[SamplingLayer, ...]:
    if not isinstance(items, list) or not items:
        raise DetectorError(f"{where}: expected a non-empty list of layers")
    out: list[SamplingLayer] = []
    for i, item in enumerate(items):
        f = _Fields(item, f"{where}[{i}]")
        repeat = f.integer("repeat", 1)
        active = f.material("active")
        active_t = f.number("active_thickness")
        if "absorber" in f.data:
            absorber: str | None = f.material("absorber")
            absorber_t = f.number("absorber_thickness")
        else:
            absorber, absorber_t = None, 0.0
            if "absorber_thickness" in f.data:
                raise DetectorError(f"{f.where}.absorber_thickness: given without an absorber")
        f.done()
        out.extend([SamplingLayer(active, active_t, absorber, absorber_t)] * repeat)
    return tuple(out)


def _segmentation(f: _Fields) -> Segmentation:
    kind = f.string("segmentation")
    if kind == "cartesian":
        return CartesianSegmentation(
            f.integer("nx"), f.integer("ny"), f.number("cell_x"), f.number("cell_y")
        )
    if kind == "cylindrical":
        n_alpha = f.integer("n_alpha")
        if "r_edges" in f.data:
            edges = f.data.pop("r_edges")
            ok = (
                isinstance(edges, list)
                and len(edges) >= 1
                and all(isinstance(e, int | float) and not isinstance(e, bool) for e in edges)
            )
            if not ok or any(b <= a for a, b in itertools.pairwise(edges)) or edges[0] < 0:
                raise DetectorError(
                    f"{f.where}.r_edges: expected increasing radii >= 0, got {edges!r}"
                )
            r_edges = tuple(float(e) for e in edges)
        else:
            n_r, dr = f.integer("n_r"), f.number("dr")
            r_edges = tuple(i * dr for i in range(n_r + 1))
        return CylindricalSegmentation(n_alpha, r_edges)
    if kind == "hexagonal":
        return HexagonalSegmentation(f.integer("n_cols"), f.integer("n_rows"), f.number("side"))
    raise DetectorError(
        f"{f.where}.segmentation: unknown segmentation {kind!r} (cartesian, cylindrical, hexagonal)"
    )


def _readout(items: Any, n_sampling: int, where: str) -> tuple[ReadoutLayer, ...]:
    if not isinstance(items, list) or not items:
        raise DetectorError(f"{where}: expected a non-empty list of readout layers")
    out: list[ReadoutLayer] = []
    nxt = 0
    for i, item in enumerate(items):
        f = _Fields(item, f"{where}[{i}]")
        if "layers" in f.data:
            span = f.data.pop("layers")
            if (
                not isinstance(span, list)
                or len(span) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in span)
            ):
                raise DetectorError(f"{f.where}.layers: expected [first, last], got {span!r}")
            group, repeat = span[1] - span[0] + 1, 1
            if span[0] != nxt or group < 1:
                raise DetectorError(
                    f"{f.where}.layers: {span!r} must start at sampling layer {nxt} "
                    "(readout layers cover the stack in order, without gaps or overlaps)"
                )
        else:
            group, repeat = f.integer("group", 1), f.integer("repeat", 1)
        seg = _segmentation(f)
        f.done()
        for _ in range(repeat):
            out.append(ReadoutLayer(nxt, nxt + group - 1, seg))
            nxt += group
    if nxt != n_sampling:
        raise DetectorError(
            f"{where}: the readout layers cover {nxt} sampling layers "
            f"but the stack has {n_sampling}"
        )
    return tuple(out)


def detector_from_dict(data: dict[str, Any], source: str = "detector") -> Detector:
    """Build and validate a :class:`Detector` from a parsed description."""
    f = _Fields(data, source)
    name = f.string("name")
    description = f.string("description", "")
    size_x, size_y = f.number("size_x"), f.number("size_y")
    layers = _layers(f.data.pop("layers", None), f"{source}: layers")
    readout = _readout(f.data.pop("readout", None), len(layers), f"{source}: readout")
    for i, r in enumerate(readout):
        hx, hy = r.segmentation.extent
        if hx > size_x / 2 + 1e-6 or hy > size_y / 2 + 1e-6:
            raise DetectorError(
                f"{source}: readout[{i}]: cells span {2 * hx:g} x {2 * hy:g} mm, larger than the "
                f"detector's {size_x:g} x {size_y:g} mm"
            )
    g = _Fields(f.data.pop("gun", {}), f"{source}: gun")
    particle = g.string("particle", "gamma")
    if particle not in PARTICLES:
        raise DetectorError(
            f"{g.where}.particle: unknown particle {particle!r} ({', '.join(PARTICLES)})"
        )
    position = g.vector("position", (0.0, 0.0, -100.0), 3)
    direction = g.vector("direction", (0.0, 0.0, 1.0), 3)
    norm = math.sqrt(sum(d * d for d in direction))
    if norm == 0 or direction[2] <= 0:
        raise DetectorError(
            f"{g.where}.direction: must point into the calorimeter (+z), got {direction!r}"
        )
    if position[2] >= 0:
        raise DetectorError(f"{g.where}.position: must start upstream of the front face (z < 0)")
    g.done()
    p = _Fields(f.data.pop("physics", {}), f"{source}: physics")
    physics_list = p.string("physics_list", "em_opt0")
    if physics_list not in PHYSICS_LISTS:
        raise DetectorError(
            f"{p.where}.physics_list: {physics_list!r} not in {', '.join(PHYSICS_LISTS)}"
        )
    cut = p.number("production_cut", 0.7)
    pitch = p.number("scoring_pitch", math.inf)
    scoring = p.string("scoring", "replica")
    if scoring not in SCORING_MODES:
        raise DetectorError(f"{p.where}.scoring: {scoring!r} not in {', '.join(SCORING_MODES)}")
    p.done()
    f.done()
    return Detector(
        name=name,
        description=description,
        layers=layers,
        size_x=size_x,
        size_y=size_y,
        readout=readout,
        gun=Gun(particle, position, tuple(d / norm for d in direction)),  # type: ignore[arg-type]
        physics=PhysicsSettings(
            physics_list,
            cut,
            None if math.isinf(pitch) else pitch,
            scoring,
        ),
    )


def detector_to_dict(det: Detector, *, scoring: bool = True) -> dict[str, Any]:
    """Serialise a detector to the file format (readable back by :func:`detector_from_dict`).

    Layers and readout layers are written one entry each (no ``repeat``), so the result is
    explicit; it is what output files store in their ``detector`` attribute (as JSON).

    Arguments:
        det: the detector.
        scoring: write its scoring mode (``physics.scoring``, only when it is not
            ``"replica"``, so that the descriptions of replica detectors are those written
            before the field existed); ``False``: the description without it, the same
            for every scoring mode (:func:`same_detector`; a simulation's configuration
            records the mode it resolved beside it).
    """
    layers = []
    for la in det.layers:
        entry: dict[str, Any] = {"active": la.active, "active_thickness": la.active_thickness}
        if la.absorber is not None:
            entry |= {"absorber": la.absorber, "absorber_thickness": la.absorber_thickness}
        layers.append(entry)
    readout = []
    for r in det.readout:
        seg = asdict(r.segmentation)
        seg["segmentation"] = seg.pop("kind")
        if "r_edges" in seg:
            seg["r_edges"] = list(seg["r_edges"])
        readout.append({"layers": [r.first, r.last], **seg})
    physics: dict[str, Any] = {
        "physics_list": det.physics.physics_list,
        "production_cut": det.physics.production_cut,
    }
    if det.physics.scoring_pitch is not None:
        physics["scoring_pitch"] = det.physics.scoring_pitch
    if scoring and det.physics.scoring != "replica":
        physics["scoring"] = det.physics.scoring
    return {
        "name": det.name,
        "description": det.description,
        "size_x": det.size_x,
        "size_y": det.size_y,
        "layers": layers,
        "readout": readout,
        "gun": {
            "particle": det.gun.particle,
            "position": list(det.gun.position),
            "direction": list(det.gun.direction),
        },
        "physics": physics,
    }


def same_detector(a: Detector, b: Detector) -> bool:
    """Whether ``a`` and ``b`` describe one detector: the same description whatever their
    scoring modes. The mode is a default of the simulation, and a file records the mode it
    was simulated with (attribute ``generator``), so data of one detector simulated in
    different modes, or before the detector named its mode, are data of one detector."""
    return detector_to_dict(a, scoring=False) == detector_to_dict(b, scoring=False)


def detector_to_json(det: Detector) -> str:
    """Compact JSON of :func:`detector_to_dict`."""
    return json.dumps(detector_to_dict(det), separators=(",", ":"))


def detector_from_json(text: str, source: str = "detector") -> Detector:
    """Inverse of :func:`detector_to_json`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DetectorError(f"{source}: detector attribute is not valid JSON: {exc}") from None
    return detector_from_dict(data, source=source)
