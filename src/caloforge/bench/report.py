"""Measurements of a ``caloforge bench`` run: rows, Geant4 timings, JSON and Markdown."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from caloforge.bench.machine import machine_line
from caloforge.files import write_text


@dataclass(frozen=True)
class BenchRow:
    """One (model, backend, batch) measurement; times in ms per shower."""

    model: str
    backend: str
    family: str
    detector: str
    n_voxels: int
    device: str
    threads: int
    batch: int
    repeats: int
    ms_per_shower: float
    ms_min: float
    ms_max: float
    ms_iqr: float
    showers_per_s: float
    peak_memory_mb: float
    flops_per_shower: float | None
    load: tuple[float, float, float]
    speedup: float | None = None
    precision: str = "fp32"
    note: str = ""
    """What was timed besides the file as it is: ``untrained, DETECTOR``, ``without
    refiner``; empty for the model as stored."""

    @property
    def label(self) -> str:
        """The model as tables show it: the file name, then the note in brackets."""
        return Path(self.model).name + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class Geant4Timing:
    """Geant4 CPU time per shower of a small sample (``cpu_time`` column); the mean (total
    CPU time / showers) is the comparator of the speed-up, as the model's time is also an
    average over the same energy distribution."""

    detector: str
    particle: str
    n: int
    energy: str
    ms_median: float
    ms_mean: float
    energy_mean_mev: float
    load: tuple[float, float, float]
    wall_s: float
    settings: dict[str, Any] = field(default_factory=dict)
    """The settings of the model's training file (physics list, production cut, scoring
    pitch and mode, approximate hadronic data) that differ from the defaults of a
    simulation of this particle in this detector; empty when it took those."""


def _settings(settings: dict[str, Any]) -> str:
    return "".join(f", {k}={v}" for k, v in settings.items())


@dataclass
class BenchReport:
    """All measurements of one ``caloforge bench`` run."""

    rows: list[BenchRow]
    geant4: dict[str, Geant4Timing] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": [asdict(r) for r in self.rows],
            "geant4": {k: asdict(v) for k, v in self.geant4.items()},
            "machine": self.machine,
        }

    def write_json(self, path: str | Path) -> Path:
        return write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    def markdown(self) -> str:
        """A Markdown table (for the README), one line per measurement."""
        lines = [
            "| model (file) | backend | precision | detector (voxels) | batch | threads "
            "| ms/shower (median) | spread (min-max) | showers/s | peak MB | MFLOP/shower "
            "| Geant4 ms/shower (mean) | speed-up | load (1 min) |",
            "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            g4 = self.geant4.get(r.detector)
            flops = f"{r.flops_per_shower / 1e6:.2f}" if r.flops_per_shower else "-"
            g4_ms = f"{g4.ms_mean:.4g}" if g4 is not None else "-"
            speedup = f"{r.speedup:.4g}" if r.speedup is not None else "-"
            lines.append(
                f"| {r.family} ({r.label}) | {r.backend} "
                f"| {r.precision} | {r.detector} ({r.n_voxels}) | {r.batch} | {r.threads} "
                f"| {r.ms_per_shower:.4g} | {r.ms_min:.3g}-{r.ms_max:.3g} "
                f"| {r.showers_per_s:.4g} | {r.peak_memory_mb:.0f} | {flops} "
                f"| {g4_ms} | {speedup} | {r.load[0]:.2f} |"
            )
        for g in self.geant4.values():
            lines.append("")
            lines.append(
                f"Geant4 ({g.detector}, {g.particle}, {g.n} showers, energies {g.energy}, "
                f"mean {g.energy_mean_mev / 1000:.1f} GeV{_settings(g.settings)}): "
                f"{g.ms_mean:.4g} ms/shower on average "
                f"(CPU time; median {g.ms_median:.4g}), load {g.load[0]:.2f}. Speed-up = "
                "Geant4 mean / model median."
            )
        lines.append("")
        lines.append(f"Machine: {machine_line(self.machine)}.")
        return "\n".join(lines) + "\n"


__all__ = ["BenchReport", "BenchRow", "Geant4Timing"]
