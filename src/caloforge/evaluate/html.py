"""The self-contained HTML report: tables and PNG images embedded as base64 (opens offline)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from caloforge.evaluate.conditional import conditional_html
from caloforge.evaluate.correlations import correlation_html
from caloforge.files import write_text

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 1.5em 2em;
       color: #222; max-width: 1400px; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
tr.floor td { background: #f4f8ff; font-style: italic; }
.bad { color: #b00; font-weight: bold; } .ok { color: #070; }
.note { color: #555; font-size: 0.85em; }
figure { margin: 1em 0; } figcaption { font-size: 0.85em; color: #444; }
img { max-width: 100%; border: 1px solid #eee; }
"""


def _f(x: Any, fmt: str = ".3f") -> str:
    return "–" if x is None else format(x, fmt)


def _pm(value: Any, err: Any, fmt: str = ".3f") -> str:
    if value is None:
        return "–"
    return f"{format(value, fmt)} ± {format(err, fmt)}" if err is not None else format(value, fmt)


def _sizes(c: dict[str, Any]) -> str:
    """Showers per class that trained / tested the classifier."""
    return f"{c['n_train_per_class']} / {c['n_test_per_class']}"


def _auc_cell(c: dict[str, Any] | None) -> str:
    if c is None:
        return "<span class='note'>skipped</span>"
    cls = (
        "bad"
        if c["auc"] is not None and c["auc"] - 0.5 > max(0.02, 3 * (c["auc_err"] or 0))
        else "ok"
    )
    warn = (
        " <span class='bad'>below the documented size</span>" if c["below_documented_size"] else ""
    )
    return (
        f'<span class="{cls}">{_pm(c["auc"], c["auc_err"])}</span> ({html.escape(c["headline"])}; '
        f"{_sizes(c)}){warn}"
    )


def _summary_table(metrics: dict[str, Any]) -> str:
    memo = metrics.get("memorisation") or {}
    rows = [
        "<table id='summary'><tr><th>comparison</th>"
        "<th>AUC voxels (classifier; showers per class train / test)</th>"
        "<th>AUC high-level (classifier; train / test)</th>"
        "<th>JSD voxels [bits]</th><th>FPD</th><th>KPD</th><th>max separation</th>"
        "<th>worst observables</th><th>near-copies</th></tr>"
    ]
    for name, c in metrics["comparisons"].items():
        floor = name.startswith("floor")
        clf = c["classifier"]
        pd = c["physics_distances"] or {"fpd": None, "fpd_err": None, "kpd": None, "kpd_err": None}
        vox = clf["voxel"] or {"jsd": None, "jsd_err": None}
        m = memo.get(name)
        copies = (
            "–"
            if m is None
            else (
                f"<span class='{'bad' if m['flagged'] else 'ok'}'>"
                f"{100 * m['fraction_near_copies']:.1f} %</span>"
            )
        )
        rows.append(
            f"<tr class='{'floor' if floor else ''}'><td>{html.escape(name)}</td>"
            f"<td>{_auc_cell(clf['voxel'])}</td><td>{_auc_cell(clf['high_level'])}</td>"
            f"<td>{_pm(vox['jsd'], vox['jsd_err'])}</td>"
            f"<td>{_pm(pd['fpd'], pd['fpd_err'], '.2e')}</td>"
            f"<td>{_pm(pd['kpd'], pd['kpd_err'], '.2e')}</td>"
            f"<td>{_f(c['max_separation'], '.4f')}</td>"
            f"<td>{html.escape(', '.join(c['worst'][:3]))}</td>"
            f"<td>{copies}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _observable_table(metrics: dict[str, Any]) -> str:
    comps = metrics["comparisons"]
    names = list(comps)
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for cname, c in comps.items():
        for o in c["observables"]:
            table.setdefault(o["name"], {})[cname] = o
    cands = [n for n in names if not n.startswith("floor")]

    def worst(obs: str) -> float:
        return (
            max((table[obs].get(n, {}).get("separation") or 0.0) for n in cands) if cands else 0.0
        )

    head = "".join(f"<th>{html.escape(n)}<br>sep. / χ²/ndf / W1/σ</th>" for n in names)
    rows = [f"<table id='observables'><tr><th>observable</th>{head}</tr>"]
    for obs in sorted(table, key=lambda o: -worst(o)):
        cells = []
        for n in names:
            o = table[obs].get(n)
            cells.append(
                "<td>–</td>"
                if o is None
                else f"<td>{_f(o['separation'], '.4f')} / {_f(o['chi2_ndf'], '.2f')} / "
                f"{_f(o['w1_norm'], '.3f')}</td>"
            )
        rows.append(f"<tr><td>{html.escape(obs)}</td>{''.join(cells)}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _classifier_table(metrics: dict[str, Any]) -> str:
    rows = [
        "<table id='classifiers'><tr><th>comparison</th><th>input</th><th>classifier</th>"
        "<th>AUC per seed</th><th>AUC mean ± std</th><th>JSD mean ± std [bits]</th>"
        "<th>showers per class used</th><th>per class train / val / test</th></tr>"
    ]
    for name, c in metrics["comparisons"].items():
        for kind, r in c["classifier"].items():
            if r is None:
                continue
            for clf, v in r["classifiers"].items():
                star = " ★" if clf == r["headline"] else ""
                sub = " (subsampled)" if r["subsampled"] else ""
                rows.append(
                    f"<tr><td>{html.escape(name)}</td><td>{kind}</td><td>{clf}{star}</td>"
                    f"<td>{', '.join(f'{a:.3f}' for a in v['auc'])}</td>"
                    f"<td>{_pm(v['auc_mean'], v['auc_std'])}</td>"
                    f"<td>{_pm(v['jsd_mean'], v['jsd_std'])}</td>"
                    f"<td>{r['n_per_class']} of {r['n_available']}{sub}</td>"
                    f"<td>{r['n_train_per_class']} / {r['n_val_per_class']} / "
                    f"{r['n_test_per_class']}</td></tr>"
                )
    rows.append("</table>")
    return "\n".join(rows)


def _layer_table(metrics: dict[str, Any]) -> str:
    """The voxel classifier test on each readout layer alone (``--classifier-layers``)."""
    comps = {n: c["classifier_layers"] for n, c in metrics["comparisons"].items()}
    comps = {n: r for n, r in comps.items() if r}
    if not comps:
        return ""
    layers = next(iter(comps.values()))
    head = "".join(f"<th>{html.escape(n)}</th>" for n in comps)
    rows = [
        "<h2>Voxel classifier per readout layer</h2><p class='note'>The voxel test on one "
        "readout layer's voxels (and the conditions) at a time, with the sizes and seeds "
        "above: the layers where a classifier sees the candidate.</p>",
        f"<table id='classifier_layers'><tr><th>layer</th><th>voxels</th>{head}</tr>",
    ]
    for i, entry in enumerate(layers):
        cells = "".join(
            f"<td>{_auc_cell(r[i]) if r[i]['auc'] is not None else 'empty'}</td>"
            for r in comps.values()
        )
        rows.append(f"<tr><td>{entry['layer']}</td><td>{entry['voxels']}</td>{cells}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _curve_table(metrics: dict[str, Any]) -> str:
    """The learning curves: AUC against the classifier's training showers per class."""
    rows = [
        "<table id='learning_curve'><tr><th>comparison</th><th>input</th><th>classifier</th>"
        "<th>train showers per class</th><th>test showers per class</th><th>AUC</th>"
        "<th>seeds</th></tr>"
    ]
    n = 0
    for name, c in metrics["comparisons"].items():
        for kind, r in c["classifier"].items():
            for pt in (r or {}).get("learning_curve") or []:
                n += 1
                rows.append(
                    f"<tr><td>{html.escape(name)}</td><td>{kind}</td>"
                    f"<td>{html.escape(r['headline'])}</td><td>{pt['n_train_per_class']}</td>"
                    f"<td>{pt['n_test_per_class']}</td>"
                    f"<td>{_pm(pt['auc'], pt['auc_stat_err'])}</td><td>{pt['seeds']}</td></tr>"
                )
    if not n:
        return "<p class='note'>Learning curve not computed (--learning-curve off).</p>"
    rows.append("</table>")
    return "\n".join(rows)


def _skipped(metrics: dict[str, Any]) -> str:
    """One line per metric skipped for having fewer showers than its minimum."""
    items = [
        f"<li>{html.escape(name)}: {html.escape(metric.replace('_', ' '))} {html.escape(why)}</li>"
        for name, c in metrics["comparisons"].items()
        for metric, why in (c.get("skipped") or {}).items()
    ]
    if not items:
        return ""
    mins = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in metrics["minimums"].items())
    return (
        f"<div id='skipped' class='note'><b>Skipped metrics</b> (minimum showers per class: "
        f"{html.escape(mins)}):<ul>{''.join(items)}</ul></div>"
    )


def _response_table(metrics: dict[str, Any]) -> str:
    rows = [
        "<table id='response'><tr><th>sample</th><th>E [GeV]</th><th>n</th><th>response</th>"
        "<th>σ/E</th><th>fit</th></tr>"
    ]
    for name, r in metrics["response"].items():
        for i in range(len(r["energy"])):
            rows.append(
                f"<tr><td>{html.escape(name)}</td>"
                f"<td>{_f(r['energy'][i] and r['energy'][i] / 1000, '.2f')}</td>"
                f"<td>{r['n'][i]}</td><td>{_pm(r['mean'][i], r['mean_err'][i], '.4f')}</td>"
                f"<td>{_pm(r['resolution'][i], r['resolution_err'][i], '.4f')}</td>"
                f"<td>{r['method'][i]}</td></tr>"
            )
    rows.append("</table>")
    return "\n".join(rows)


def _memorisation_table(metrics: dict[str, Any]) -> str:
    memo = metrics.get("memorisation")
    if not memo:
        return "<p class='note'>No training file given (--train): memorisation check not run.</p>"
    rows = [
        "<table id='memorisation'><tr><th>sample</th><th>near-copies</th><th>expected</th>"
        "<th>exact copies</th>"
        "<th>median distance</th><th>median held-out</th><th>flagged</th></tr>"
    ]
    for name, m in memo.items():
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{100 * m['fraction_near_copies']:.2f} %</td>"
            f"<td>{100 * m['expected_fraction']:.2f} %</td>"
            f"<td>{100 * m['fraction_exact_copies']:.2f} %</td>"
            f"<td>{_f(m['median_candidate'], '.4g')}</td><td>{_f(m['median_heldout'], '.4g')}</td>"
            f"<td class='{'bad' if m['flagged'] else 'ok'}'>{'yes' if m['flagged'] else 'no'}"
            f"</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _image(title: str, path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    pdf = Path(path).with_suffix(".pdf")
    link = f" (<a href='plots/{html.escape(pdf.name)}'>PDF</a>)" if pdf.exists() else ""
    return (
        f"<figure><img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(title)}{link}</figcaption></figure>"
    )


def write_html(metrics: dict[str, Any], images: dict[str, Path], path: str | Path) -> Path:
    """Write the report: summary, classifier, observable, response, layer-correlation,
    condition-by-condition and memorisation tables, then every image (base64-embedded, so
    the file is self-contained)."""
    ref = metrics["reference"]
    cands = ", ".join(
        f"{html.escape(k)} ({v['n']} showers, {html.escape(v['path'])})"
        for k, v in metrics["candidates"].items()
    )
    floor = next(
        (c.get("how", "") for n, c in metrics["comparisons"].items() if n.startswith("floor")), ""
    )
    sub = ""
    if metrics.get("classifier_subsampled"):
        sub = (
            "<p class='note'><b>Subsampled:</b> the classifier did not use every shower of "
            "the files (sizes per class in the classifier table).</p>"
        )
    if metrics.get("classifier_below_documented_size"):
        sub += (
            "<p class='note'><b>Below the documented size:</b> a classifier was trained on "
            f"fewer than {metrics['config']['classifier']['n_train']} showers per class; its "
            "AUC is not comparable with figures at that size.</p>"
        )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>caloforge evaluation: {html.escape(metrics['detector'])}</title><style>{CSS}"
        f"</style></head><body>",
        f"<h1>caloforge evaluation — {html.escape(metrics['detector'])}</h1>",
        f"<p>Reference: {html.escape(ref['path'])} ({ref['n']} showers). Candidates: {cands}.<br>"
        f"Floor: {html.escape(floor)}. Hit threshold {metrics['config']['threshold']:g} MeV. "
        f"caloforge {html.escape(metrics['caloforge_version'])}, {metrics['seconds']:.0f} s.</p>",
        sub,
        "<h2>Summary</h2><p class='note'>AUC 0.5: indistinguishable "
        "(★ = the stronger classifier, the headline). "
        "Separation power 0: identical histograms. Compare every number with the floor row.</p>",
        _skipped(metrics),
        _summary_table(metrics),
        "<h2>Classifier two-sample tests</h2>",
        _classifier_table(metrics),
        _layer_table(metrics),
        "<h2>Learning curve of the classifier</h2><p class='note'>AUC of the headline "
        "classifier against the showers per class it was trained on, on the same test split: "
        "an AUC still rising at the right end means more showers would separate the samples "
        "further.</p>",
        _curve_table(metrics),
        "<h2>Observables (worst first; binning fixed from the reference)</h2>",
        _observable_table(metrics),
        "<h2>Energy response and resolution</h2>",
        _response_table(metrics),
        correlation_html(metrics.get("layer_correlations")),
        conditional_html(metrics.get("conditional")),
        "<h2>Memorisation</h2>",
        _memorisation_table(metrics),
        "<h2>Plots</h2>",
        *[_image(t, p) for t, p in images.items()],
        "</body></html>",
    ]
    out = Path(path)
    write_text(out, "\n".join(parts))
    return out


__all__ = ["write_html"]
