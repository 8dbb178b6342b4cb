"""``diffusion``: the ODE sampler, the step count and the distilled student; TOY showers."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.generate import generate, gun_conditions
from caloforge.models.base import ExportNotSupportedError
from caloforge.models.diffusion import DiffusionConfig, integrate
from caloforge.train import load_model, train

from .conftest import FAST, TINY


def test_integrate_solves_the_ode() -> None:
    x0, ctx = torch.ones(3, 2), torch.zeros(3, 0)
    const = integrate(lambda x, t, c: torch.full_like(x, 2.0), x0, ctx, 3, "euler")
    torch.testing.assert_close(const, torch.full((3, 2), 3.0))

    def growth(x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return x  # x(1) = e x(0)

    err = {
        (solver, n): abs(float(integrate(growth, x0, ctx, n, solver)[0, 0]) - math.e)
        for solver in ("euler", "midpoint")
        for n in (4, 16)
    }
    assert err[("midpoint", 4)] < err[("euler", 4)]
    assert err[("midpoint", 4)] / err[("midpoint", 16)] > 10  # second order
    assert 3 < err[("euler", 4)] / err[("euler", 16)] < 6  # first order


def test_step_count_and_student(toy_files, toy_det, tmp_path: Path) -> None:
    result = train(
        "diffusion",
        toy_files[0],
        out=tmp_path / "run",
        overrides=[*TINY["diffusion"], *FAST, "train.steps=25"],
    )
    model, ckpt = load_model(result.checkpoint)
    assert ckpt["state"]["bank._extra_state"]["rows"].shape == (100, 1)
    cond = gun_conditions(np.geomspace(1e3, 1e5, 40), toy_det)
    outs = {}
    for steps, sampler in ((1, "ode"), (8, "ode"), (8, "student")):
        model.config = dataclasses.replace(model.config, sample_steps=steps, sampler=sampler)
        outs[(steps, sampler)] = generate(model, cond, seed=2)
    for out in outs.values():
        assert np.isfinite(out).all() and (out >= 0).all() and (out.sum(1) > 0).all()
    assert not np.array_equal(outs[(1, "ode")], outs[(8, "ode")])
    assert not np.array_equal(outs[(8, "ode")], outs[(8, "student")])
    # the layer energies come from stage 1 whatever the sampler (renormalised layers)
    np.testing.assert_allclose(outs[(1, "ode")].sum(1), outs[(8, "student")].sum(1), rtol=1e-4)

    # bfloat16 matrix products: same showers up to bf16 rounding, the sums exactly (stage 1
    # and the renormalisation stay float32)
    model.set_precision("bf16")
    assert model.student.inp.weight.dtype == torch.bfloat16
    bf16 = generate(model, cond, seed=2)
    np.testing.assert_allclose(bf16.sum(1), outs[(8, "student")].sum(1), rtol=1e-4)
    hit = outs[(8, "student")] > 0
    assert (bf16[hit] > 0).mean() > 0.95
    both = hit & (bf16 > 0)
    assert np.median(np.abs(np.log(bf16[both] / outs[(8, "student")][both]))) < 0.05
    with pytest.raises(ValueError, match="reload the checkpoint"):
        model.set_precision("fp32")
    with pytest.raises(ExportNotSupportedError, match="reduced precision"):
        model.export_module()
    with pytest.raises(ValueError, match="not one of auto, fp32, bf16"):
        model.set_precision("fp16")


def test_distill_seed_draws_the_pool(toy_det) -> None:
    """The pool's noise and conditions come from ``distill_seed`` (resumable: a distillation
    continues its teacher's run); the default is the seed of pools made before it existed."""
    from caloforge.models.diffusion import Diffusion
    from caloforge.testing import toy_showers
    from caloforge.train import resolve_run_config
    from caloforge.train.loading import build_model

    assert "distill_seed" in Diffusion.resumable_keys
    config, _ = resolve_run_config("diffusion", overrides=TINY["diffusion"])
    assert config.distill_seed == 20_210_205
    showers, cond = toy_showers(toy_det, 64, seed=1)

    def pool(seed: int) -> tuple[torch.Tensor, ...]:
        model = build_model("diffusion", dataclasses.replace(config, distill_seed=seed), toy_det)
        model.fit_data(showers, cond, torch.Generator().manual_seed(0))
        return model.eval()._build_pool()

    first, again, other = pool(5), pool(5), pool(6)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], other[0]) and not torch.equal(first[1], other[1])


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="distill_start"):
        DiffusionConfig(sampler="student")
    with pytest.raises(ValueError, match="solver"):
        DiffusionConfig(solver="rk4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="transform must be 'none'"):
        DiffusionConfig(transform="logit")
