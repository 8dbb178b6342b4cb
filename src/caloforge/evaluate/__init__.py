"""Validation: observables, metrics, plots and reports comparing shower samples.

Example:
    >>> from caloforge.evaluate import evaluate  # doctest: +SKIP
    >>> m = evaluate("g4_val.h5", {"flow": "flow.h5"}, "report/", train="g4_train.h5")
    >>> m["comparisons"]["flow"]["classifier"]["voxel"]["auc"]
"""

from caloforge.evaluate.classifier import ClassifierConfig, two_sample_test
from caloforge.evaluate.independence import require_independent, shared_events
from caloforge.evaluate.memorisation import (
    MemorisationResult,
    memorisation_check,
    nearest_distances,
)
from caloforge.evaluate.metrics import (
    ObservableMetric,
    PhysicsDistances,
    compare_observables,
    physics_distances,
    separation_power,
)
from caloforge.evaluate.minimums import MINIMUM_PER_CLASS
from caloforge.evaluate.observables import (
    Response,
    SampleSummary,
    energy_response,
    high_level_observables,
    summarise,
)
from caloforge.evaluate.report import FLOOR, EvaluationConfig, evaluate

__all__ = [
    "FLOOR",
    "MINIMUM_PER_CLASS",
    "ClassifierConfig",
    "EvaluationConfig",
    "MemorisationResult",
    "ObservableMetric",
    "PhysicsDistances",
    "Response",
    "SampleSummary",
    "compare_observables",
    "energy_response",
    "evaluate",
    "high_level_observables",
    "memorisation_check",
    "nearest_distances",
    "physics_distances",
    "require_independent",
    "separation_power",
    "shared_events",
    "summarise",
    "two_sample_test",
]
