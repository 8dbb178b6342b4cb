"""Train the classifier refiner (:mod:`caloforge.models.refiner`) of a trained checkpoint
and write the refined checkpoint.

The model (EMA weights, with its calibration if it has one) generates one shower for each
training shower's conditions; a classifier learns to tell them from the training showers
by their high-level observables and conditions (80 % to fit, 20 % for early stopping). The
output is an ordinary checkpoint whose state has ``refiner.*`` entries and whose
``refiner`` entry records how it was trained; ``generate``, ``evaluate`` and ``bench``
then draw ``candidates`` showers per condition and keep one. Train it on the training
data, never on the validation file the model is judged on.

Example:
    >>> refine("runs/d/calibrated.pt", "train.h5", "runs/d/refined.pt")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from caloforge._optional import require
from caloforge.evaluate.classifier import ClassifierConfig, train_mlp
from caloforge.files import writes_output
from caloforge.generate import generate
from caloforge.models.refiner import ClassifierRefiner, refiner_inputs
from caloforge.train.postfit import open_fit_source, write_fitted

MIN_SHOWERS = 200
"""Fewest training showers a refiner is trained on."""


@dataclass(frozen=True)
class RefinementResult:
    """What :func:`refine` wrote: the checkpoint, the showers it used, the refiner's own
    AUC on its held-out 20 % (how much it still sees; 0.5: nothing), its time (s)."""

    path: Path
    n_showers: int
    candidates: int
    held_out_auc: float
    seconds: float


@writes_output("out", inputs=("checkpoint", "data"))
def refine(
    checkpoint: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    candidates: int = 8,
    n: int | None = None,
    hidden: int = 128,
    ensemble: int = 1,
    threshold: float = 0.0,
    seed: int = 0,
    threads: int = 1,
    batch_size: int = 10_000,
    device: str = "cpu",
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RefinementResult:
    """Train the classifier refiner of ``checkpoint`` on training ``data``; write ``out``.

    Arguments:
        checkpoint: a trained caloforge checkpoint, calibrated or not (not already refined).
        data: the training showers (HDF5, the same detector).
        out: the refined checkpoint (atomic write; an existing file is kept unless
            ``overwrite``; it may not be ``checkpoint`` itself).
        candidates: showers drawn per condition at generation (>= 2).
        n: showers used (the first ``n`` of ``data``; None: all).
        hidden: width of the classifier.
        ensemble: classifiers trained with seeds ``seed, seed + 1, ...`` (logits averaged).
        threshold: hit threshold of the observables, MeV.
        seed: seed of the model's showers and of the classifier.
        threads: torch threads of the classifier fit.
        batch_size / device: generation settings.
        progress: called with (showers generated, showers in all).

    Raises:
        ValueError: bad arguments, a refined input, too few showers; CheckpointError;
        DetectorMismatchError; FileExistsError: ``out`` exists.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    src = open_fit_source(
        checkpoint,
        data,
        out,
        key="refiner",
        done="refined",
        n=n,
        min_showers=MIN_SHOWERS,
        device=device,
        overwrite=overwrite,
    )
    model, count, ref = src.model, src.count, src.data
    refiner = ClassifierRefiner(1, hidden, candidates, threshold, ensemble)  # checks settings
    showers, cond = ref.showers(0, count), ref.conditions(0, count)
    t0 = time.perf_counter()
    done = None if progress is None else (lambda k: progress(k, count))
    generated = generate(model, cond, seed=seed, batch_size=batch_size, progress=done)
    x_data = refiner_inputs(showers, cond, model.detector, threshold)
    x_model = refiner_inputs(generated, cond, model.detector, threshold)
    if not (np.isfinite(x_data).all() and np.isfinite(x_model).all()):
        raise ValueError(f"{checkpoint}: non-finite observables in the model's or data's showers")

    # the same split for both classes: a condition is in training or held out for both
    held_out = np.random.default_rng(seed).permutation(count) < count // 5
    x = np.concatenate([x_data, x_model])
    y = np.concatenate([np.zeros(count), np.ones(count)])
    val = np.concatenate([held_out, held_out])
    mean, std = x[~val].mean(axis=0), x[~val].std(axis=0)
    std[std == 0] = 1.0
    z = (x - mean) / std
    cfg = replace(ClassifierConfig(), n_threads=threads, mlp_hidden=hidden)
    refiner = ClassifierRefiner(x.shape[1], hidden, candidates, threshold, ensemble)
    for i, net in enumerate(refiner.nets):
        net.load_state_dict(train_mlp(z[~val], y[~val], z[val], y[val], cfg, seed + i).state_dict())
    refiner.mean.copy_(refiner.mean.new_tensor(mean))
    refiner.std.copy_(refiner.std.new_tensor(std))
    auc = float(require("sklearn.metrics").roc_auc_score(y[val], refiner.logits(x[val]).numpy()))

    record: dict[str, Any] = {
        "kind": "classifier-resampling",
        "candidates": candidates,
        "hidden": hidden,
        "ensemble": ensemble,
        "threshold": threshold,
        "held_out_auc": auc,
        "seed": seed,
    }
    path = write_fitted(out, src, "refiner", refiner, record)
    return RefinementResult(path, count, candidates, auc, time.perf_counter() - t0)


__all__ = ["RefinementResult", "refine"]
