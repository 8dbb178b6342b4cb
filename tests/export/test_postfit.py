"""What ``caloforge calibrate`` and ``caloforge refine`` share (``caloforge.postprocess.fitting``):
the same refusals, one line each, and nothing written when refused; checkpoints of the
former state layout load.

The checkpoints are tiny models trained a few steps on TOY showers (tests only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tests.export.conftest import training_file
from tests.export.test_export import cli

from caloforge.data import ShowerFile
from caloforge.generate import generate
from caloforge.postprocess import calibrate, refine
from caloforge.train import load_checkpoint, load_model

VERBS = {
    "calibrate": (calibrate, "calibrated", {"bins": 2}, ["--bins", "2"]),
    "refine": (refine, "refined", {"candidates": 2}, ["--candidates", "2"]),
}
POSTPROCESSOR = {"calibrate": "calibration", "refine": "refiner"}


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_refusals(
    verb: str,
    tiny_wgan: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    fit, done, kwargs, flags = VERBS[verb]
    fitted: Path = request.getfixturevalue(done)  # the checkpoint the verb wrote
    data = training_file(tiny_wgan)
    out = tmp_path / "out.pt"
    with pytest.raises(FileExistsError, match="--overwrite"):
        fit(tiny_wgan, data, fitted, **kwargs)
    with pytest.raises(ValueError, match=f"already {done}"):
        fit(fitted, data, out, **kwargs)
    with pytest.raises(ValueError, match="is also an input"):
        fit(tiny_wgan, data, tiny_wgan, overwrite=True, **kwargs)
    with pytest.raises(ValueError, match="fewer than the 999"):
        fit(tiny_wgan, data, out, n=999, **kwargs)
    assert not out.exists()
    args = [verb, "--checkpoint", str(tiny_wgan), "-o", str(out), "-q", *flags]
    code, _, err = cli(capsys, monkeypatch, *args, "--data", str(tmp_path / "missing.h5"))
    assert code == 2 and "missing.h5" in err and "Traceback" not in err
    code, _, _ = cli(capsys, monkeypatch, *args, "--data", data)
    assert code == 0 and out.is_file()


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_checkpoint_of_the_former_layout_loads(
    verb: str, tiny_wgan: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Checkpoints written before ``postprocessing.<name>.*`` kept a post-processor's
    tensors at the top of ``state`` (``calibration.*``, ``refiner.*``)."""
    fitted: Path = request.getfixturevalue(VERBS[verb][1])
    ckpt = load_checkpoint(fitted)
    prefix = "postprocessing."
    old = {k.removeprefix(prefix): v for k, v in ckpt["state"].items()}
    assert len(old) == len(ckpt["state"]) and any(k.startswith(prefix) for k in ckpt["state"])
    torch.save(ckpt | {"state": old}, tmp_path / "old.pt")
    cond = ShowerFile(training_file(tiny_wgan)).conditions(0, 40)
    model, _ = load_model(tmp_path / "old.pt")
    assert [p.name for p in model.postprocessors] == [POSTPROCESSOR[verb]]
    np.testing.assert_array_equal(
        generate(model, cond, seed=4), generate(load_model(fitted)[0], cond, seed=4)
    )
