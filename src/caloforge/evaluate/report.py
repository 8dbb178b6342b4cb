"""The evaluation pipeline: reference vs candidates -> metrics.json, plots, HTML report.

:func:`evaluate` streams every file once for the observables, computes every metric for
each candidate against the reference and for the reference against itself (the floor:
two halves of the reference, even and odd rows, or a second reference file), draws the
plots and writes a self-contained HTML report (:mod:`caloforge.evaluate.html`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge._version import __version__
from caloforge.data import ShowerFile, ShowerFileError
from caloforge.evaluate.classifier import (
    ClassifierConfig,
    high_level_inputs,
    two_sample_test,
    voxel_inputs,
)
from caloforge.evaluate.conditional import evaluate_conditional, plot_conditional
from caloforge.evaluate.correlations import correlation_section, summary_layer_energies
from caloforge.evaluate.independence import require_independent
from caloforge.evaluate.memorisation import (
    memorisation_check,
    nearest_distances,
    normalised_voxels,
)
from caloforge.evaluate.metrics import (
    compare_histograms,
    compare_observables,
    physics_distances,
    reference_bins,
)
from caloforge.evaluate.minimums import MINIMUM_PER_CLASS, below_minimum
from caloforge.evaluate.observables import SPECTRUM_EDGES, SampleSummary, energy_response, summarise
from caloforge.evaluate.tables_version import mixed_tables_versions
from caloforge.files import write_text
from caloforge.geometry import Detector

log = logging.getLogger(__name__)

FLOOR = "floor (reference vs reference)"


@dataclass(frozen=True)
class EvaluationConfig:
    """Settings of :func:`evaluate`.

    Arguments:
        threshold: hit threshold, MeV (hit counts and the cell-energy spectrum).
        max_showers: read at most this many showers of each file (``None``: all).
        chunk_size: showers per chunk when streaming observables.
        classifier: the two-sample classifier protocol (learning curve ``auto``).
        n_bootstrap: resamplings for the FPD/KPD uncertainties.
        memorisation_max: candidate/held-out showers used by the memorisation check.
        memorisation_percentile: percentile of held-out distances defining a near-copy.
        plots: draw plots (the HTML report then embeds them).
        plot_formats: file formats of the plots (PNG always; PDF by default too).
        classifier_layers: also run the voxel classifier test on each readout layer's
            voxels alone (with the conditions): where a classifier sees the difference.
            The same seeds and sizes, no learning curve; each layer's fits are smaller
            than the all-voxel ones, but each costs the classifier's fixed work again, so
            the time grows with the number of layers (most with the Challenge's classifier,
            whose cost is mostly its hidden layers).
    """

    threshold: float = 0.0
    max_showers: int | None = None
    chunk_size: int = 10_000
    classifier: ClassifierConfig = field(
        default_factory=lambda: ClassifierConfig(learning_curve="auto")
    )
    n_bootstrap: int = 20
    memorisation_max: int = 5_000
    memorisation_percentile: float = 1.0
    plots: bool = True
    plot_formats: tuple[str, ...] = ("png", "pdf")
    classifier_layers: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.threshold) and self.threshold >= 0):
            raise ValueError(f"threshold must be finite and >= 0 MeV, got {self.threshold}")
        if self.max_showers is not None and self.max_showers < 4:
            raise ValueError(f"max_showers must be at least 4, got {self.max_showers}")


# ---------------------------------------------------------------------------------------
# helpers
def _names(candidates: Mapping[str, str | Path] | Sequence[str | Path]) -> dict[str, Path]:
    if isinstance(candidates, Mapping):
        return {str(k): Path(v) for k, v in candidates.items()}
    out: dict[str, Path] = {}
    for p in map(Path, candidates):
        name, i = p.stem, 2
        while name in out:
            name, i = f"{p.stem}_{i}", i + 1
        out[name] = p
    return out


def _open(path: str | Path, det: Detector | str | Path | None, role: str) -> ShowerFile:
    data = ShowerFile(path, det)
    if isinstance(det, Detector) and data.detector.n_voxels != det.n_voxels:
        raise ShowerFileError(
            f"{path}: {role} has {data.detector.n_voxels} voxels, the reference {det.n_voxels}"
        )
    return data


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars/arrays -> Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, np.generic):
        return _clean(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _rebin_spectrum(
    counts: NDArray[np.int64], ref_counts: NDArray[np.int64], per: int = 6
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Coarsen the fine spectrum grid by ``per`` and cut it to the reference's range."""
    nz = np.nonzero(ref_counts)[0]
    lo, hi = (int(nz[0]) // per * per, (int(nz[-1]) // per + 1) * per) if len(nz) else (0, per)
    edges = SPECTRUM_EDGES[lo : hi + 1 : per]
    fold = np.asarray(counts).copy()
    fold[lo] += fold[:lo].sum()
    fold[hi - 1] += fold[hi:].sum()
    coarse = fold[lo:hi].reshape(-1, per).sum(axis=1)
    ref_coarse = np.asarray(ref_counts)[lo:hi].reshape(-1, per).sum(axis=1)
    return edges, ref_coarse, coarse


@dataclass(frozen=True)
class _Sample:
    """A sample in one comparison: its summary, its voxel rows for the classifier."""

    summary: SampleSummary
    spectrum: NDArray[np.int64]
    voxels: NDArray[np.float32]
    cond: Any
    features_rows: NDArray[np.int64]  # rows of summary.features matching ``voxels``


def _voxel_test(
    ref_voxels: NDArray[Any],
    ref_cond: Any,
    cand_voxels: NDArray[Any],
    cand_cond: Any,
    cfg: ClassifierConfig,
    *,
    warn_small: bool = True,
) -> dict[str, Any]:
    """The voxel two-sample test of the protocol (its inputs and standardisation)."""
    style = cfg.protocol
    xa, xb = voxel_inputs(ref_voxels, ref_cond, style), voxel_inputs(cand_voxels, cand_cond, style)
    return two_sample_test(xa, xb, cfg, standardise=style != "challenge", warn_small=warn_small)


def _classifier(ref: _Sample, cand: _Sample, kind: str, cfg: ClassifierConfig) -> dict[str, Any]:
    """The two-sample test of one input kind (``voxel`` or ``high_level``)."""
    if kind == "voxel":
        return _voxel_test(ref.voxels, ref.cond, cand.voxels, cand.cond, cfg)
    fa = {k: v[ref.features_rows] for k, v in ref.summary.features.items()}
    fb = {k: v[cand.features_rows] for k, v in cand.summary.features.items()}
    return two_sample_test(high_level_inputs(fa, ref.cond), high_level_inputs(fb, cand.cond), cfg)


def _layer_classifiers(
    ref: _Sample,
    cand: _Sample,
    voxel_layer: NDArray[np.int64],
    cfg: ClassifierConfig,
    whole: dict[str, Any],
) -> list[dict[str, Any]]:
    """The voxel test on each readout layer's voxels alone (conditions included), same
    seeds and sizes, no learning curve (``whole``, the test on all voxels, stands for the
    only layer of a one-layer detector). A layer empty in every shower of both samples
    that the classifier reads gets ``auc`` and ``auc_err`` None and the reason ``why``.
    The warning about sizes below the documented one is the all-voxel test's alone."""
    layers = np.unique(voxel_layer)
    if len(layers) == 1:
        return [
            {"layer": int(layers[0]), "voxels": len(voxel_layer), **whole, "learning_curve": []}
        ]
    cfg = replace(cfg, learning_curve="off")
    out = []
    for layer in layers:
        cols = np.flatnonzero(voxel_layer == layer)
        va, vb = ref.voxels[:, cols], cand.voxels[:, cols]
        entry: dict[str, Any] = {"layer": int(layer), "voxels": len(cols)}
        if not (va.any() or vb.any()):
            out.append(entry | {"auc": None, "auc_err": None, "why": "empty in both samples"})
            continue
        log.info("classifier on readout layer %d (%d voxels)", layer, len(cols))
        out.append(entry | _voxel_test(va, ref.cond, vb, cand.cond, cfg, warn_small=False))
    return out


def _compare(
    ref: _Sample,
    cand: _Sample,
    edges: dict[str, NDArray[np.float64]],
    cfg: EvaluationConfig,
    name: str,
    voxel_layer: NDArray[np.int64],
) -> dict[str, Any]:
    """Every metric of one comparison; a metric below its minimum is ``None`` and its
    reason is under ``skipped``; ``voxel_layer``: the readout layer of each voxel (the
    per-layer classifier tests of ``cfg.classifier_layers``)."""
    t0 = time.perf_counter()
    n_obs = min(ref.summary.n, cand.summary.n)
    skipped = {
        metric: reason
        for metric, n in (
            ("observables", n_obs),
            ("physics_distances", n_obs),
            ("classifier", min(len(ref.cond), len(cand.cond))),
        )
        if (reason := below_minimum(metric, n, name)) is not None
    }
    obs = []
    if "observables" not in skipped:
        obs = compare_observables(ref.summary.features, cand.summary.features, edges)
        _, sref, scand = _rebin_spectrum(cand.spectrum, ref.spectrum)
        obs.append(compare_histograms("cell_energy", sref, scand))
        obs.sort(key=lambda m: -np.nan_to_num(m.separation, nan=-1.0))
    dist = None
    if "physics_distances" not in skipped:
        dist = physics_distances(
            ref.summary.features, cand.summary.features, n_bootstrap=cfg.n_bootstrap
        ).to_dict()
    clf: dict[str, Any] = {
        kind: None if "classifier" in skipped else _classifier(ref, cand, kind, cfg.classifier)
        for kind in ("voxel", "high_level")
    }
    by_layer = None
    if cfg.classifier_layers and "classifier" not in skipped:
        by_layer = _layer_classifiers(ref, cand, voxel_layer, cfg.classifier, clf["voxel"])
    n = min(len(ref.cond), len(cand.cond))
    paired = bool(np.allclose(ref.cond.energy[:n], cand.cond.energy[:n], rtol=1e-5))
    return {
        "n_reference": ref.summary.n,
        "n_candidate": cand.summary.n,
        "conditions_paired": paired,
        "skipped": skipped,
        "observables": [m.to_dict() for m in obs],
        "worst": [m.name for m in obs[:5]],
        "max_separation": obs[0].separation if obs else None,
        "physics_distances": dist,
        "classifier": clf,
        "classifier_layers": by_layer,
        "direction_angle": {
            "mean": float(cand.summary.direction_angle.mean()),
            "std": float(cand.summary.direction_angle.std()),
        },
        "seconds": time.perf_counter() - t0,
    }


def _summary_sample(data: ShowerFile, summary: SampleSummary, cfg: EvaluationConfig) -> _Sample:
    n = min(summary.n, cfg.classifier.max_per_class)
    return _Sample(
        summary,
        summary.spectrum.sum(axis=0),
        data.showers(0, n),
        data.conditions(0, n),
        np.arange(n),
    )


def _half(data: ShowerFile, summary: SampleSummary, parity: int, cfg: EvaluationConfig) -> _Sample:
    rows = np.arange(parity, summary.n, 2)
    n = min(len(rows), cfg.classifier.max_per_class)
    stop = int(rows[n - 1]) + 1
    vox = data.showers(0, stop)[parity::2][:n]
    cond = data.conditions(0, stop).select(slice(parity, None, 2)).select(slice(0, n))
    return _Sample(summary.select(rows), summary.spectrum[parity], vox, cond, np.arange(n))


# ---------------------------------------------------------------------------------------
def evaluate(
    reference: str | Path,
    candidates: Mapping[str, str | Path] | Sequence[str | Path],
    out_dir: str | Path,
    *,
    ref2: str | Path | None = None,
    train: str | Path | None = None,
    val: str | Path | None = None,
    detector: Detector | str | Path | None = None,
    config: EvaluationConfig | None = None,
    training_log: str | Path | Sequence[str | Path] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Compare candidate shower files with a reference file and write a report.

    Arguments:
        reference: full-simulation shower file.
        candidates: name -> file, or files (named by their stem).
        out_dir: report directory: ``metrics.json``, ``report.html``, ``plots/*.png|pdf``.
        ref2: a second, independent reference file for the floor (default: the two halves,
            even and odd rows, of ``reference``).
        train: the candidates' training file, for the memorisation check.
        val: the candidates' validation file (the one used to choose settings).
            ``reference`` and ``ref2`` must share no events with ``train`` and ``val``, nor
            ``ref2`` with ``reference`` (:mod:`caloforge.evaluate.independence`).
            Geant4 files among all these and the candidates that were simulated with
            different Geant4 data (tables versions) are named in one warning
            (:mod:`caloforge.evaluate.tables_version`).
        detector: geometry for files that do not carry it (or to check that they are of it).
        config: settings (:class:`EvaluationConfig`).
        training_log: JSON-lines training log(s) to plot in the report (one figure each).
        overwrite: allow writing into a non-empty ``out_dir``.

    Returns:
        The metrics dict that is written to ``metrics.json``.
    """
    cfg = config or EvaluationConfig()
    t_start = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{out}: report directory exists and is not empty; pass --overwrite to replace it"
        )
    names = _names(candidates)
    if not names:
        raise ValueError("no candidate file given")
    logs = [training_log] if isinstance(training_log, str | Path) else list(training_log or [])
    records = {_log_name(p): _read_training_log(p) for p in logs} or None

    ref_data = _open(reference, detector, "reference")
    det = ref_data.detector
    cand_data = {k: _open(p, det, f"candidate {k!r}") for k, p in names.items()}
    ref2_data = _open(ref2, det, "second reference") if ref2 is not None else None
    train_data = _open(train, det, "training file") if train is not None else None
    val_data = _open(val, det, "validation file") if val is not None else None
    used = {"training": train_data, "validation": val_data}
    require_independent(ref_data, {k: v for k, v in used.items() if v is not None})
    if ref2_data is not None:
        used["reference"] = ref_data
        others = {k: v for k, v in used.items() if v is not None}
        require_independent(ref2_data, others, what="the second reference")
    roles = {"reference": ref_data, "second reference": ref2_data, **used}
    roles |= {f"candidate {k!r}": d for k, d in cand_data.items()}
    mixed = mixed_tables_versions({k: v for k, v in roles.items() if v is not None})
    if mixed is not None:
        log.warning(mixed)

    kw = {"threshold": cfg.threshold, "max_showers": cfg.max_showers, "chunk_size": cfg.chunk_size}
    log.info("observables of the reference %s", reference)
    ref_sum = summarise(ref_data, **kw)  # type: ignore[arg-type]
    cand_sum = {k: summarise(d, **kw) for k, d in cand_data.items()}  # type: ignore[arg-type]
    edges = {k: reference_bins(v) for k, v in ref_sum.features.items()}

    layers = det.voxel_layer
    # the floor
    if ref2_data is not None:
        ref2_sum = summarise(ref2_data, **kw)  # type: ignore[arg-type]
        floor_pair = (
            _summary_sample(ref_data, ref_sum, cfg),
            _summary_sample(ref2_data, ref2_sum, cfg),
        )
        floor_how = f"reference vs second reference {ref2}"
    else:
        if ref_sum.n < 20:
            raise ValueError(
                f"{reference}: {ref_sum.n} showers are too few to split into two halves"
            )
        floor_pair = (_half(ref_data, ref_sum, 0, cfg), _half(ref_data, ref_sum, 1, cfg))
        floor_how = (
            "even vs odd rows of the reference (half the statistics of a candidate comparison)"
        )
    comparisons: dict[str, dict[str, Any]] = {
        FLOOR: _compare(*floor_pair, edges, cfg, FLOOR, layers)
    }
    comparisons[FLOOR]["how"] = floor_how
    ref_sample = _summary_sample(ref_data, ref_sum, cfg)
    for k, d in cand_data.items():
        log.info("comparing %s", k)
        cand_sample = _summary_sample(d, cand_sum[k], cfg)
        comparisons[k] = _compare(ref_sample, cand_sample, edges, cfg, k, layers)

    responses = {
        "reference": energy_response(ref_sum.energy, ref_sum.features["e_ratio"]).to_dict()
    }
    for k, s in cand_sum.items():
        responses[k] = energy_response(s.energy, s.features["e_ratio"]).to_dict()

    memo = _memorisation(train_data, ref_data, cand_data, cfg) if train_data is not None else None
    if train_data is not None:
        minimum = MINIMUM_PER_CLASS["memorisation"]
        for name, c in comparisons.items():
            if memo is None or name not in memo["results"]:
                c["skipped"]["memorisation"] = f"skipped: fewer than the minimum of {minimum}"
    tests = [c["classifier"]["voxel"] for c in comparisons.values() if c["classifier"]["voxel"]]
    metrics: dict[str, Any] = {
        "caloforge_version": __version__,
        "detector": det.name,
        "reference": {"path": str(reference), "n": ref_sum.n},
        "candidates": {k: {"path": str(p), "n": cand_sum[k].n} for k, p in names.items()},
        "ref2": str(ref2) if ref2 is not None else None,
        "train": str(train) if train is not None else None,
        "val": str(val) if val is not None else None,
        "config": asdict(cfg),
        "minimums": dict(MINIMUM_PER_CLASS),
        "classifier_subsampled": any(t["subsampled"] for t in tests),
        "classifier_below_documented_size": any(t["below_documented_size"] for t in tests),
        "comparisons": comparisons,
        "response": responses,
        "memorisation": memo["results"] if memo else None,
        "cell_std_ratio": {k: _std_ratio(ref_sum, s) for k, s in cand_sum.items()},
        "layer_correlations": correlation_section(
            summary_layer_energies(ref_sum),
            {k: summary_layer_energies(s) for k, s in cand_sum.items()},
        ),
        "conditional": evaluate_conditional(
            ref_data, cand_data, max_showers=cfg.max_showers, chunk_size=cfg.chunk_size
        ),
    }
    out.mkdir(parents=True, exist_ok=True)
    images: dict[str, Path] = {}
    if cfg.plots:
        images = _plots(det, ref_sum, cand_sum, edges, responses, memo, records, out / "plots", cfg)
        images |= _curve_plot(comparisons, out / "plots", cfg)
        images |= plot_conditional(metrics["conditional"], out / "plots", formats=cfg.plot_formats)
    metrics["seconds"] = time.perf_counter() - t_start
    metrics = _clean(metrics)
    write_text(out / "metrics.json", json.dumps(metrics, indent=1))
    from caloforge.evaluate.html import write_html

    write_html(metrics, images, out / "report.html")
    log.info("report written to %s in %.1f s", out, metrics["seconds"])
    return metrics


def _curve_plot(
    comparisons: dict[str, dict[str, Any]], out: Path, cfg: EvaluationConfig
) -> dict[str, Path]:
    """The classifiers' learning curves in one figure (none when no curve has two points)."""
    curves = {
        f"{name} ({kind})": r["learning_curve"]
        for name, c in comparisons.items()
        for kind, r in c["classifier"].items()
        if r is not None and len(r["learning_curve"]) > 1
    }
    if not curves:
        return {}
    from caloforge.evaluate import plots

    return {
        "classifier learning curve": plots.plot_learning_curve(
            curves, out, formats=cfg.plot_formats
        )
    }


def _std_ratio(ref: SampleSummary, cand: SampleSummary) -> dict[str, float]:
    """Energy-weighted mean of candidate/reference per-cell std (1 = same spread)."""
    w = ref.cell_mean
    ok = ref.cell_std > 0
    if not ok.any():
        return {"weighted_mean": float("nan")}
    ratio = cand.cell_std[ok] / ref.cell_std[ok]
    return {"weighted_mean": float(np.average(ratio, weights=w[ok] + 1e-30))}


def _memorisation(
    train: ShowerFile, ref: ShowerFile, cands: dict[str, ShowerFile], cfg: EvaluationConfig
) -> dict[str, Any] | None:
    """Near-copy fractions of the candidates (and of fresh reference rows, the floor);
    ``None`` when the reference is below the minimum, a candidate below it is left out."""
    n_train = len(train) if cfg.max_showers is None else min(len(train), cfg.max_showers)
    t_cond = train.conditions(0, n_train)
    t_vox = normalised_voxels(train.showers(0, n_train))
    m = min(2 * cfg.memorisation_max, len(ref))
    r_cond = ref.conditions(0, m)
    r_vox = normalised_voxels(ref.showers(0, m))
    d_ref = nearest_distances(r_vox, r_cond.energy, t_vox, t_cond.energy)
    held, fresh = d_ref[0::2], d_ref[1::2]
    if below_minimum("memorisation", len(held), f"{FLOOR} (held-out rows)") is not None:
        return None
    results = {
        FLOOR: memorisation_check(
            fresh, held, n_train=n_train, percentile=cfg.memorisation_percentile
        ).to_dict()
    }
    dists = {}
    for k, d in cands.items():
        n = min(cfg.memorisation_max, len(d))
        if below_minimum("memorisation", n, k) is not None:
            continue
        c = d.conditions(0, n)
        dists[k] = nearest_distances(
            normalised_voxels(d.showers(0, n)), c.energy, t_vox, t_cond.energy
        )
        results[k] = memorisation_check(
            dists[k], held, n_train=n_train, percentile=cfg.memorisation_percentile
        ).to_dict()
    return {
        "results": results,
        "heldout": held,
        "candidates": dists,
        "threshold": results[FLOOR]["threshold"],
    }


def _log_name(path: str | Path) -> str:
    """Label of a training log: its run folder (``runs/vae/metrics.jsonl`` -> ``vae``)."""
    p = Path(path)
    return p.parent.name if p.parent.name else p.stem


def _read_training_log(path: str | Path) -> list[dict[str, float]]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: training log not found")
    records = []
    for i, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p}: line {i} is not JSON: {exc.msg}") from None
        if not isinstance(rec, dict):
            raise ValueError(f"{p}: line {i} is not a JSON object")
        records.append(
            {k: v for k, v in rec.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        )
    if not records:
        raise ValueError(f"{p}: training log is empty")
    return records


def _plot_layers(det: Detector, max_layers: int = 6) -> list[int]:
    return [
        int(i)
        for i in np.unique(np.linspace(0, det.n_layers - 1, min(det.n_layers, max_layers)).round())
    ]


def _plots(
    det: Detector,
    ref: SampleSummary,
    cands: dict[str, SampleSummary],
    edges: dict[str, NDArray[np.float64]],
    responses: dict[str, Any],
    memo: dict[str, Any] | None,
    records: dict[str, list[dict[str, float]]] | None,
    out: Path,
    cfg: EvaluationConfig,
) -> dict[str, Path]:
    from caloforge.evaluate import plots

    layers = _plot_layers(det)
    feats = {k: s.features for k, s in cands.items()}
    groups = {
        "energy": ["e_vis", "e_ratio"] + [f"frac_{i}" for i in layers],
        "longitudinal": ["depth", "depth_x0", "depth_width", "start_layer"],
        "transverse": ["radial_width", "pca_angle"]
        + [f"{q}_{i}" for i in layers for q in ("cx", "cy", "wx", "wy")],
        "hits": ["n_hits"] + [f"n_hits_{i}" for i in layers],
    }
    fm = cfg.plot_formats
    images: dict[str, Path] = {}
    for group, names in groups.items():
        images[f"observables: {group}"] = plots.plot_histograms(
            names, ref.features, feats, edges, out, f"hist_{group}", formats=fm
        )
    e, sref, _ = _rebin_spectrum(ref.spectrum.sum(axis=0), ref.spectrum.sum(axis=0))
    spectra = {
        k: _rebin_spectrum(s.spectrum.sum(axis=0), ref.spectrum.sum(axis=0))[2]
        for k, s in cands.items()
    }
    images["cell-energy spectrum"] = plots.plot_spectrum(
        e, sref, spectra, out, threshold=cfg.threshold, formats=fm
    )

    def frac(s: SampleSummary) -> NDArray[np.float64]:
        return np.array([s.features[f"frac_{i}"].mean() for i in range(det.n_layers)])

    images["profiles"] = plots.plot_profiles(
        det.readout_depth_x0,
        ref.radial_edges,
        (frac(ref), ref.radial_mean),
        {k: (frac(s), s.radial_mean) for k, s in cands.items()},
        out,
        formats=fm,
    )
    images["response and resolution"] = plots.plot_response(
        responses["reference"],
        {k: v for k, v in responses.items() if k != "reference"},
        out,
        formats=fm,
    )
    images["per-cell mean and std"] = plots.plot_cell_maps(
        det,
        ref.cell_mean,
        ref.cell_std,
        {k: (s.cell_mean, s.cell_std) for k, s in cands.items()},
        out,
        formats=fm,
    )
    for name, s in [("reference", ref), *cands.items()]:
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
        path = plots.plot_average_shower(
            s.cell_mean[None],
            det,
            out / f"average_{safe}.png",
            title=f"{name}: average of {s.n} showers",
        )
        images[f"average shower: {name}"] = path
    if memo is not None:
        images["memorisation"] = plots.plot_memorisation(
            memo["heldout"], memo["candidates"], memo["threshold"], out, formats=fm
        )
    for label, log in (records or {}).items():
        images[f"training curves: {label}"] = plots.plot_training_curves(
            log, out, formats=fm, name=f"training_curves_{label}"
        )
    return images


__all__ = ["FLOOR", "EvaluationConfig", "evaluate"]
