"""The trainer's state: written to and read from a checkpoint in one place, exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from caloforge.train import CheckpointError, TrainingDivergedError, load_checkpoint, train
from caloforge.train.config import resolve_run_config
from caloforge.train.loading import build_model, checkpoint_detector
from caloforge.train.state import TrainState

from .conftest import TINY


def _same(a: Any, b: Any, where: str = "") -> None:
    """Recursive equality of checkpoint contents (tensors bit for bit)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (where, set(a) ^ set(b))
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def _restore(ckpt: dict[str, Any]) -> TrainState:
    model_cfg, cfg = resolve_run_config(ckpt["family"], base=ckpt["config"])
    model = build_model(ckpt["family"], model_cfg, checkpoint_detector(ckpt), seed=99)
    return TrainState.from_checkpoint(ckpt, model, cfg, device=torch.device("cpu"))


@pytest.fixture(scope="module")
def run(toy: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run stopped mid-epoch, with EMA weights and a validation history."""
    out = tmp_path_factory.mktemp("state") / "run"
    train_file, val_file = toy
    overrides = [*TINY, "steps=9", "ema_decay=0.5", "val_every=4", "batch_size=48"]
    train("vae", train_file, val=val_file, out=out, overrides=overrides)
    return out / "checkpoint.pt"


def test_checkpoint_round_trip_is_exact(run: Path) -> None:
    ckpt = load_checkpoint(run)
    state = _restore(ckpt)
    per_epoch = 200 // 48  # whole batches of 48 in the 200 training showers
    assert state.step == 9 and state.pos == ((9 - 1) % per_epoch + 1) * 48
    assert state.ema is not None
    assert state.best is not None and state.perm is not None
    again = state.to_checkpoint(
        config=ckpt["config"],
        conditions=ckpt["conditions"],
        info={k: v for k, v in ckpt["info"].items() if k != "describe"},
        rank_generators=ckpt["trainer"]["rank_generators"],
    )
    _same({k: v for k, v in ckpt.items() if k not in ("format", "format_version")}, again)


def test_missing_trainer_state_is_refused(run: Path) -> None:
    ckpt = load_checkpoint(run)
    del ckpt["trainer"]
    with pytest.raises(CheckpointError, match="no training state to resume"):
        _restore(ckpt)


def test_other_architecture_is_refused_in_one_line(run: Path) -> None:
    ckpt = load_checkpoint(run)
    ckpt["config"]["model"]["latent_dim"] = 7
    with pytest.raises(CheckpointError, match="weights do not fit the vae model") as err:
        _restore(ckpt)
    assert "\n" not in str(err.value)


def test_non_finite_loss_or_weight_is_named(run: Path) -> None:
    state = _restore(load_checkpoint(run))
    assert state.non_finite({"kl": 0.5}) is None
    assert state.non_finite({"kl": float("inf"), "rec": 1.0}) == "non-finite loss kl=inf"
    name, param = next(iter(state.model.named_parameters()))
    with torch.no_grad():
        param.view(-1)[0] = float("nan")
    assert state.non_finite({"kl": 0.5}) == f"non-finite weights in {name}"


def test_divergence_stops_and_keeps_the_last_good_checkpoint(
    toy: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    # Adam's first step with this rate moves the weights by ~1e30: finite, but the next
    # forward pass overflows
    overrides = [*TINY, "steps=20", "lr=1e30", "checkpoint_every=1"]
    with pytest.raises(TrainingDivergedError, match=r"diverged at step 2 .*non-finite loss") as err:
        train("vae", toy[0], out=out, overrides=overrides)
    assert "last good checkpoint (step 1) is kept" in str(err.value)
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == 1
    weights = [v for v in ckpt["state"].values() if isinstance(v, torch.Tensor)]
    assert weights and all(torch.isfinite(v).all() for v in weights if v.is_floating_point())


def test_compressed_checkpoint_round_trips_and_a_truncated_one_is_named(tmp_path: Path) -> None:
    """A gzip-compressed checkpoint loads as the plain one; cut short, it is one error line."""
    import torch

    from caloforge.train.checkpoint import save_checkpoint

    payload = {
        "family": "vae",
        "config": {},
        "state": {"w": torch.arange(1000.0)},
        "detector": "{}",
        "condition_features": ["log_energy"],
        "step": 3,
    }
    plain = save_checkpoint(tmp_path / "plain.pt", payload)
    packed = save_checkpoint(tmp_path / "packed.pt", payload, compress=True)
    assert packed.read_bytes()[:2] == b"\x1f\x8b" and packed.stat().st_size < plain.stat().st_size
    loaded = load_checkpoint(packed)
    assert loaded["step"] == 3 and torch.equal(loaded["state"]["w"], payload["state"]["w"])
    cut = tmp_path / "cut.pt"
    cut.write_bytes(packed.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"cut\.pt: not a readable caloforge checkpoint"):
        load_checkpoint(cut)


class _Two(torch.nn.Module):
    """Two parameters, as a teacher trained from the start and a student from later."""

    def __init__(self) -> None:
        super().__init__()
        self.teacher = torch.nn.Parameter(torch.zeros(3))
        self.student = torch.nn.Parameter(torch.full((3,), -5.0))  # its initial weights

    def ema_parameters(self) -> Any:
        return self.named_parameters()


def test_ema_starts_each_parameter_when_it_is_first_trained_and_warms_up() -> None:
    from caloforge.train.state import EMA

    model = _Two()
    ema = EMA(model, decay=0.999)  # type: ignore[arg-type]
    with torch.no_grad():
        for _ in range(50):  # the teacher trains, the student waits
            model.teacher.fill_(1.0)
            ema.update(model)  # type: ignore[arg-type]
    assert ema.updates == {"teacher": 50, "student": 0}
    # warmed up: after 50 updates the average holds 1e-10 of the weight before the first
    # (with the plain decay 0.999 from the start it would hold 95 % of it)
    assert torch.allclose(ema.shadow["teacher"], torch.ones(3), atol=1e-6)
    assert torch.equal(ema.shadow["student"], torch.full((3,), -5.0))
    with torch.no_grad():
        for _ in range(30):  # distillation: the student trains from here on
            model.student.fill_(2.0)
            ema.update(model)  # type: ignore[arg-type]
    assert ema.updates == {"teacher": 80, "student": 30}
    # none of the student's initial weights is left in its average
    assert torch.allclose(ema.shadow["student"], torch.full((3,), 2.0), atol=1e-6)
    # late updates weigh with the plain decay once warmed up: 10 / (1 - decay) updates
    ema.updates["teacher"] = 100_000
    with torch.no_grad():
        model.teacher.fill_(2.0)
        ema.update(model)  # type: ignore[arg-type]
    assert torch.allclose(ema.shadow["teacher"], torch.full((3,), 1.001), atol=1e-6)


def test_ema_of_a_checkpoint_without_update_counts() -> None:
    from caloforge.train.state import EMA

    model = _Two()
    ema = EMA(model, decay=0.9)  # type: ignore[arg-type]
    shadow = {"teacher": torch.full((3,), 0.5), "student": model.student.detach().clone()}
    ema.restore(model, shadow, None, step=700)  # type: ignore[arg-type]
    assert ema.updates == {"teacher": 700, "student": 0}  # the student was never trained
    ema.restore(model, shadow, {"teacher": 4}, step=700)  # type: ignore[arg-type]
    assert ema.updates == {"teacher": 4, "student": 0}
