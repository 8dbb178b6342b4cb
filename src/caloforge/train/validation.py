"""Cheap validation metrics the trainer logs and early-stops on (lower is better)."""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray

from caloforge.data import Conditions
from caloforge.evaluate.observables import energy_ratio, layer_fractions
from caloforge.models import ShowerModel

VAL_METRICS = ("val_score", "val_response", "val_resolution", "val_layers")
"""Validation metrics (lower is better); see :func:`validation_metrics`."""


def validation_metrics(
    model: ShowerModel,
    showers: NDArray[np.float32],
    conditions: Conditions,
    *,
    seed: int = 12345,
    n_bins: int = 5,
) -> dict[str, float]:
    """Physics metrics of generated vs reference showers (lower is better).

    The model generates one shower per reference condition (fixed seed, own generator, so
    the training random state is untouched). In ``n_bins`` quantile bins of the incident
    energy: ``val_response`` = mean relative error of <E_vis/E_inc>; ``val_resolution`` =
    mean |sigma_gen / sigma_ref - 1| of E_vis/E_inc; ``val_layers`` = sum over layers of the
    absolute error of the mean layer energy fraction; ``val_score`` = response +
    0.2 x resolution + layers. The observables are those of :mod:`caloforge.evaluate`.
    """
    g = torch.Generator(device=model.device)
    g.manual_seed(seed)
    gen = model.sample(conditions, g)
    e = conditions.energy
    r_ref, r_gen = energy_ratio(showers, e), energy_ratio(gen, e)
    le = np.log(e)
    edges = np.quantile(le, np.linspace(0, 1, n_bins + 1))
    which = np.clip(np.searchsorted(edges, le, side="right") - 1, 0, n_bins - 1)
    resp, reso = [], []
    for b in range(n_bins):
        sel = which == b
        if sel.sum() < 2:
            continue
        resp.append(abs(r_gen[sel].mean() - r_ref[sel].mean()) / max(r_ref[sel].mean(), 1e-12))
        reso.append(abs(r_gen[sel].std() / max(r_ref[sel].std(), 1e-12) - 1.0))
    det = model.detector
    layers = layer_fractions(gen, det).mean(0) - layer_fractions(showers, det).mean(0)
    out = {
        "val_response": float(np.mean(resp)),
        "val_resolution": float(np.mean(reso)),
        "val_layers": float(np.abs(layers).sum()),
    }
    out["val_score"] = out["val_response"] + 0.2 * out["val_resolution"] + out["val_layers"]
    return out


__all__ = ["VAL_METRICS", "validation_metrics"]
