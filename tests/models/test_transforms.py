"""Preprocessing: invertible, learned from data, part of the model state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from caloforge.models.transforms import ConditionScaler, ShowerTransform
from caloforge.testing import toy_detector, toy_showers


@pytest.mark.parametrize("kind", ["log", "logit", "none"])
@pytest.mark.parametrize("standardise", [True, False])
def test_round_trip(tmp_path, kind: str, standardise: bool) -> None:
    det = toy_detector(tmp_path)
    s, c = toy_showers(det, 300, seed=3)
    t = ShowerTransform(det.n_voxels, kind, alpha=1e-6, standardise=standardise)  # type: ignore[arg-type]
    t.fit(s, c.energy)
    x, e = torch.from_numpy(s), torch.from_numpy(c.energy).float()
    y = t(x, e)
    assert torch.isfinite(y).all()
    back = t.inverse(y, e).numpy()
    np.testing.assert_allclose(back, s, rtol=2e-3, atol=1e-3 * float(c.energy.max()) * 1e-6 + 1e-4)
    assert (back[s == 0] == 0).all()
    if standardise:
        assert abs(float(y.mean())) < 1e-3
    restored = ShowerTransform(det.n_voxels, kind, alpha=1e-6, standardise=standardise)  # type: ignore[arg-type]
    restored.load_state_dict(t.state_dict())
    torch.testing.assert_close(restored(x, e), y)


def test_inverse_clips_and_is_differentiable() -> None:
    t = ShowerTransform(3, "log", alpha=1e-3, standardise=False)
    y = torch.tensor([[-20.0, 0.0, np.log(5e-4)]], requires_grad=True)
    out = t.inverse(y, torch.tensor([1000.0]))
    assert out[0, 0] == 0 and out[0, 2] == 0 and out[0, 1] > 0
    out.sum().backward()
    assert y.grad is not None


def test_condition_scaler_flags_constant_features() -> None:
    f = np.stack([np.linspace(0, 4, 10), np.full(10, 2.5)], axis=1)
    s = ConditionScaler(2)
    s.fit(f)
    assert s.constant.tolist() == [False, True]
    z = s(torch.from_numpy(f).float())
    assert torch.allclose(z[:, 1], torch.zeros(10)) and abs(float(z[:, 0].std()) - 1) < 1e-5
    torch.testing.assert_close(s.inverse(z), torch.from_numpy(f).float())


def test_bad_transform_arguments() -> None:
    with pytest.raises(ValueError, match="'sqrt'"):
        ShowerTransform(3, "sqrt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alpha"):
        ShowerTransform(3, "log", alpha=0.0)
