"""Two-sample classifier test: can a classifier tell the candidate from the reference?

Protocol (fixed; documented in ``docs/validation.md``):

1. The candidate is generated with the reference's conditions, and the conditions are
   input features (log incident energy and the other condition features that vary), so a
   model that ignores its conditioning is caught.
2. Inputs: (a) normalised voxel energies ``log1p(1000 * E_voxel / E_inc)`` or (b) the
   high-level observables of :func:`~caloforge.evaluate.observables.high_level_observables`;
   standardised with the training split's mean and standard deviation.
3. The same number of showers per class (at most ``max_per_class``, the first rows of each
   file: an explicit subsample, reported in the result); for each seed a stratified
   train/validation/test split (60/20/20 %).
4. Two classifiers: a small torch MLP (early stopping on the validation loss) and
   scikit-learn's HistGradientBoostingClassifier; each calibrated with Platt scaling
   fitted on the validation split. The one with the larger mean test AUC is the headline.
5. Reported per classifier: test ROC AUC and a Jensen-Shannon divergence estimate (bits,
   ``1 - BCE/ln 2`` of the calibrated classifier on the balanced test split, a lower
   bound of the JSD; values around 0 are noise), mean and standard deviation over seeds.
   The headline error ``auc_err`` adds in quadrature the seed spread and the statistical
   spread of the AUC of identical samples on the test split, sqrt((2n + 1) / (12 n^2))
   for n showers per class (Mann-Whitney).

AUC 0.5 means indistinguishable.

References:
    D. Lopez-Paz, M. Oquab, "Revisiting classifier two-sample tests", arXiv:1610.06545;
    C. Krause, D. Shih, "CaloFlow", arXiv:2106.05285 (classifier metric for showers).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge._optional import require
from caloforge.data import CONDITION_FEATURES, Conditions, condition_features

log = logging.getLogger(__name__)

Array = NDArray[np.float64]


@dataclass(frozen=True)
class ClassifierConfig:
    """Settings of the two-sample classifier test (defaults are the documented protocol)."""

    seeds: tuple[int, ...] = (0, 1, 2)
    max_per_class: int = 10_000
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    classifiers: tuple[str, ...] = ("mlp", "hgb")
    mlp_hidden: int = 128
    mlp_epochs: int = 60
    mlp_lr: float = 1e-3
    mlp_batch: int = 256
    mlp_patience: int = 6
    hgb_max_iter: int = 200
    hgb_learning_rate: float = 0.1
    n_threads: int = 1
    """Threads of each fit (torch and OpenMP). One is the robust default: these fits are
    small, and OpenMP threads that wait on each other are very slow on a busy machine."""

    def __post_init__(self) -> None:
        unknown = set(self.classifiers) - {"mlp", "hgb"}
        if unknown or not self.classifiers:
            raise ValueError(f"classifiers must be among 'mlp', 'hgb', got {self.classifiers}")
        if not self.seeds:
            raise ValueError("at least one classifier seed is needed")
        if self.max_per_class < 10:
            raise ValueError(f"max_per_class must be at least 10, got {self.max_per_class}")


# ---------------------------------------------------------------------------------------
# inputs
def condition_inputs(cond: Conditions) -> Array:
    """All condition features (log E, particle, angles, impact) as (N, 6)."""
    return condition_features(cond, CONDITION_FEATURES).astype(np.float64)


def voxel_inputs(showers: NDArray[Any], cond: Conditions) -> Array:
    """Classifier input (a): ``log1p(1000 * voxel / E_inc)`` followed by the conditions."""
    s = np.asarray(showers, dtype=np.float64)
    return np.concatenate(
        [np.log1p(1000.0 * s / cond.energy[:, None]), condition_inputs(cond)], axis=1
    )


def high_level_inputs(features: Mapping[str, NDArray[Any]], cond: Conditions) -> Array:
    """Classifier input (b): the high-level observables followed by the conditions."""
    cols = np.stack([np.asarray(v, dtype=np.float64) for v in features.values()], axis=1)
    return np.concatenate([cols, condition_inputs(cond)], axis=1)


# ---------------------------------------------------------------------------------------
# classifiers
def _split(
    n: int, fractions: tuple[float, float, float], rng: np.random.Generator
) -> list[NDArray[np.int64]]:
    perm = rng.permutation(n)
    a = round(fractions[0] * n)
    b = a + round(fractions[1] * n)
    return [perm[:a], perm[a:b], perm[b:]]


def _fit_mlp(
    xtr: Array, ytr: Array, xva: Array, yva: Array, cfg: ClassifierConfig, seed: int
) -> Any:
    import torch

    net = train_mlp(xtr, ytr, xva, yva, cfg, seed)

    def score(x: Array) -> Array:
        with torch.no_grad():
            return (
                net(torch.as_tensor(x, dtype=torch.float32)).squeeze(1).numpy().astype(np.float64)
            )

    return score


def mlp_classifier(n_inputs: int, hidden: int) -> Any:
    """The MLP of the test: ``n_inputs -> hidden -> hidden -> 1`` logit (LeakyReLU 0.1)."""
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(n_inputs, hidden),
        torch.nn.LeakyReLU(0.1),
        torch.nn.Linear(hidden, hidden),
        torch.nn.LeakyReLU(0.1),
        torch.nn.Linear(hidden, 1),
    )


def train_mlp(
    xtr: Array, ytr: Array, xva: Array, yva: Array, cfg: ClassifierConfig, seed: int
) -> Any:
    """Train :func:`mlp_classifier` (``cfg.mlp_*``; Adam, binary cross-entropy, early
    stopping on the validation loss, best weights kept) on ``cfg.n_threads`` threads.

    Returns:
        The network in eval mode (a logit per row; positive: class 1).
    """
    import torch

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(cfg.n_threads)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = mlp_classifier(xtr.shape[1], cfg.mlp_hidden)
            _optimise(torch, net, xtr, ytr, xva, yva, cfg, seed)
    finally:
        torch.set_num_threads(threads)
    return net.eval()


def _optimise(
    torch: Any,
    net: Any,
    xtr: Array,
    ytr: Array,
    xva: Array,
    yva: Array,
    cfg: ClassifierConfig,
    seed: int,
) -> None:
    opt = torch.optim.Adam(net.parameters(), lr=cfg.mlp_lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    xt, yt = torch.as_tensor(xtr, dtype=torch.float32), torch.as_tensor(ytr, dtype=torch.float32)
    xv, yv = torch.as_tensor(xva, dtype=torch.float32), torch.as_tensor(yva, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    best, best_state, bad = float("inf"), None, 0
    for _ in range(cfg.mlp_epochs):
        net.train()
        for idx in torch.randperm(len(xt), generator=gen).split(cfg.mlp_batch):
            opt.zero_grad()
            loss_fn(net(xt[idx]).squeeze(1), yt[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            v = float(loss_fn(net(xv).squeeze(1), yv))
        if v < best - 1e-4:
            best, bad = v, 0
            best_state = {k: t.clone() for k, t in net.state_dict().items()}
        else:
            bad += 1
            if bad >= cfg.mlp_patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)


def _fit_hgb(xtr: Array, ytr: Array, cfg: ClassifierConfig, seed: int) -> Any:
    ensemble = require("sklearn.ensemble")
    clf = ensemble.HistGradientBoostingClassifier(
        max_iter=cfg.hgb_max_iter,
        learning_rate=cfg.hgb_learning_rate,
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=10,
        random_state=seed,
    )
    threadpoolctl = require("threadpoolctl")
    with threadpoolctl.threadpool_limits(cfg.n_threads):
        clf.fit(xtr, ytr)

    def score(x: Array) -> Array:
        with threadpoolctl.threadpool_limits(cfg.n_threads):
            return np.asarray(clf.decision_function(x), dtype=np.float64)

    return score


def _platt(score_val: Array, y_val: Array, score_test: Array) -> Array:
    linear = require("sklearn.linear_model")
    lr = linear.LogisticRegression(C=1e4)
    lr.fit(score_val[:, None], y_val)
    return np.asarray(lr.predict_proba(score_test[:, None])[:, 1], dtype=np.float64)


def jsd_estimate(p: NDArray[Any], y: NDArray[Any]) -> float:
    """JSD lower bound in bits, ``1 - BCE / ln 2``, from calibrated probabilities ``p`` of
    class 1 on a balanced sample with labels ``y``."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(y, dtype=np.float64)
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(1.0 - bce / np.log(2.0))


# ---------------------------------------------------------------------------------------
# the test
def two_sample_test(
    reference: NDArray[Any],
    candidate: NDArray[Any],
    config: ClassifierConfig | None = None,
) -> dict[str, Any]:
    """Classifier two-sample test between two input matrices (rows: showers).

    Arguments:
        reference, candidate: (N_ref, F) and (N_cand, F) inputs, e.g. from
            :func:`voxel_inputs` or :func:`high_level_inputs`, conditions included.
        config: protocol settings.

    Returns:
        A dict with ``auc``, ``auc_err``, ``jsd``, ``jsd_err`` and ``headline`` (the
        stronger classifier), per-classifier per-seed values under ``classifiers``, and
        the sample sizes (``n_per_class``, ``n_available``, ``subsampled``, ``splits``).
    """
    cfg = config or ClassifierConfig()
    metrics = require("sklearn.metrics")
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(candidate, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"classifier inputs of shapes {a.shape} and {b.shape} do not match")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("classifier inputs hold NaN or inf values")
    available = (len(a), len(b))
    n = min(len(a), len(b), cfg.max_per_class)
    if n < 10:
        raise ValueError(f"too few showers for the classifier test: {available}")
    subsampled = n < max(available)
    if subsampled:
        log.info("classifier: subsampling to the first %d showers per class (of %s)", n, available)
    a, b = a[:n], b[:n]
    results: dict[str, dict[str, list[float]]] = {
        k: {"auc": [], "jsd": []} for k in cfg.classifiers
    }
    sizes: list[int] = []
    for seed in cfg.seeds:
        rng = np.random.default_rng(seed)
        sa, sb = _split(n, cfg.fractions, rng), _split(n, cfg.fractions, rng)
        parts = []
        for ia, ib in zip(sa, sb, strict=True):
            x = np.concatenate([a[ia], b[ib]])
            y = np.concatenate([np.zeros(len(ia)), np.ones(len(ib))])
            parts.append((x, y))
        (xtr, ytr), (xva, yva), (xte, yte) = parts
        sizes = [len(ytr), len(yva), len(yte)]
        mu, sd = xtr.mean(axis=0), xtr.std(axis=0)
        sd[sd == 0] = 1.0
        xtr, xva, xte = (xtr - mu) / sd, (xva - mu) / sd, (xte - mu) / sd
        for kind in cfg.classifiers:
            score = (
                _fit_mlp(xtr, ytr, xva, yva, cfg, seed)
                if kind == "mlp"
                else _fit_hgb(xtr, ytr, cfg, seed)
            )
            p = _platt(score(xva), yva, score(xte))
            results[kind]["auc"].append(float(metrics.roc_auc_score(yte, p)))
            results[kind]["jsd"].append(jsd_estimate(p, yte))
    summary: dict[str, Any] = {}
    for kind, r in results.items():
        summary[kind] = {
            "auc": r["auc"],
            "auc_mean": float(np.mean(r["auc"])),
            "auc_std": float(np.std(r["auc"])),
            "jsd": r["jsd"],
            "jsd_mean": float(np.mean(r["jsd"])),
            "jsd_std": float(np.std(r["jsd"])),
        }
    head = max(summary, key=lambda k: summary[k]["auc_mean"])
    n_test = sizes[2] // 2
    # spread of the AUC of indistinguishable samples on a test split of this size (the seeds
    # share their showers, so their spread alone underestimates the uncertainty)
    stat = float(np.sqrt((2 * n_test + 1) / (12.0 * n_test * n_test)))
    return {
        "auc": summary[head]["auc_mean"],
        "auc_err": float(np.hypot(summary[head]["auc_std"], stat)),
        "auc_stat_err": stat,
        "jsd": summary[head]["jsd_mean"],
        "jsd_err": summary[head]["jsd_std"],
        "headline": head,
        "classifiers": summary,
        "n_per_class": n,
        "n_available": list(available),
        "subsampled": subsampled,
        "splits": {"train": sizes[0], "val": sizes[1], "test": sizes[2]},
        "seeds": list(cfg.seeds),
        "config": asdict(cfg),
    }


__all__ = [
    "ClassifierConfig",
    "condition_inputs",
    "high_level_inputs",
    "jsd_estimate",
    "mlp_classifier",
    "train_mlp",
    "two_sample_test",
    "voxel_inputs",
]
