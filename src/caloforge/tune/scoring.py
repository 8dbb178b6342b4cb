"""What a trial is scored by: the fidelity of its showers and their generation time."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from caloforge.data import Conditions


def fidelity(
    generated: np.ndarray,
    reference: np.ndarray,
    conditions: Any,
    detector: Any,
    objective: str,
) -> dict[str, float]:
    """Fidelity metrics of generated vs reference showers (same conditions, row by row):
    ``auc`` (gradient-boosted classifier on high-level observables + conditions) or
    ``separation`` (weighted mean separation power of the high-level observables)."""
    from caloforge.evaluate import ClassifierConfig, high_level_observables, two_sample_test
    from caloforge.evaluate.classifier import high_level_inputs
    from caloforge.evaluate.metrics import compare_observables

    e = conditions.energy
    ref = high_level_observables(reference, e, detector)
    gen = high_level_observables(generated, e, detector)
    gen = {k: np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0) for k, v in gen.items()}
    ref = {k: np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0) for k, v in ref.items()}
    if objective == "auc":
        cfg = ClassifierConfig(seeds=(0,), classifiers=("hgb",), max_per_class=len(e))
        res = two_sample_test(
            high_level_inputs(ref, conditions), high_level_inputs(gen, conditions), cfg
        )
        return {"auc": float(res["auc"]), "auc_err": float(res["auc_err"])}
    metrics = compare_observables(ref, gen)
    per_layer = {m.name for m in metrics if m.name.rsplit("_", 1)[-1].isdigit()}
    weights = np.array([1.0 / detector.n_layers if m.name in per_layer else 1.0 for m in metrics])
    values = np.array([np.nan_to_num(m.separation, nan=1.0) for m in metrics])
    return {"separation": float((weights * values).sum() / weights.sum())}


def time_per_shower(model: Any, conditions: Conditions, seed: int) -> tuple[np.ndarray, float]:
    """(generated showers, ms per shower) with a small warm-up call first."""
    import torch

    g = torch.Generator(device=model.device)
    g.manual_seed(seed)
    head = slice(0, 8)
    model.sample(
        Conditions(
            conditions.energy[head],
            conditions.particle[head],
            conditions.direction[head],
            conditions.impact[head],
        ),
        g,
    )
    t0 = time.perf_counter()
    gen = model.sample(conditions, g)
    return gen, 1000.0 * (time.perf_counter() - t0) / len(conditions.energy)


__all__ = ["fidelity", "time_per_shower"]
