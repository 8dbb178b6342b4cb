"""Position response of generated showers: does the shower follow the impact point?

Usage:
    python benchmarks/position_response.py REF.h5 GEN.h5 [GEN2.h5 ...] [--layer 1]

For every file, the energy-weighted centre (x, y) of the shower in one readout layer
(default: layer 1, the 12 x 12 layer of atlas-pblar) is compared with the impact point the
shower was simulated or generated for: the slope of a straight-line fit of centre on
impact (1 for a shower that follows the particle; 0 for one that ignores it), the
correlation, and the RMS of the residuals, per axis. Geant4 (REF) sets the values a model
should reproduce (cells of 40 mm pull the centre towards cell centres). Used by
benchmarks/position_constrainer.sh for the position constrainer of wgan-gp.
"""

from __future__ import annotations

import argparse

import numpy as np

from caloforge.data import ShowerFile


def centre_vs_impact(path: str, layer: int) -> dict[str, float]:
    """Slope, correlation and residual RMS (mm) of the layer centre against the impact."""
    f = ShowerFile(path)
    det = f.detector
    showers = f.showers()
    impact = f.conditions().impact
    sl = det.layer_slices[layer]
    xy = det.readout[layer].segmentation.cell_centres()[:, :2]
    e = showers[:, sl].astype(np.float64)
    tot = e.sum(1)
    ok = tot > 0
    centre = (e[ok] @ xy) / tot[ok, None]
    out: dict[str, float] = {"n": float(ok.sum())}
    for axis, name in enumerate("xy"):
        a, c = impact[ok, axis], centre[:, axis]
        slope, icpt = np.polyfit(a, c, 1)
        out[f"slope_{name}"] = float(slope)
        out[f"corr_{name}"] = float(np.corrcoef(a, c)[0, 1])
        out[f"rms_{name}"] = float(np.std(c - (slope * a + icpt)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="reference (Geant4) file first, then generated files")
    ap.add_argument("--layer", type=int, default=1, help="readout layer (default 1)")
    args = ap.parse_args()
    print("| file | slope x | slope y | corr x | corr y | residual RMS x, y (mm) |")
    print("|---|---|---|---|---|---|")
    for path in args.files:
        r = centre_vs_impact(path, args.layer)
        print(
            f"| {path} | {r['slope_x']:.3f} | {r['slope_y']:.3f} | {r['corr_x']:.3f} | "
            f"{r['corr_y']:.3f} | {r['rms_x']:.1f}, {r['rms_y']:.1f} |"
        )


if __name__ == "__main__":
    main()
