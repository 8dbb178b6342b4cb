"""Do the Geant4 files of an evaluation come from the same Geant4 data?

Every ``caloforge simulate`` file records its data in the attribute ``generator``, key
``g4data``: the mode (``official`` or ``offline``) and, offline, the version of the
generated tables (``generator_version``; see :mod:`caloforge.simulate.g4data`). Files
of other offline versions, or official against offline data, are other physics:
comparing them is legitimate (that is how the versions are measured), but a reference,
training and validation file of different versions is more often a mistake, so
:func:`mixed_tables_versions` names them. Model output records no Geant4 data and is left
out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from caloforge.data import ShowerFile


def tables_version(data: ShowerFile) -> str | None:
    """The Geant4 data of a simulated file: ``"official data"``, ``"offline tables
    version N"`` (``"offline tables of unrecorded version"`` for files that predate the
    record), or ``None`` for a file that is not Geant4 output (e.g. a model's)."""
    raw = data.attrs.get("generator")
    try:
        generator = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    g4data = generator.get("g4data") if isinstance(generator, dict) else None
    if not isinstance(g4data, dict):
        return None
    if g4data.get("mode") == "official":
        return "official data"
    version = g4data.get("generator_version")
    if version in (None, ""):
        return "offline tables of unrecorded version"
    return f"offline tables version {version}"


def mixed_tables_versions(files: Mapping[str, ShowerFile]) -> str | None:
    """One line naming each Geant4 file (role -> file) and its data when they differ,
    else ``None``."""
    versions = {role: tables_version(data) for role, data in files.items()}
    found = {role: v for role, v in versions.items() if v is not None}
    if len(set(found.values())) < 2:
        return None
    named = "; ".join(
        f"{role} {', '.join(str(Path(p)) for p in files[role].paths)}: {v}"
        for role, v in found.items()
    )
    return f"the Geant4 files were simulated with different Geant4 data ({named})"


__all__ = ["mixed_tables_versions", "tables_version"]
