"""The condition-by-condition targets of an evaluation, one row per figure and bin.

A model is held to these targets against the report's reference (Geant4), read from the
report's ``metrics.json`` (:func:`caloforge.evaluate.evaluate`): its ``comparisons``
(classifier test), its ``conditional`` section
(:func:`caloforge.evaluate.conditional.conditional_metrics`) and its
``layer_correlations`` (:func:`caloforge.evaluate.correlations.correlation_section`).
The tolerances are the fields of :class:`Targets`; :data:`TARGET_SETS` names two sets.

``em`` (the default; a model of the spread-condition EM mixture):

* voxel and high-level classifier AUC at most 0.65 each;
* in readout layer 1 (index 1: the second layer), the slope of the energy-weighted
  centre against the impact point within 5 % of Geant4's and its residual RMS within
  20 %, for x and for y;
* per bin of the true theta, the principal-axis angle's mean within 10 % of Geant4's
  resolution there, and its resolution within 15 % of Geant4's;
* per particle and energy bin, the response (mean E_vis / E_inc) within 1 % and the
  relative resolution within 10 % of Geant4's.

``pion`` (a model of charged pions, most of whose energy leaves the calorimeter):

* voxel and high-level classifier AUC at most 0.75 each;
* per particle and energy bin, the response (the mean of every shower's E_vis / E_inc)
  within 5 % and the relative resolution (standard deviation over mean) within 15 % of
  Geant4's: the moments, since a Gaussian-core fit picks either the MIP peak or the
  shower peak of a pion's visible energy;
* the layer energies' correlations: the largest |model - Geant4| of the Pearson
  coefficients over the pairs of readout layers at most 0.05 (one row: the worst pair,
  with the number of pairs within the tolerance);
* the centre and angle targets of ``em`` where the sample moves or tilts its particles.

Targets that do not apply to the report are left out: the centre rows when neither the
impact point nor the angle moves the track (no ``centre_vs_impact``), the angle rows when
the angles are not spread. Every row also judges the floor, the same figure of Geant4
against Geant4: for the classifier the report's floor comparison, for the rest the
reference's odd rows against its even rows (``conditional.floor``,
``layer_correlations.floor``), so that a reader sees whether Geant4 itself would reach
the target at the report's statistics.

Example:
    >>> m = json.loads(Path("report/metrics.json").read_text())  # doctest: +SKIP
    >>> rows = condition_targets(m, "flow", TARGET_SETS["pion"])
    >>> sum(r.reached for r in rows), len(rows)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from caloforge.evaluate.correlations import (
    FLOOR_HALVES,
    correlation_deviation,
    correlation_difference,
)
from caloforge.evaluate.report import FLOOR

REFERENCE = "reference"
FLOOR_GEANT4, FLOOR_MODEL = FLOOR_HALVES
Four = Sequence[Any]
"""One figure of the reference, the model, the reference's even rows and its odd rows."""


RESPONSE_ESTIMATES = {"core": "response", "moments": "moments"}
"""``Targets.response_estimate`` -> the record of ``conditional...per_particle`` it reads."""


class TargetError(ValueError):
    """A report without what the targets need: names the key."""


@dataclass(frozen=True)
class Targets:
    """Tolerances of the condition-by-condition targets.

    Attributes:
        auc: highest classifier AUC (voxel and high-level).
        layer: readout layer (index) of the centre-vs-impact targets.
        slope, centre_rms: centre slope and residual RMS, % of Geant4's.
        angle_mean: reconstructed theta's mean, % of Geant4's resolution in the bin.
        angle_resolution: reconstructed theta's resolution, % of Geant4's.
        response, energy_resolution: mean E_vis / E_inc and its relative resolution,
            % of Geant4's.
        response_estimate: how the response and resolution are estimated: ``"core"``,
            a Gaussian fit to the core (``per_particle.response``; showers whose visible
            energy is near Gaussian); ``"moments"``, the mean and the standard deviation
            over the mean of every shower (``per_particle.moments``; hadrons, whose visible
            energy has a MIP peak and a long tail, where a core fit picks one of them).
        correlation: largest |model - Geant4| of the layer energies' Pearson coefficients
            over the pairs of readout layers; ``None``: no correlation target.
    """

    auc: float = 0.65
    layer: int = 1
    slope: float = 5.0
    centre_rms: float = 20.0
    angle_mean: float = 10.0
    angle_resolution: float = 15.0
    response: float = 1.0
    energy_resolution: float = 10.0
    response_estimate: str = "core"
    correlation: float | None = None

    def __post_init__(self) -> None:
        if self.response_estimate not in RESPONSE_ESTIMATES:
            raise ValueError(
                f"response_estimate {self.response_estimate!r}: expected one of "
                + ", ".join(RESPONSE_ESTIMATES)
            )


TARGET_SETS: dict[str, Targets] = {
    "em": Targets(),
    "pion": Targets(
        auc=0.75,
        response=5.0,
        energy_resolution=15.0,
        response_estimate="moments",
        correlation=0.05,
    ),
}
"""The named target sets (``benchmarks/condition_targets.py --targets NAME``): ``em``, the
default, for the spread-condition EM mixture; ``pion`` for charged pions."""


@dataclass(frozen=True)
class TargetRow:
    """One target in one bin: the figure of Geant4, the model and the floor (in
    ``value_unit``), and the deviations of the model and of the floor from Geant4 (in
    ``unit``), reached when at most ``limit`` in size.

    Attributes:
        target: what is held to the target, with its tolerance.
        where: the bin, particle or axis.
        note: context of the model's value (e.g. the classifier's error and size).
    """

    target: str
    where: str
    value_unit: str
    unit: str
    limit: float
    geant4: float | None
    model: float | None
    floor: float | None
    deviation: float | None
    floor_deviation: float | None
    note: str = ""

    @property
    def reached(self) -> bool:
        return _within(self.deviation, self.limit)

    @property
    def floor_reached(self) -> bool:
        return _within(self.floor_deviation, self.limit)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"reached": self.reached, "floor_reached": self.floor_reached}


def _within(deviation: float | None, limit: float) -> bool:
    return deviation is not None and math.isfinite(deviation) and abs(deviation) <= limit


def report_models(metrics: Mapping[str, Any]) -> list[str]:
    """The candidates of a report's conditional section (raises :class:`TargetError`
    when the report has none)."""
    return [k for k in _section(metrics)["samples"] if k != REFERENCE]


def condition_targets(
    metrics: Mapping[str, Any], model: str, targets: Targets | None = None
) -> list[TargetRow]:
    """Every target row of candidate ``model`` in a report's metrics: classifier AUCs,
    centre vs impact in layer ``targets.layer`` (x, y; when the track moves), principal-axis
    theta per bin (when the angles are spread), response and resolution per particle and
    energy bin, and the layer energies' correlations (when ``targets.correlation`` is set)."""
    t = targets or Targets()
    section = _section(metrics)
    if model == REFERENCE or model not in section["samples"]:
        known = ", ".join(report_models(metrics)) or "none"
        raise TargetError(f"conditional.samples: no model {model!r} (the report holds: {known})")
    samples, floor = section["samples"], section["floor"]
    four = (samples[REFERENCE], samples[model], floor[FLOOR_GEANT4], floor[FLOOR_MODEL])
    return [
        *classifier_rows(metrics, model, t),
        *centre_rows(four, t),
        *theta_rows(four, t),
        *response_rows(four, t),
        *correlation_rows(metrics, model, t),
    ]


def _section(metrics: Mapping[str, Any]) -> dict[str, Any]:
    section = metrics.get("conditional")
    if not section:
        raise TargetError(
            "conditional: no condition-by-condition section (the reference's conditions "
            "are not spread, or the report predates it)"
        )
    return dict(section)


def _relative(value: float | None, ref: float | None, scale: float | None = None) -> float | None:
    """``value - ref`` in % of ``scale`` (default: of ``ref``); ``None`` without them."""
    scale = ref if scale is None else scale
    if value is None or ref is None or not scale:
        return None
    return 100.0 * (value - ref) / abs(scale)


def classifier_rows(metrics: Mapping[str, Any], model: str, t: Targets) -> list[TargetRow]:
    """The voxel and high-level classifier AUCs of ``model`` and of the floor, against
    0.5 (indistinguishable)."""
    comps = metrics.get("comparisons") or {}
    comp, floor = comps.get(model) or {}, comps.get(FLOOR) or {}
    rows = []
    for key, label in (("voxel", "voxel"), ("high_level", "high-level")):
        res = (comp.get("classifier") or {}).get(key) or {}
        auc, floor_auc = res.get("auc"), ((floor.get("classifier") or {}).get(key) or {}).get("auc")
        if auc is None:
            note = (comp.get("skipped") or {}).get("classifier", "skipped")
        else:
            note = f"± {res.get('auc_err', math.nan):.3f}; {_sizes(res)} showers per class"
        rows.append(
            TargetRow(
                target=f"{label} classifier AUC ≤ {t.auc:g}",
                where="all showers",
                value_unit="",
                unit="AUC - 0.5",
                limit=t.auc - 0.5,
                geant4=0.5,
                model=auc,
                floor=floor_auc,
                deviation=None if auc is None else auc - 0.5,
                floor_deviation=None if floor_auc is None else floor_auc - 0.5,
                note=note,
            )
        )
    return rows


def _sizes(res: Mapping[str, Any]) -> str:
    train, test = res.get("n_train_per_class"), res.get("n_test_per_class")
    return f"{train:,} train / {test:,} test" if train and test else "-"


def _judged(
    target: str,
    where: str,
    values: Four,
    limit: float,
    *,
    value_unit: str = "",
    scales: Four | None = None,
    unit: str = "%",
    show: float = 1.0,
) -> TargetRow:
    """A row comparing the model with Geant4 and the odd with the even rows, in % of
    ``scales`` (default: of the values themselves); values shown times ``show``."""
    g4, model, even, odd = values
    sg4, _, seven, _ = scales or values
    return TargetRow(
        target=target,
        where=where,
        value_unit=value_unit,
        unit=unit,
        limit=limit,
        geant4=None if g4 is None else g4 * show,
        model=None if model is None else model * show,
        floor=None if odd is None else odd * show,
        deviation=_relative(model, g4, sg4),
        floor_deviation=_relative(odd, even, seven),
    )


def centre_rows(samples: Four, t: Targets) -> list[TargetRow]:
    """Slope and residual RMS of the layer centre against the impact point, x and y (x and
    y pooled for a report made before the axes were fitted alone); none when the report
    has no centre statistics (neither the impact point nor the angle moves the track)."""
    if "centre_vs_impact" not in samples[0]:
        return []
    per_layer = samples[0]["centre_vs_impact"]
    if t.layer >= len(per_layer):
        raise TargetError(
            f"conditional.samples.reference.centre_vs_impact: no layer {t.layer} "
            f"(the report holds {len(per_layer)} readout layers)"
        )
    layers: list[dict[str, Any]] = [
        next((r for r in s["centre_vs_impact"] if r["layer"] == t.layer), {}) for s in samples
    ]
    axes = [("x", "_x"), ("y", "_y")] if "slope_x" in layers[0] else [("x, y pooled", "")]
    return [
        _judged(
            f"layer-{t.layer} centre vs impact: {label} within {limit:g} % of Geant4",
            axis,
            tuple(r.get(key + suffix) for r in layers),
            limit,
            value_unit=unit,
        )
        for key, label, limit, unit in (
            ("slope", "slope", t.slope, ""),
            ("rms", "residual RMS", t.centre_rms, "mm"),
        )
        for axis, suffix in axes
    ]


def theta_rows(samples: Four, t: Targets) -> list[TargetRow]:
    """Per bin of the true theta: the principal-axis theta's mean (against Geant4's
    resolution in the bin) and its resolution (none when the angles are not spread)."""
    if "direction" not in samples[0]:
        return []
    per_bin = [s.get("direction", {}).get("theta") or [] for s in samples]
    rows = []
    for b, ref_bin in enumerate(per_bin[0]):
        bins = [s[b] if b < len(s) else {} for s in per_bin]
        mean, res = (tuple(x.get(key) for x in bins) for key in ("reco_mean", "resolution"))
        where = f"theta {math.degrees(ref_bin['lo']):.1f}-{math.degrees(ref_bin['hi']):.1f}°"
        rows += [
            _judged(
                f"principal-axis theta: mean within {t.angle_mean:g} % of Geant4's resolution",
                where,
                mean,
                t.angle_mean,
                value_unit="deg",
                scales=res,
                unit="% of Geant4 resolution",
                show=180 / math.pi,
            ),
            _judged(
                f"principal-axis theta: resolution within {t.angle_resolution:g} % of Geant4",
                where,
                res,
                t.angle_resolution,
                value_unit="deg",
                show=180 / math.pi,
            ),
        ]
    return rows


def _energy_bin(
    stats: Mapping[str, Any], particle: str, lo: float, hi: float, record: str = "response"
) -> dict[str, Any]:
    """Response and resolution of ``particle`` in the energy bin [lo, hi] MeV of a sample,
    from its per-particle ``record`` (empty when the sample has no such bin)."""
    r = ((stats["per_particle"].get(particle) or {}).get(record)) or {}
    for i, (a, b) in enumerate(zip(r.get("energy_lo", []), r.get("energy_hi", []), strict=True)):
        if math.isclose(a, lo, rel_tol=1e-6) and math.isclose(b, hi, rel_tol=1e-6):
            return {"mean": r["mean"][i], "resolution": r["resolution"][i]}
    return {}


def _gev(lo: float, hi: float) -> str:
    if math.isclose(lo, hi, rel_tol=1e-6):
        return f"{lo / 1e3:.3g} GeV"
    return f"{lo / 1e3:.3g}-{hi / 1e3:.3g} GeV"


def response_rows(samples: Four, t: Targets) -> list[TargetRow]:
    """Per particle and energy bin of the reference: response and relative resolution,
    estimated as ``t.response_estimate`` says."""
    record = RESPONSE_ESTIMATES[t.response_estimate]
    labels = {
        "core": ("response E_vis / E_inc", "relative resolution"),
        "moments": ("response, mean E_vis / E_inc", "relative resolution, std / mean"),
    }[t.response_estimate]
    rows = []
    for particle, ref_p in samples[0]["per_particle"].items():
        if record not in ref_p:
            raise TargetError(
                f"conditional.samples.reference.per_particle.{particle}.{record}: absent "
                "(the report predates it)"
            )
        r = ref_p[record]
        for lo, hi in zip(r["energy_lo"], r["energy_hi"], strict=True):
            bins = [_energy_bin(s, particle, lo, hi, record) for s in samples]
            rows += [
                _judged(
                    f"{label} within {limit:g} % of Geant4",
                    f"{particle} {_gev(lo, hi)}",
                    tuple(x.get(key) for x in bins),
                    limit,
                )
                for key, label, limit in (
                    ("mean", labels[0], t.response),
                    ("resolution", labels[1], t.energy_resolution),
                )
            ]
    return rows


def correlation_rows(metrics: Mapping[str, Any], model: str, t: Targets) -> list[TargetRow]:
    """One row (none when ``t.correlation`` is ``None``): the largest |model - Geant4| of
    the layer energies' Pearson coefficients over the pairs of readout layers, at the worst
    pair; the floor is the largest |odd - even| of the reference's halves, at its own worst
    pair. A pair that Geant4 defines and the model does not (a layer whose energy does not
    vary) leaves the model's deviation undefined: the target is not reached."""
    if t.correlation is None:
        return []
    section = metrics.get("layer_correlations")
    if not section:
        raise TargetError(
            "layer_correlations: no layer-energy correlations (the report predates them)"
        )
    samples, floor = section["samples"], section["floor"]
    if model not in samples:
        raise TargetError(f"layer_correlations.samples: no model {model!r}")
    ref, cand = samples[REFERENCE], samples[model]
    even, odd = floor[FLOOR_GEANT4], floor[FLOOR_MODEL]
    worst, floor_worst = correlation_difference(ref, cand), correlation_difference(even, odd)
    upper = np.triu_indices(section["layers"], k=1)
    within = int((correlation_deviation(ref, cand)[upper] <= t.correlation).sum())
    notes = [f"{within} of {worst.pairs} pairs within {t.correlation:g}"]
    if floor_worst.pair is not None:
        notes.append("floor's worst pair: layers {}–{}".format(*floor_worst.pair))
    if worst.undefined:
        notes.append(f"{worst.undefined} pairs undefined in the model (a layer without variance)")

    def at(matrix: Any, pair: tuple[int, int] | None) -> float | None:
        return None if pair is None else matrix[pair[0]][pair[1]]

    where = (
        "no pair of layers whose energies vary"
        if worst.pair is None
        else "layers {}–{} (worst of {} pairs)".format(*worst.pair, worst.pairs)
    )
    return [
        TargetRow(
            target=f"layer-energy correlations: largest |Δρ| over layer pairs ≤ {t.correlation:g}",
            where=where,
            value_unit="",
            unit="|Δρ|",
            limit=t.correlation,
            geant4=at(ref, worst.pair),
            model=at(cand, worst.pair),
            floor=at(odd, floor_worst.pair),
            deviation=None if worst.undefined else worst.value,
            floor_deviation=None if floor_worst.undefined else floor_worst.value,
            note="; ".join(notes),
        )
    ]


__all__ = [
    "RESPONSE_ESTIMATES",
    "TARGET_SETS",
    "TargetError",
    "TargetRow",
    "Targets",
    "centre_rows",
    "classifier_rows",
    "condition_targets",
    "correlation_rows",
    "report_models",
    "response_rows",
    "theta_rows",
]
