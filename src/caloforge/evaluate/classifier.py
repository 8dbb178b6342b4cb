"""Two-sample classifier test: can a classifier tell the candidate from the reference?

Protocol (fixed; documented in ``docs/validation.md``):

1. The candidate is generated with the reference's conditions, and the conditions are
   input features (log incident energy and the other condition features that vary), so a
   model that ignores its conditioning is caught.
2. Inputs: (a) normalised voxel energies ``log1p(1000 * E_voxel / E_inc)`` or (b) the
   high-level observables of :func:`~caloforge.evaluate.observables.high_level_observables`;
   standardised with the training split's mean and standard deviation.
3. Sizes, per class: the classifier is trained on ``n_train`` showers (10,000; a smaller
   file gives 60 % of its showers, with a warning), checked on a validation split of a
   third of that (Platt scaling, the MLP's best epoch) and tested on at most ``n_test``
   (10,000) further showers. Every result carries ``n_train_per_class`` and
   ``n_test_per_class``.
4. Classifiers that converge: a small torch MLP (early stopping on the validation loss of
   at least a third of the training size) and scikit-learn's HistGradientBoostingClassifier
   with a fixed 500 iterations at rate 0.05 (no early stopping on a small split: that made
   the voxel AUC move by up to 0.09 between seeds). Option: ``protocol="challenge"``, the
   Fast Calorimeter Simulation Challenge's classifier (:func:`challenge_classifier`).
5. For each of at least three seeds: a new split and a new fit. Reported per classifier:
   test ROC AUC and a Jensen-Shannon divergence estimate (bits, ``1 - BCE/ln 2`` of the
   calibrated classifier on the balanced test split, a lower bound of the JSD; values
   around 0 are noise), mean and standard deviation over seeds. The classifier with the
   larger mean AUC is the headline; its error ``auc_err`` adds in quadrature the seed
   spread and the statistical spread of the AUC of identical samples on the test split,
   sqrt((2n + 1) / (12 n^2)) for n showers per class (Mann-Whitney).
6. Learning curve (optional): the headline classifier's AUC (first seed) with 1k, 3k,
   10k, 30k, ... training showers per class on the same test split.

AUC 0.5 means indistinguishable.

References:
    D. Lopez-Paz, M. Oquab, "Revisiting classifier two-sample tests", arXiv:1610.06545;
    C. Krause, D. Shih, "CaloFlow", arXiv:2106.05285 (classifier metric for showers);
    M. Faucett Giannelli et al., "Fast Calorimeter Simulation Challenge 2022",
    arXiv:2410.21611 (the Challenge's classifier).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge._optional import require
from caloforge.data import CONDITION_FEATURES, Conditions, condition_features

log = logging.getLogger(__name__)

Array = NDArray[np.float64]

PROTOCOLS = ("caloforge", "challenge")
CURVES = ("off", "auto", "full")
KINDS = ("mlp", "hgb", "challenge")


@dataclass(frozen=True)
class ClassifierConfig:
    """Settings of the two-sample classifier test (defaults are the documented protocol).

    Arguments:
        seeds: one split and one fit of each classifier per seed (the protocol: three).
        n_train: showers per class that train the classifier (the documented size; a file
            too small for it gives 60 % of its showers, with a warning).
        n_test: at most this many showers per class in the test split.
        max_per_class: at most this many showers of each file are used at all.
        fractions: train/validation/test fractions of a file smaller than the documented
            size; the validation split is ``fractions[1] / fractions[0]`` of the training
            split in every case.
        classifiers: among ``mlp``, ``hgb`` (protocol ``caloforge``) or ``challenge``.
        protocol: ``caloforge`` (MLP and gradient boosting, inputs standardised) or
            ``challenge`` (the Fast Calorimeter Simulation Challenge's classifier).
        learning_curve: ``off``; ``auto``: training sizes below the headline size (cheap:
            about 13 % more work); ``full``: every size of ``curve_sizes`` the files hold.
        curve_sizes: training showers per class of the learning curve.
        mlp_*: the small MLP (early stopping on the validation loss, best epoch kept).
        hgb_*: gradient boosting, a fixed number of iterations (no early stopping).
        challenge_*: the Challenge's network: ``challenge_layers`` hidden-to-hidden layers
            after the input layer, all ``challenge_hidden`` wide, LeakyReLU, no dropout,
            Adam, the epoch with the best validation accuracy kept.
        n_threads: threads of each fit (torch and OpenMP). One is the robust default: these
            fits are small, and OpenMP threads that wait on each other are very slow on a
            busy machine.
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    n_train: int = 10_000
    n_test: int = 10_000
    max_per_class: int = 100_000
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    classifiers: tuple[str, ...] = ("mlp", "hgb")
    protocol: str = "caloforge"
    learning_curve: str = "off"
    curve_sizes: tuple[int, ...] = (1_000, 3_000, 10_000, 30_000, 100_000)
    mlp_hidden: int = 128
    mlp_epochs: int = 60
    mlp_lr: float = 1e-3
    mlp_batch: int = 256
    mlp_patience: int = 6
    hgb_max_iter: int = 500
    hgb_learning_rate: float = 0.05
    challenge_hidden: int = 2048
    challenge_layers: int = 2
    challenge_epochs: int = 50
    challenge_lr: float = 2e-4
    challenge_batch: int = 1000
    n_threads: int = 1

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(
                f"classifier protocol must be one of {PROTOCOLS}, got {self.protocol!r}"
            )
        allowed = {"challenge"} if self.protocol == "challenge" else {"mlp", "hgb"}
        if not self.classifiers or set(self.classifiers) - allowed:
            raise ValueError(
                f"classifiers of protocol {self.protocol!r} must be among {sorted(allowed)}, "
                f"got {self.classifiers}"
            )
        if self.learning_curve not in CURVES:
            raise ValueError(f"learning_curve must be one of {CURVES}, got {self.learning_curve!r}")
        if not self.seeds:
            raise ValueError("at least one classifier seed is needed")
        if self.max_per_class < 10:
            raise ValueError(f"max_per_class must be at least 10, got {self.max_per_class}")
        if self.n_train < 10 or self.n_test < 10:
            raise ValueError(
                f"n_train and n_test must be at least 10, got {self.n_train} and {self.n_test}"
            )

    @classmethod
    def challenge(cls, **kw: Any) -> ClassifierConfig:
        """The Challenge's classifier (protocol ``challenge``) with the sizes of ``kw``."""
        return cls(protocol="challenge", classifiers=("challenge",), **kw)


# ---------------------------------------------------------------------------------------
# inputs
def condition_inputs(cond: Conditions) -> Array:
    """All condition features (log E, particle, angles, impact) as (N, 6)."""
    return condition_features(cond, CONDITION_FEATURES).astype(np.float64)


def voxel_inputs(showers: NDArray[Any], cond: Conditions, style: str = "caloforge") -> Array:
    """Classifier input (a): the voxels followed by the conditions.

    Arguments:
        style: ``caloforge``: ``log1p(1000 * voxel / E_inc)``, then every condition feature;
            ``challenge``: the Challenge's ``log10(E_inc / MeV)``, ``voxel / E_inc``, then
            the other condition features.
    """
    s = np.asarray(showers, dtype=np.float64)
    ratio = s / cond.energy[:, None]
    if style == "challenge":
        log_e = np.log10(cond.energy)[:, None]
        return np.concatenate([log_e, ratio, condition_inputs(cond)[:, 1:]], axis=1)
    if style != "caloforge":
        raise ValueError(f"input style must be one of {PROTOCOLS}, got {style!r}")
    return np.concatenate([np.log1p(1000.0 * ratio), condition_inputs(cond)], axis=1)


def high_level_inputs(features: Mapping[str, NDArray[Any]], cond: Conditions) -> Array:
    """Classifier input (b): the high-level observables followed by the conditions."""
    cols = np.stack([np.asarray(v, dtype=np.float64) for v in features.values()], axis=1)
    return np.concatenate([cols, condition_inputs(cond)], axis=1)


# ---------------------------------------------------------------------------------------
# sizes
@dataclass(frozen=True)
class SplitSizes:
    """Showers per class in each split, and the pool the training split is drawn from."""

    train: int
    val: int
    test: int
    pool: int

    @property
    def total(self) -> int:
        return self.val + self.test + self.pool


def split_sizes(n: int, cfg: ClassifierConfig) -> SplitSizes:
    """Split ``n`` showers per class: ``train`` = min(n_train, 60 % of n), a validation
    split of a third of it, a test split of at most ``n_test``; the training showers are
    the first of the ``pool`` left after validation and test (the learning curve uses more
    of it)."""
    f_train, f_val, _ = cfg.fractions
    train = max(1, min(cfg.n_train, round(f_train * n)))
    val = max(1, round(train * f_val / f_train))
    test = min(cfg.n_test, n - train - val)
    if test < 1:
        raise ValueError(f"too few showers per class ({n}) for a train/validation/test split")
    return SplitSizes(train, val, test, n - val - test)


# ---------------------------------------------------------------------------------------
# classifiers
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


def challenge_classifier(n_inputs: int, hidden: int = 2048, layers: int = 2) -> Any:
    """The Challenge's classifier network (``DNN`` of its ``code/evaluate.py``): an input
    layer to ``hidden`` units, ``layers`` hidden-to-hidden layers, a logit; LeakyReLU
    (slope 0.01) after each hidden layer, no dropout."""
    import torch

    mods: list[Any] = [torch.nn.Linear(n_inputs, hidden), torch.nn.LeakyReLU()]
    for _ in range(layers):
        mods += [torch.nn.Linear(hidden, hidden), torch.nn.LeakyReLU()]
    return torch.nn.Sequential(*mods, torch.nn.Linear(hidden, 1))


@dataclass(frozen=True)
class _Schedule:
    epochs: int
    lr: float
    batch: int
    patience: int | None  # None: every epoch, best kept
    select: str  # "loss" or "accuracy" on the validation split


def train_mlp(
    xtr: Array, ytr: Array, xva: Array, yva: Array, cfg: ClassifierConfig, seed: int
) -> Any:
    """Train :func:`mlp_classifier` (``cfg.mlp_*``; Adam, binary cross-entropy, early
    stopping on the validation loss, best weights kept) on ``cfg.n_threads`` threads.

    Returns:
        The network in eval mode (a logit per row; positive: class 1).
    """
    sched = _Schedule(cfg.mlp_epochs, cfg.mlp_lr, cfg.mlp_batch, cfg.mlp_patience, "loss")
    make = functools.partial(mlp_classifier, xtr.shape[1], cfg.mlp_hidden)
    return _train(make, (xtr, ytr, xva, yva), sched, cfg.n_threads, seed)


def train_challenge(
    xtr: Array, ytr: Array, xva: Array, yva: Array, cfg: ClassifierConfig, seed: int
) -> Any:
    """Train :func:`challenge_classifier` as the Challenge does: ``cfg.challenge_epochs``
    epochs of Adam (``challenge_lr``, batches of ``challenge_batch``), keeping the epoch
    with the best validation accuracy."""
    sched = _Schedule(cfg.challenge_epochs, cfg.challenge_lr, cfg.challenge_batch, None, "accuracy")
    make = functools.partial(
        challenge_classifier, xtr.shape[1], cfg.challenge_hidden, cfg.challenge_layers
    )
    return _train(make, (xtr, ytr, xva, yva), sched, cfg.n_threads, seed)


def _train(
    make: Callable[[], Any],
    data: tuple[Array, Array, Array, Array],
    sched: _Schedule,
    threads: int,
    seed: int,
) -> Any:
    """``make()`` trained on ``data`` (train x, y, validation x, y) with ``threads`` threads
    and the global torch random state left as it was."""
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = make()
            _optimise(torch, net, *data, sched, seed)
    finally:
        torch.set_num_threads(before)
    return net.eval()


def _optimise(
    torch: Any,
    net: Any,
    xtr: Array,
    ytr: Array,
    xva: Array,
    yva: Array,
    sched: _Schedule,
    seed: int,
) -> None:
    opt = torch.optim.Adam(net.parameters(), lr=sched.lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    xt, yt = torch.as_tensor(xtr, dtype=torch.float32), torch.as_tensor(ytr, dtype=torch.float32)
    xv, yv = torch.as_tensor(xva, dtype=torch.float32), torch.as_tensor(yva, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    best, best_state, bad = float("inf"), None, 0
    for _ in range(sched.epochs):
        net.train()
        for idx in torch.randperm(len(xt), generator=gen).split(sched.batch):
            opt.zero_grad()
            loss_fn(net(xt[idx]).squeeze(1), yt[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            logits = net(xv).squeeze(1)
            if sched.select == "loss":
                v = float(loss_fn(logits, yv))
            else:  # accuracy, as a value to minimise
                v = -float(((logits > 0).float() == yv).float().mean())
        if v < best - (1e-4 if sched.select == "loss" else 0.0):
            best, bad = v, 0
            best_state = {k: t.clone() for k, t in net.state_dict().items()}
        else:
            bad += 1
            if sched.patience is not None and bad >= sched.patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)


def _torch_score(net: Any) -> Any:
    import torch

    def score(x: Array) -> Array:
        with torch.no_grad():
            out = [
                net(torch.as_tensor(b, dtype=torch.float32)).squeeze(1)
                for b in np.array_split(x, max(1, len(x) // 4096))
            ]
        return torch.cat(out).numpy().astype(np.float64)

    return score


def _fit_hgb(xtr: Array, ytr: Array, cfg: ClassifierConfig, seed: int) -> Any:
    ensemble = require("sklearn.ensemble")
    clf = ensemble.HistGradientBoostingClassifier(
        max_iter=cfg.hgb_max_iter,
        learning_rate=cfg.hgb_learning_rate,
        early_stopping=False,
        random_state=seed,
    )
    threadpoolctl = require("threadpoolctl")
    with threadpoolctl.threadpool_limits(cfg.n_threads):
        clf.fit(xtr, ytr)

    def score(x: Array) -> Array:
        with threadpoolctl.threadpool_limits(cfg.n_threads):
            return np.asarray(clf.decision_function(x), dtype=np.float64)

    return score


def _fit(
    kind: str, xtr: Array, ytr: Array, xva: Array, yva: Array, cfg: ClassifierConfig, seed: int
) -> Any:
    if kind == "hgb":
        return _fit_hgb(xtr, ytr, cfg, seed)
    train = train_challenge if kind == "challenge" else train_mlp
    return _torch_score(train(xtr, ytr, xva, yva, cfg, seed))


def _platt(score_val: Array, y_val: Array, score_test: Array) -> Array:
    linear = require("sklearn.linear_model")
    lr = linear.LogisticRegression(C=1e4)
    lr.fit(score_val[:, None], y_val)
    return np.asarray(lr.predict_proba(score_test[:, None])[:, 1], dtype=np.float64)


def _isotonic(score_val: Array, y_val: Array, score_test: Array) -> Array:
    """The Challenge's calibration: isotonic regression of the sigmoid output."""
    iso = require("sklearn.isotonic").IsotonicRegression(
        out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6
    )
    iso.fit(1 / (1 + np.exp(-score_val)), y_val)
    return np.asarray(iso.predict(1 / (1 + np.exp(-score_test))), dtype=np.float64)


def jsd_estimate(p: NDArray[Any], y: NDArray[Any]) -> float:
    """JSD lower bound in bits, ``1 - BCE / ln 2``, from calibrated probabilities ``p`` of
    class 1 on a balanced sample with labels ``y``."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(y, dtype=np.float64)
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(1.0 - bce / np.log(2.0))


def auc_stat_error(n_test: int) -> float:
    """Spread of the AUC of indistinguishable samples with ``n_test`` test showers per
    class, sqrt((2n + 1) / (12 n^2)) (Mann-Whitney)."""
    return float(np.sqrt((2 * n_test + 1) / (12.0 * n_test * n_test)))


# ---------------------------------------------------------------------------------------
# the test
@dataclass(frozen=True)
class _Fold:
    """One seed's split: standardised rows of each split and their labels."""

    pool: tuple[Array, Array]
    val: tuple[Array, Array]
    test: tuple[Array, Array]


def _fold(
    a: Array, b: Array, sizes: SplitSizes, seed: int, standardise: bool, n_train: int
) -> _Fold:
    """Seed ``seed``'s split; ``pool`` holds the first ``n_train`` pool rows per class
    (classes interleaved so that a prefix of 2k rows is k of each)."""
    rng = np.random.default_rng(seed)
    pa, pb = rng.permutation(len(a)), rng.permutation(len(b))

    def part(lo: int, hi: int, interleave: bool = False) -> tuple[Array, Array]:
        xa, xb = a[pa[lo:hi]], b[pb[lo:hi]]
        if interleave:
            x = np.empty((2 * len(xa), a.shape[1]))
            x[0::2], x[1::2] = xa, xb
            y = np.tile([0.0, 1.0], len(xa))
            return x, y
        return np.concatenate([xa, xb]), np.r_[np.zeros(len(xa)), np.ones(len(xb))]

    v, t = sizes.val, sizes.val + sizes.test
    val, test, pool = part(0, v), part(v, t), part(t, t + n_train, interleave=True)
    if standardise:
        ntr = 2 * sizes.train
        mu, sd = pool[0][:ntr].mean(axis=0), pool[0][:ntr].std(axis=0)
        sd[sd == 0] = 1.0

        def z(split: tuple[Array, Array]) -> tuple[Array, Array]:
            return (split[0] - mu) / sd, split[1]

        val, test, pool = z(val), z(test), z(pool)
    return _Fold(pool, val, test)


def _score_fold(
    kind: str, fold: _Fold, n_train: int, cfg: ClassifierConfig, seed: int
) -> tuple[float, float]:
    """(test AUC, JSD estimate) of one classifier fitted on the first ``n_train`` pool
    showers per class of ``fold``."""
    metrics = require("sklearn.metrics")
    xtr, ytr = fold.pool[0][: 2 * n_train], fold.pool[1][: 2 * n_train]
    (xva, yva), (xte, yte) = fold.val, fold.test
    score = _fit(kind, xtr, ytr, xva, yva, cfg, seed)
    calibrate = _isotonic if kind == "challenge" else _platt
    p = calibrate(score(xva), yva, score(xte))
    return float(metrics.roc_auc_score(yte, p)), jsd_estimate(p, yte)


def _curve_sizes(sizes: SplitSizes, cfg: ClassifierConfig) -> list[int]:
    """Training sizes of the learning curve (the headline size included)."""
    if cfg.learning_curve == "off":
        return []
    if cfg.learning_curve == "auto":
        return sorted({s for s in cfg.curve_sizes if s < sizes.train} | {sizes.train})
    return sorted({s for s in cfg.curve_sizes if s <= sizes.pool} | {sizes.train})


def two_sample_test(
    reference: NDArray[Any],
    candidate: NDArray[Any],
    config: ClassifierConfig | None = None,
    *,
    standardise: bool = True,
    warn_small: bool = True,
) -> dict[str, Any]:
    """Classifier two-sample test between two input matrices (rows: showers).

    Arguments:
        reference, candidate: (N_ref, F) and (N_cand, F) inputs, e.g. from
            :func:`voxel_inputs` or :func:`high_level_inputs`, conditions included.
        config: protocol settings.
        standardise: standardise the inputs with the training split's mean and standard
            deviation (the Challenge's voxel inputs are not).
        warn_small: log a warning when the classifier trains on fewer showers than the
            documented size (``below_documented_size`` is set either way).

    Returns:
        A dict with ``auc``, ``auc_err``, ``jsd``, ``jsd_err`` and ``headline`` (the
        stronger classifier), per-classifier per-seed values under ``classifiers``, the
        sizes (``n_train_per_class``, ``n_test_per_class``, ``n_val_per_class``,
        ``below_documented_size``, ``n_per_class``, ``n_available``, ``subsampled``,
        ``splits``) and ``learning_curve`` (a list of points, empty when off).
    """
    cfg = config or ClassifierConfig()
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
    sizes = split_sizes(n, cfg)
    curve = _curve_sizes(sizes, cfg)
    used = sizes.val + sizes.test + max([sizes.train, *curve])  # per class
    subsampled = used < max(available)
    if subsampled:
        log.info("classifier: %d of %s showers per class used", used, available)
    below = sizes.train < cfg.n_train
    if below and warn_small:
        log.warning(
            "classifier: trained on %d showers per class, fewer than the documented %d "
            "(the files hold %s): its AUC is not comparable with figures at %d",
            sizes.train,
            cfg.n_train,
            available,
            cfg.n_train,
        )
    a, b = a[:n], b[:n]
    results: dict[str, dict[str, list[float]]] = {
        k: {"auc": [], "jsd": []} for k in cfg.classifiers
    }
    largest = max([sizes.train, *curve])
    for seed in cfg.seeds:
        fold = _fold(a, b, sizes, seed, standardise, largest)
        for kind in cfg.classifiers:
            auc, jsd = _score_fold(kind, fold, sizes.train, cfg, seed)
            results[kind]["auc"].append(auc)
            results[kind]["jsd"].append(jsd)
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
    # spread of the AUC of indistinguishable samples on a test split of this size (the seeds
    # share their showers, so their spread alone underestimates the uncertainty)
    stat = auc_stat_error(sizes.test)
    points = []
    del fold
    first = _fold(a, b, sizes, cfg.seeds[0], standardise, largest) if len(curve) > 1 else None
    for size in curve:
        if size == sizes.train or first is None:
            auc, seeds = summary[head]["auc_mean"], len(cfg.seeds)
        else:
            auc, seeds = _score_fold(head, first, size, cfg, cfg.seeds[0])[0], 1
        points.append(
            {
                "n_train_per_class": size,
                "n_test_per_class": sizes.test,
                "auc": auc,
                "auc_stat_err": stat,
                "seeds": seeds,
            }
        )
    return {
        "auc": summary[head]["auc_mean"],
        "auc_err": float(np.hypot(summary[head]["auc_std"], stat)),
        "auc_stat_err": stat,
        "jsd": summary[head]["jsd_mean"],
        "jsd_err": summary[head]["jsd_std"],
        "headline": head,
        "protocol": cfg.protocol,
        "classifiers": summary,
        "n_train_per_class": sizes.train,
        "n_val_per_class": sizes.val,
        "n_test_per_class": sizes.test,
        "below_documented_size": below,
        "n_per_class": used,
        "n_available": list(available),
        "subsampled": subsampled,
        "splits": {"train": 2 * sizes.train, "val": 2 * sizes.val, "test": 2 * sizes.test},
        "learning_curve": points,
        "seeds": list(cfg.seeds),
        "config": asdict(cfg),
    }


__all__ = [
    "ClassifierConfig",
    "SplitSizes",
    "auc_stat_error",
    "challenge_classifier",
    "condition_inputs",
    "high_level_inputs",
    "jsd_estimate",
    "mlp_classifier",
    "split_sizes",
    "train_challenge",
    "train_mlp",
    "two_sample_test",
    "voxel_inputs",
]
