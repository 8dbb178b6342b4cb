"""The one HDF5 reader/writer of shower files (the Fast Calorimeter Simulation Challenge layout).

Schema (version 1; see ``docs/architecture.md``):

* ``incident_energies`` (N, 1) float32, MeV; ``showers`` (N, n_voxels) float32, MeV;
* optional per-shower datasets ``particle`` (N,) int32 PDG code, ``incident_direction``
  (N, 3) float32, ``impact_point`` (N, 3) float32 mm, and any extra (N,) float arrays
  (``energy_active``, ``energy_absorber``, ``energy_leaked``, ``cpu_time``, ...);
* attributes ``caloforge_schema``, ``caloforge_version``, ``detector`` (JSON of the
  description, or a preset name in files written by others), ``units``, ``generator``
  (JSON), ``config`` (JSON of the resolved configuration) and ``seed``.

Files without ``detector`` (Challenge files) need the geometry from the caller.
Writes are atomic and locked (:mod:`caloforge.files`): data go to a temporary file beside
the target, renamed at the end; a second writer of the same file refuses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from numpy.typing import NDArray

from caloforge._version import __version__
from caloforge.data.conditions import (
    CONDITION_FIELDS,
    ConditionError,
    Conditions,
    check_conditions,
    condition_ranges,
    particle_code,
)
from caloforge.files import AtomicFile
from caloforge.geometry import (
    Detector,
    DetectorError,
    detector_from_json,
    load_detector,
    preset_names,
)
from caloforge.geometry.loader import detector_to_json

SCHEMA_VERSION = 1
CONDITION_KEYS = ("incident_energies", "particle", "incident_direction", "impact_point")
_DATASET = dict(zip(CONDITION_FIELDS, CONDITION_KEYS, strict=True))
"""Dataset of each condition field."""


class ShowerFileError(ValueError):
    """A shower file is missing, unreadable or inconsistent; the message names file and key."""


# ---------------------------------------------------------------------------------------
# writing
class ShowerWriter:
    """Append showers chunk by chunk to a new file, renamed into place on :meth:`close`.

    Example:
        >>> with ShowerWriter("out.h5", det, attrs={"seed": 1}) as w:  # doctest: +SKIP
        ...     w.append(showers, conditions, extras={"cpu_time": t})
    """

    def __init__(
        self,
        path: str | Path,
        detector: Detector,
        *,
        attrs: dict[str, Any] | None = None,
        overwrite: bool = False,
        chunk_rows: int = 1000,
    ) -> None:
        self._out = AtomicFile(path, overwrite=overwrite)
        self.path = self._out.path
        self.detector = detector
        self._chunk = max(1, min(chunk_rows, max(1, 2**22 // (4 * detector.n_voxels))))
        self.n = 0
        try:
            self._file = f = h5py.File(self._out.temp, "w")
            f.attrs["caloforge_schema"] = SCHEMA_VERSION
            f.attrs["caloforge_version"] = __version__
            f.attrs["detector"] = detector_to_json(detector)
            f.attrs["units"] = "energy: MeV, length: mm"
            for key, value in (attrs or {}).items():
                f.attrs[key] = value if isinstance(value, str | int | float) else json.dumps(value)
            self._make("incident_energies", (1,), np.float32)
            self._make("showers", (detector.n_voxels,), np.float32)
            self._make("particle", (), np.int32)
            self._make("incident_direction", (3,), np.float32)
            self._make("impact_point", (3,), np.float32)
        except BaseException:
            self.abort()
            raise

    def _make(self, key: str, tail: tuple[int, ...], dtype: type) -> None:
        self._file.create_dataset(
            key,
            shape=(0, *tail),
            maxshape=(None, *tail),
            dtype=dtype,
            chunks=(self._chunk, *tail),
            compression="gzip",
            compression_opts=4,
            shuffle=True,
        )

    def append(
        self,
        showers: NDArray[np.floating],
        conditions: Conditions,
        extras: dict[str, NDArray[np.floating]] | None = None,
    ) -> None:
        """Append N showers (N, n_voxels) with their conditions and optional extra columns."""
        showers = np.asarray(showers)
        n = len(showers)
        if showers.ndim != 2 or showers.shape[1] != self.detector.n_voxels:
            raise ValueError(
                f"showers of shape {showers.shape} do not match detector {self.detector.name!r} "
                f"({self.detector.n_voxels} voxels)"
            )
        if len(conditions) != n:
            raise ValueError(f"{len(conditions)} conditions for {n} showers")
        columns: dict[str, NDArray[Any]] = {
            "incident_energies": conditions.energy.reshape(-1, 1),
            "showers": showers,
            "particle": conditions.particle,
            "incident_direction": conditions.direction,
            "impact_point": conditions.impact,
        }
        for key, value in (extras or {}).items():
            if key not in self._file:
                if self.n:
                    raise ValueError(
                        f"extra column {key!r} must be present from the first chunk on"
                    )
                self._make(key, (), np.float32)
            columns[key] = np.asarray(value).reshape(n)
        missing = set(self._file) - set(columns)
        if missing:
            raise ValueError(f"extra column(s) {sorted(missing)} missing from this chunk")
        for key, value in columns.items():
            ds = self._file[key]
            ds.resize(self.n + n, axis=0)
            ds[self.n :] = value
        self.n += n

    def close(self) -> Path:
        """Finish the file and move it into place; returns the final path."""
        try:
            if self._file:
                self._file.close()
        except BaseException:
            self._out.discard()
            raise
        return self._out.commit()

    def abort(self) -> None:
        """Drop the temporary file; the target is left untouched."""
        with suppress(Exception):
            self._file.close()
        self._out.discard()

    def __enter__(self) -> ShowerWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_showers(
    path: str | Path,
    showers: NDArray[np.floating],
    conditions: Conditions,
    detector: Detector,
    *,
    attrs: dict[str, Any] | None = None,
    extras: dict[str, NDArray[np.floating]] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write one shower file atomically; refuses to replace an existing file unless asked."""
    with ShowerWriter(path, detector, attrs=attrs, overwrite=overwrite) as w:
        if len(showers):
            w.append(showers, conditions, extras)
    return w.path


# ---------------------------------------------------------------------------------------
# reading
@dataclass(frozen=True)
class _Part:
    path: Path
    n: int


def _open(path: Path) -> h5py.File:
    if not path.exists():
        raise ShowerFileError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise ShowerFileError(f"{path}: not an HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise ShowerFileError(f"{path}: cannot open HDF5 file: {exc}") from None


def _dataset(path: Path, f: h5py.File, key: str) -> h5py.Dataset:
    """Dataset ``key`` of an open file; missing, or a group in its place: one line."""
    if key not in f:
        raise ShowerFileError(f"{path}: missing dataset {key!r}")
    node = f[key]
    if not isinstance(node, h5py.Dataset):
        raise ShowerFileError(f"{path}: {key!r} is an HDF5 group, not a dataset")
    return node


def _resolve_detector(path: Path, f: h5py.File, given: Detector | str | Path | None) -> Detector:
    stored = f.attrs.get("detector")
    if isinstance(stored, bytes):
        stored = stored.decode()
    from_file: Detector | None = None
    if isinstance(stored, str) and stored.lstrip().startswith("{"):
        from_file = detector_from_json(stored, source=f"{path}: attribute 'detector'")
    elif isinstance(stored, str) and stored in preset_names():
        from_file = load_detector(stored)
    if given is not None:
        det = given if isinstance(given, Detector) else load_detector(given)
        if from_file is not None and from_file.name != det.name:
            raise ShowerFileError(
                f"{path}: file is for detector {from_file.name!r}, not {det.name!r}"
            )
        return det
    if from_file is None:
        raise ShowerFileError(
            f"{path}: the file does not say which detector it is for; pass one "
            f"(--detector PRESET|FILE; presets: {', '.join(preset_names())})"
        )
    return from_file


class ShowerFile:
    """One or more shower files (shards) of one detector, read lazily as one dataset.

    Arguments:
        paths: a file or a list of files (shards), concatenated in the given order.
        detector: geometry for files that do not carry it (Challenge files), or to check
            that the files are of that detector.

    Example:
        >>> data = ShowerFile("showers.h5")  # doctest: +SKIP
        >>> for showers, cond in data.iter_chunks(10_000): ...
    """

    def __init__(
        self,
        paths: str | Path | Sequence[str | Path],
        detector: Detector | str | Path | None = None,
    ) -> None:
        if isinstance(paths, str | Path):
            paths = [paths]
        if not paths:
            raise ShowerFileError("no shower file given")
        parts: list[_Part] = []
        det: Detector | None = None
        self.attrs: dict[str, Any] = {}
        for p in map(Path, paths):
            with _open(p) as f:
                for key in ("incident_energies", "showers"):
                    _dataset(p, f, key)
                d = _resolve_detector(p, f, detector if det is None else det)
                e, s = f["incident_energies"], f["showers"]
                if e.ndim != 2 or e.shape[1] != 1:
                    raise ShowerFileError(
                        f"{p}: 'incident_energies' has shape {e.shape}, expected (N, 1)"
                    )
                if s.ndim != 2 or s.shape[1] != d.n_voxels:
                    raise ShowerFileError(
                        f"{p}: 'showers' has shape {s.shape}, expected (N, {d.n_voxels}) for "
                        f"detector {d.name!r}"
                    )
                if s.shape[0] != e.shape[0]:
                    raise ShowerFileError(
                        f"{p}: {s.shape[0]} showers but {e.shape[0]} incident energies"
                    )
                if e.shape[0] == 0:
                    raise ShowerFileError(f"{p}: the file holds no showers")
                if det is not None and d.n_voxels != det.n_voxels:
                    raise ShowerFileError(f"{p}: detector differs from the first file's")
                det = d
                if not self.attrs:
                    self.attrs = {
                        k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()
                    }
                parts.append(_Part(p, int(e.shape[0])))
        assert det is not None
        self.detector: Detector = det
        self._parts = parts
        self._offsets = np.concatenate([[0], np.cumsum([p.n for p in parts])])

    @property
    def paths(self) -> list[Path]:
        return [p.path for p in self._parts]

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def keys(self) -> list[str]:
        """Per-shower datasets of the first file."""
        with h5py.File(self._parts[0].path, "r") as f:
            return list(f.keys())

    def _read_part(self, part: _Part, start: int, stop: int, key: str) -> NDArray[Any]:
        with h5py.File(part.path, "r") as f:
            return _dataset(part.path, f, key)[start:stop]

    def read(self, key: str, start: int = 0, stop: int | None = None) -> NDArray[Any]:
        """Rows ``start:stop`` of dataset ``key`` across all shards."""
        stop = len(self) if stop is None else min(stop, len(self))
        out = []
        for i, part in enumerate(self._parts):
            lo, hi = self._offsets[i], self._offsets[i + 1]
            a, b = max(start, lo), min(stop, hi)
            if a < b:
                out.append(self._read_part(part, int(a - lo), int(b - lo), key))
        if not out:
            return np.empty((0,))
        return np.concatenate(out)

    def conditions(self, start: int = 0, stop: int | None = None) -> Conditions:
        """Conditions of rows ``start:stop``; absent datasets default to the file's gun.

        Every column is validated (:func:`~caloforge.data.conditions.check_conditions`:
        finite, energies positive, PDG codes known, directions of unit length); the
        first bad value raises :class:`ShowerFileError` naming file, dataset and row.
        """
        energy = self.read("incident_energies", start, stop).reshape(-1).astype(np.float64)
        keys = set(self.keys())
        n = len(energy)
        gun = self.detector.gun
        if "particle" in keys:
            particle: Any = self.read("particle", start, stop).astype(np.int64)
        else:
            particle = self.attrs.get("particle", gun.particle)
            try:
                code = particle_code(particle if isinstance(particle, str) else int(particle))
            except ValueError as exc:
                raise ShowerFileError(
                    f"{self._parts[0].path}: attribute 'particle': {exc}"
                ) from None
            particle = np.full(n, code, dtype=np.int64)
        if "incident_direction" in keys:
            direction = self.read("incident_direction", start, stop).astype(np.float64)
        else:
            d = np.asarray(gun.direction, dtype=np.float64)
            direction = np.broadcast_to(d / np.linalg.norm(d), (n, 3))
        if "impact_point" in keys:
            impact = self.read("impact_point", start, stop).astype(np.float64)
        else:
            g = np.asarray(gun.position, dtype=np.float64)
            d = np.asarray(gun.direction, dtype=np.float64)
            impact = np.broadcast_to(g - d * g[2] / d[2], (n, 3))
        for key, value in (("incident_direction", direction), ("impact_point", impact)):
            if value.shape != (n, 3):
                raise ShowerFileError(
                    f"{self._parts[0].path}: {key!r} has shape {value.shape}, expected ({n}, 3)"
                )
        try:
            check_conditions(energy, particle, direction, impact)
        except ConditionError as exc:
            path, row = self._locate(start + exc.row)
            raise ShowerFileError(
                f"{path}: {_DATASET[exc.field]!r} row {row} {exc.problem}"
            ) from None
        unit = direction / np.linalg.norm(direction, axis=1, keepdims=True)
        return Conditions(energy, particle, unit, impact.copy())

    def _locate(self, row: int) -> tuple[Path, int]:
        """(file, row in that file) of a row of the concatenated shards."""
        k = int(np.searchsorted(self._offsets, row, side="right")) - 1
        return self._parts[k].path, row - int(self._offsets[k])

    def showers(self, start: int = 0, stop: int | None = None) -> NDArray[np.float32]:
        """Showers of rows ``start:stop`` (MeV), checked for NaN, inf and negative values."""
        s = self.read("showers", start, stop).astype(np.float32, copy=False)
        finite = np.isfinite(s)
        if not finite.all() or (s < 0).any():
            path, row = self._locate(
                int(np.argmax(~finite.all(axis=1) | (s < 0).any(axis=1))) + start
            )
            what = "NaN/inf" if not finite.all() else "negative"
            raise ShowerFileError(f"{path}: 'showers' row {row} holds {what} energies")
        return s

    def iter_chunks(self, size: int = 10_000) -> Iterator[tuple[NDArray[np.float32], Conditions]]:
        """(showers, conditions) in chunks of ``size`` rows: memory bounded by the chunk."""
        for start in range(0, len(self), size):
            yield self.showers(start, start + size), self.conditions(start, start + size)


def read_showers(
    path: str | Path | Sequence[str | Path],
    detector: Detector | str | Path | None = None,
    *,
    max_showers: int | None = None,
) -> tuple[NDArray[np.float32], Conditions, Detector]:
    """Read (showers, conditions, detector) into memory, at most ``max_showers`` rows."""
    data = ShowerFile(path, detector)
    return data.showers(0, max_showers), data.conditions(0, max_showers), data.detector


def describe(
    path: str | Path | Sequence[str | Path], detector: Detector | str | Path | None = None
) -> dict[str, Any]:
    """Summary of a shower file: counts, energy range, detector, generator
    (for ``caloforge info``)."""
    data = ShowerFile(path, detector)
    energy = data.read("incident_energies").reshape(-1)
    vis_sum = 0.0
    for start in range(0, len(data), 20_000):
        vis_sum += float(data.showers(start, start + 20_000).sum())
    ranges = condition_ranges(data.conditions(0, min(len(data), 100_000)))
    return {
        "files": [str(p) for p in data.paths],
        "showers": len(data),
        "detector": data.detector.name,
        "voxels": data.detector.n_voxels,
        "energy_min_MeV": float(energy.min()),
        "energy_max_MeV": float(energy.max()),
        "particles": ranges["particles"],
        "theta_deg": [round(float(np.degrees(v)), 3) for v in ranges["theta"]],
        "impact_x_mm": [round(v, 3) for v in ranges["impact_x"]],
        "impact_y_mm": [round(v, 3) for v in ranges["impact_y"]],
        "mean_visible_over_incident": vis_sum / float(energy.sum()),
        "datasets": data.keys(),
        "attributes": {k: v for k, v in data.attrs.items() if k != "detector"},
    }


__all__ = [
    "SCHEMA_VERSION",
    "DetectorError",
    "ShowerFile",
    "ShowerFileError",
    "ShowerWriter",
    "describe",
    "read_showers",
    "write_showers",
]
