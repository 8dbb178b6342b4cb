"""ClassifierRefiner: keeps one candidate per condition with probability softmax(-logit).

The showers are TOY showers of the tiny toy detector (tests only); the classifier logits
are set by hand so that the expected choice frequencies are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from caloforge.data import Conditions
from caloforge.geometry import Detector
from caloforge.postprocess.refiner import ClassifierRefiner, refiner_inputs
from caloforge.testing import toy_detector, toy_showers

Toy = tuple[Detector, np.ndarray, Conditions]


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Toy:
    det = toy_detector(tmp_path_factory.mktemp("det"))
    showers, cond = toy_showers(det, 400, seed=0)
    return det, showers, cond


def test_inputs_are_the_validation_observables_and_conditions(toy: Toy) -> None:
    det, showers, cond = toy
    x = refiner_inputs(showers, cond, det)
    assert x.shape[0] == len(showers) and np.isfinite(x).all()
    # rescaling a shower changes its energy ratio column and nothing that is a shape
    y = refiner_inputs(2 * showers, cond, det)
    changed = ~np.isclose(x, y).all(axis=0)
    assert 1 <= changed.sum() <= 3


def test_choice_frequencies_follow_the_classifier_weights(toy: Toy) -> None:
    det, showers, cond = toy
    n_inputs = refiner_inputs(showers[:2], cond.select(slice(0, 2)), det).shape[1]
    refiner = ClassifierRefiner(n_inputs, 8, 2)
    # candidate 0 of each pair: logit 0; candidate 1: logit log 3 -> kept 1 time in 4
    logits = torch.tensor([0.0, float(np.log(3.0))]).repeat(200)
    refiner.logits = lambda inputs: logits  # type: ignore[method-assign]
    kept = refiner.choose(
        torch.from_numpy(showers), cond, det, torch.Generator().manual_seed(0)
    ).numpy()
    assert kept.shape == (200, showers.shape[1])
    first = (kept == showers[0::2]).all(axis=1)
    second = (kept == showers[1::2]).all(axis=1)
    assert np.all(first | second)  # every kept shower is a candidate of its own condition
    assert abs(first.mean() - 0.75) < 0.1  # binomial sd 0.03


def test_errors_and_state_round_trip(toy: Toy) -> None:
    det, _, cond = toy
    with pytest.raises(ValueError, match="candidates must be >= 2"):
        ClassifierRefiner(5, 8, 1)
    with pytest.raises(ValueError, match="threshold"):
        ClassifierRefiner(5, 8, 4, threshold=-1.0)
    with pytest.raises(ValueError, match="ensemble must be >= 1"):
        ClassifierRefiner(5, 8, 4, ensemble=0)
    refiner = ClassifierRefiner(5, 8, 4, threshold=0.01, ensemble=3)
    with pytest.raises(ValueError, match="not a multiple of 4"):
        refiner.choose(torch.zeros(6, 48), cond.select(slice(0, 6)), det)
    refiner.mean.fill_(3.0)
    copy = ClassifierRefiner.from_state(refiner.state_dict())
    copy.load_state_dict(refiner.state_dict())
    assert copy.draws == 4 and float(copy.threshold) == pytest.approx(0.01)
    assert len(copy.nets) == 3
    x = np.random.default_rng(0).normal(size=(7, 5))
    assert torch.equal(copy.logits(x), refiner.logits(x))
    # the ensemble's logit is the mean of its members'
    z = torch.as_tensor((x - 3.0), dtype=torch.float32)
    members = torch.stack([net(z).squeeze(1) for net in refiner.nets])
    torch.testing.assert_close(refiner.logits(x), members.mean(0))
