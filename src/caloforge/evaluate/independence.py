"""Is a test file independent of the files a model was trained and selected on?

Two files share events when they are the same file, when they hold identical showers (a
content hash of each row: incident energy and voxel energies), or when both were simulated
by ``caloforge simulate`` with the same seed and the same settings (event ``i`` of a run
depends only on the seed and ``i``, so such files repeat each other's first events).
:func:`require_independent` refuses such a test file with one line naming both files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caloforge.data import ShowerFile

_RUN_KEYS = ("n", "workers", "chunk_size", "shard")
"""Simulation settings that do not change which events a seed produces."""


@dataclass(frozen=True)
class SharedEvents:
    """What two shower files have in common (nothing when :attr:`shared` is false)."""

    same_file: bool
    identical_showers: int
    same_seed: int | None

    @property
    def shared(self) -> bool:
        return self.same_file or self.identical_showers > 0 or self.same_seed is not None

    def describe(self) -> str:
        if self.same_file:
            return "they are the same file"
        parts = []
        if self.identical_showers:
            parts.append(f"{self.identical_showers} identical showers")
        if self.same_seed is not None:
            parts.append(f"the same simulation seed ({self.same_seed}) and settings")
        return " and ".join(parts)


def shower_hashes(data: ShowerFile, chunk: int = 10_000) -> set[bytes]:
    """A 16-byte content hash of every row (incident energy and voxels, float32)."""
    out: set[bytes] = set()
    for start in range(0, len(data), chunk):
        stop = min(start + chunk, len(data))
        energy = data.read("incident_energies", start, stop).astype("<f4").reshape(-1, 1)
        showers = data.showers(start, stop).astype("<f4")
        for e, row in zip(energy, showers, strict=True):
            out.add(hashlib.blake2b(e.tobytes() + row.tobytes(), digest_size=16).digest())
    return out


def _simulation(attrs: dict[str, Any]) -> tuple[int, str] | None:
    """(seed, settings) of a ``caloforge simulate`` file, else ``None``."""
    if "seed" not in attrs or "config" not in attrs:
        return None
    try:
        config = json.loads(attrs["config"]) if isinstance(attrs["config"], str) else None
        seed = int(attrs["seed"])
    except (TypeError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    settings = {k: v for k, v in config.items() if k not in _RUN_KEYS}
    return seed, json.dumps(settings, sort_keys=True)


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or a.samefile(b)
    except OSError:
        return False


def shared_events(a: ShowerFile, b: ShowerFile) -> SharedEvents:
    """What files ``a`` and ``b`` share: same file, identical showers, same seed."""
    if any(_same_path(p, q) for p in a.paths for q in b.paths):
        return SharedEvents(True, 0, None)
    sa, sb = _simulation(a.attrs), _simulation(b.attrs)
    seed = sa[0] if sa is not None and sa == sb else None
    identical = len(shower_hashes(a) & shower_hashes(b))
    return SharedEvents(False, identical, seed)


def require_independent(
    test: ShowerFile, others: dict[str, ShowerFile], what: str = "the reference"
) -> None:
    """Refuse a test file that shares events with any of ``others`` (role -> file);
    ``what`` names the test file's role in the message.

    Raises:
        ValueError: one line naming both files and what they share.
    """
    for role, other in others.items():
        shared = shared_events(test, other)
        if shared.shared:
            names = ", ".join(map(str, test.paths))
            other_names = ", ".join(map(str, other.paths))
            raise ValueError(
                f"{names} and {other_names} (the {role} file) share events: "
                f"{shared.describe()}; {what} must be independent of the {role} file"
            )


__all__ = ["SharedEvents", "require_independent", "shared_events", "shower_hashes"]
