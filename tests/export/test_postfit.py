"""What ``caloforge calibrate`` and ``caloforge refine`` share (``caloforge.train.postfit``):
the same refusals, one line each, and nothing written when refused.

The checkpoints are tiny models trained a few steps on TOY showers (tests only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.export.conftest import training_file
from tests.export.test_export import cli

from caloforge.calibrate import calibrate
from caloforge.refine import refine

VERBS = {
    "calibrate": (calibrate, "calibrated", {"bins": 2}, ["--bins", "2"]),
    "refine": (refine, "refined", {"candidates": 2}, ["--candidates", "2"]),
}


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
