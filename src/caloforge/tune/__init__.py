"""Hyper-parameter optimisation of a model family with Optuna.

Each trial trains the family (the one trainer, :func:`caloforge.train.train`) with
configuration values drawn from a *search space*, then measures

* fidelity, lower is better: the AUC of a two-sample classifier (gradient-boosted trees,
  high-level observables + conditions) between generated and validation showers
  (``objective="auc"``, 0.5 = indistinguishable), or a weighted mean of the separation
  powers of the high-level observables (``objective="separation"``; every global
  observable weighs 1, each per-layer observable 1 / n_layers);
* speed: generation time per shower (ms, batch of ``eval_showers`` on this machine).

With ``speed=True`` (default) the study is multi-objective and its result is the Pareto
front of fidelity versus speed; otherwise fidelity alone. Bad trials are pruned from their
intermediate validation loss (the trainer's ``val_score`` at every ``train.val_every``
steps) by a median rule: a trial whose value at a step is worse than the median of the
finished trials at that step stops (Optuna's ``MedianPruner`` for one objective; the
same rule on stored intermediate values for two, which Optuna's pruners do not support).

Many workers share one study through ``storage``: ``sqlite:///study.db`` (or any
SQLAlchemy URL, e.g. PostgreSQL/MySQL on a cluster), or a journal file
(``journal:PATH``, or a path ending in ``.log``/``.journal``), which is safe on shared
file systems. The summary (``summary.json``) and plots (optimisation history, Pareto front,
parameter importances) are written under ``out``.

Search-space file (YAML or JSON), config keys as in ``key=value`` overrides::

    train.lr: {type: float, low: 1.0e-4, high: 3.0e-3, log: true}
    latent_dim: {type: int, low: 4, high: 32, step: 4}
    encoder_hidden: {type: categorical, choices: [[64, 64], [128, 128]]}
    train.batch_size: {type: categorical, choices: [64, 128, 256]}

(``type: log`` is short for a float with ``log: true``.)

References:
    Akiba et al., "Optuna: A Next-generation Hyperparameter Optimization Framework",
    arXiv:1907.10902. Watanabe, "Tree-structured Parzen Estimator", arXiv:2304.11127.
    Krause et al., "CaloFlow", arXiv:2106.05285 (classifier AUC as a fidelity metric).

Modules: :mod:`~caloforge.tune.study` (``tune``), :mod:`~caloforge.tune.space` (the search
space), :mod:`~caloforge.tune.settings`, :mod:`~caloforge.tune.storage` (study storage),
:mod:`~caloforge.tune.scoring` (fidelity and timing of a trial),
:mod:`~caloforge.tune.pruning` (the median rule) and :mod:`~caloforge.tune.summary`
(``summary.json`` and plots).
"""

from caloforge.tune.scoring import fidelity
from caloforge.tune.settings import TuneSettings
from caloforge.tune.space import Distribution, SpaceError, load_space, override, parse_distribution
from caloforge.tune.storage import open_storage
from caloforge.tune.study import TuneResult, tune
from caloforge.tune.summary import summarise_study

__all__ = [
    "Distribution",
    "SpaceError",
    "TuneResult",
    "TuneSettings",
    "fidelity",
    "load_space",
    "open_storage",
    "override",
    "parse_distribution",
    "summarise_study",
    "tune",
]
