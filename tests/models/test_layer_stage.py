"""Stage 1 as the base class holds it: the noise layout it adds, its optimiser and EMA
share, the layout of its settings and tensors in a checkpoint, and checkpoints of the
two-stage families written when stage 1 was their own ``layer_flow``. Untrained tiny
models on TOY showers of the toy detector (tests only)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from caloforge.config import config_to_dict
from caloforge.data import Conditions
from caloforge.geometry import Detector, detector_to_json
from caloforge.models import ShowerModel, get_family
from caloforge.models.layer_stage import LAYER_EPS, LayerEnergyFlow, LayerFlowConfig
from caloforge.testing import toy_showers
from caloforge.train import load_model
from caloforge.train.checkpoint import save_checkpoint

SMALL = {
    "wgan-gp": {"latent_dim": 8, "generator_hidden": (16,), "critic_hidden": (16,)},
    "layer-gan": {"latent_dim": 8, "generator_hidden": (16,), "previous_dim": 8},
    "flow": {"transforms": 2, "hidden": (16,), "layer_transforms": 1, "layer_hidden": (8,)},
}


def tiny(family: str, det: Detector, toy: tuple[np.ndarray, Conditions], **extra) -> ShowerModel:
    cls = get_family(family)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = cls(cls.config_class(**SMALL[family], **extra), det)  # type: ignore[arg-type]
    model.fit_preprocessing(*toy)
    return model.eval()


@pytest.fixture(scope="module")
def toy(toy_det: Detector) -> tuple[np.ndarray, Conditions]:
    return toy_showers(toy_det, 300, seed=4)


@pytest.mark.parametrize(
    ("family", "plain", "staged"), [("wgan-gp", (8,), (11,)), ("layer-gan", (3, 8), (3, 9))]
)
def test_stage1_extends_the_noise_and_trains_with_its_own_optimiser(
    family: str, plain: tuple, staged: tuple, toy_det: Detector, toy: tuple
) -> None:
    off = tiny(family, toy_det, toy)
    on = tiny(family, toy_det, toy, layer_stage=True, layer_lr=1e-3)
    assert off.stage1 is None and on.stage1 is not None
    assert (off.noise_shape, on.noise_shape) == (plain, staged)
    assert on.n_ctx == off.n_ctx + toy_det.n_layers
    assert "layers" not in off.optimizers() and on.optimizers()["layers"].lr == 1e-3
    stage_params = {n for n, _ in on.stage1.named_parameters(prefix="stage1")}
    assert stage_params <= {n for n, _ in on.ema_parameters()}
    cond = toy[1].select(np.arange(20))
    showers = on.sample(cond, torch.Generator().manual_seed(1))
    assert showers.shape == (20, toy_det.n_voxels) and np.isfinite(showers).all()
    # every generated layer carries the stage-1 energy drawn from the same noise
    features = on.cond_scaler(on.condition_tensor(cond))
    energy = torch.as_tensor(cond.energy, dtype=torch.float32)
    noise = torch.randn(20, *on.noise_shape, generator=torch.Generator().manual_seed(2))
    _, stage_noise = on.split_noise(noise)
    with torch.no_grad():
        out = on.generate_from_noise(features, energy, noise)
        layers = on.stage1.layers(on.stage1.sample(features, stage_noise), energy)
    sums = torch.stack([out[:, s].sum(1) for s in toy_det.layer_slices], dim=1)
    filled = sums > 0
    torch.testing.assert_close(sums[filled], layers[filled], rtol=1e-4, atol=1e-3)


def test_two_stage_checkpoint_of_the_former_layout_loads(toy_det: Detector, toy: tuple) -> None:
    model = tiny("flow", toy_det, toy)
    state = model.state_dict()
    assert any(k.startswith("stage1.flow.") for k in state)
    old = {k.replace("stage1.flow.", "layer_flow.", 1): v for k, v in state.items()}
    ema = {n: p.detach() + 1.0 for n, p in model.ema_parameters()}
    old_ema = {k.replace("stage1.flow.", "layer_flow.", 1): v for k, v in ema.items()}
    again = get_family("flow")(model.config, toy_det)
    again.load_checkpoint_state(old)
    assert again.current_names(old_ema).keys() == ema.keys()
    cond = toy[1].select(np.arange(10))
    np.testing.assert_array_equal(
        again.eval().sample(cond, torch.Generator().manual_seed(3)),
        model.sample(cond, torch.Generator().manual_seed(3)),
    )


def _save(path, model: ShowerModel, stored: dict, state: dict | None = None):
    """A checkpoint of ``model`` (``wgan-gp``) with ``stored`` as its model config."""
    return save_checkpoint(
        path,
        {
            "family": "wgan-gp",
            "config": {"model": stored, "train": {}},
            "state": model.state_dict() if state is None else state,
            "detector": detector_to_json(model.detector),
            "condition_features": list(model.condition_names),
            "step": 0,
        },
    )


def _inverse_passes(model: ShowerModel) -> int:
    """Hyper-network passes of one stage-1 sampling call (all its transforms)."""
    calls = []
    hypers = [m for n, m in model.stage1.named_modules() if n.endswith(".hyper")]
    handles = [h.register_forward_hook(lambda *_: calls.append(1)) for h in hypers]
    try:
        cond = torch.zeros(4, model.n_cond)
        with torch.no_grad():
            model.stage1.sample(cond, torch.zeros(4, model.stage1.n_features))
    finally:
        for handle in handles:
            handle.remove()
    return len(calls)


def test_coupling_stage1_samples_in_two_passes_and_round_trips(
    toy_det: Detector, toy: tuple, tmp_path
) -> None:
    """``layer_passes=2``: each stage-1 transform inverts in two network passes (not one
    per readout layer), the model samples showers carrying its stage-1 layer energies, and
    a saved checkpoint loads back the same model."""
    model = tiny("wgan-gp", toy_det, toy, layer_stage=True, layer_transforms=3, layer_passes=2)
    auto = tiny("wgan-gp", toy_det, toy, layer_stage=True, layer_transforms=3)
    assert toy_det.n_layers == 3
    assert (_inverse_passes(model), _inverse_passes(auto)) == (3 * 2, 3 * 3)
    cond = toy[1].select(np.arange(20))
    showers = model.sample(cond, torch.Generator().manual_seed(1))
    assert showers.shape == (20, toy_det.n_voxels) and np.isfinite(showers).all()
    # the stage-1 flow is still a bijection: features -> noise -> the same features
    features = model.cond_scaler(model.condition_tensor(cond))
    z = torch.randn(20, toy_det.n_layers, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        x = model.stage1.sample(features, z)
        back = model.stage1.flow.flow(features).transform(x)
    torch.testing.assert_close(back, z, rtol=1e-4, atol=1e-4)
    stored = config_to_dict(model.config)
    assert stored["layer_passes"] == 2
    again, _ = load_model(_save(tmp_path / "coupling.pt", model, stored))
    assert again.config == model.config and _inverse_passes(again) == 3 * 2
    np.testing.assert_array_equal(
        again.sample(cond, torch.Generator().manual_seed(3)),
        model.sample(cond, torch.Generator().manual_seed(3)),
    )


def test_config_without_layer_passes_is_autoregressive(
    toy_det: Detector, toy: tuple, tmp_path
) -> None:
    """A checkpoint written before ``layer_passes`` existed (no such key) loads as the fully
    autoregressive flow it was, and samples as before."""
    model = tiny("wgan-gp", toy_det, toy, layer_stage=True, layer_transforms=2)
    stored = config_to_dict(model.config)
    del stored["layer_passes"]
    again, _ = load_model(_save(tmp_path / "old.pt", model, stored))
    assert again.config.layer_passes is None and again.config == model.config
    assert _inverse_passes(again) == 2 * toy_det.n_layers
    cond = toy[1].select(np.arange(10))
    np.testing.assert_array_equal(
        again.sample(cond, torch.Generator().manual_seed(3)),
        model.sample(cond, torch.Generator().manual_seed(3)),
    )


@pytest.mark.parametrize("bad", [0, -1])
def test_layer_passes_below_one_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match=f"layer_passes must be a positive integer .*got {bad}"):
        get_family("wgan-gp").config_class(layer_stage=True, layer_passes=bad)


def test_stage1_checkpoint_layout_is_kept(toy_det: Detector, toy: tuple, tmp_path) -> None:
    """Checkpoints store the stage-1 settings as the flat ``layer_*`` model keys and its
    flow as zuko's NSF built from them, under ``stage1.flow.``: a checkpoint of that layout
    (here its flow tensors made by zuko directly) loads, and a saved model loads back."""
    zuko = pytest.importorskip("zuko")
    settings = {"layer_transforms": 1, "layer_hidden": (8,), "layer_bins": 5}
    model = tiny("wgan-gp", toy_det, toy, layer_stage=True, **settings)
    stored = config_to_dict(model.config)
    assert {k: stored[k] for k in settings} == {
        "layer_transforms": 1,
        "layer_hidden": [8],
        "layer_bins": 5,
    }
    assert not any(isinstance(v, dict) for v in stored.values())  # flat, JSON-able keys
    torch.manual_seed(7)
    nsf = zuko.flows.NSF(toy_det.n_layers, model.n_cond, transforms=1, bins=5, hidden_features=(8,))
    stage = {f"stage1.flow.flow.{k}": v for k, v in nsf.state_dict().items()}
    state = model.state_dict()
    assert {k: v.shape for k, v in state.items() if k.startswith("stage1.flow.flow.")} == {
        k: v.shape for k, v in stage.items()
    }
    assert {k for k in state if k.startswith("stage1.flow.") and k.count(".") == 2} == {
        f"stage1.flow.{b}" for b in ("mean", "std", "lo", "hi")
    }
    path = _save(tmp_path / "stage1.pt", model, stored, {**state, **stage})
    again, _ = load_model(path)
    assert again.config == model.config and again.stage1 is not None
    loaded = again.state_dict()
    for k, v in stage.items():
        torch.testing.assert_close(loaded[k], v)
    # the rest of the model as saved: the same showers from the same noise with its flow
    model.load_state_dict({**state, **stage})
    cond = toy[1].select(np.arange(10))
    np.testing.assert_array_equal(
        again.sample(cond, torch.Generator().manual_seed(3)),
        model.eval().sample(cond, torch.Generator().manual_seed(3)),
    )


def test_stage1_fitted_alone_learns_and_leaves_the_networks(toy_det: Detector, toy: tuple) -> None:
    """``layer_fit_steps``: stage 1 alone lowers its loss on the training showers, the
    same generator seed gives the same weights, the family's networks are untouched, the
    loop gets no stage-1 optimiser, and without steps (the default) nothing is trained."""
    showers, cond = toy

    def fitted(steps: int) -> tuple[ShowerModel, float | None]:
        model = tiny(
            "wgan-gp",
            toy_det,
            toy,
            layer_stage=True,
            layer_fit_steps=steps,
            layer_fit_batch=64,
        )
        loss = model.fit_stage1_alone(showers, cond, torch.Generator().manual_seed(5), lr=1e-3)
        assert ("layers" in model.optimizers()) == (steps == 0)  # fixed in the loop
        return model, loss

    untrained, none = fitted(0)
    trained, loss = fitted(150)
    again, loss_again = fitted(150)
    assert none is None and loss is not None and loss == loss_again

    def nll(model: ShowerModel) -> float:
        features = model.cond_scaler(model.condition_tensor(cond))
        with torch.no_grad():
            return float(
                model.stage1.loss(
                    model.stage1.encode(
                        torch.as_tensor(showers), torch.as_tensor(cond.energy, dtype=torch.float32)
                    ),
                    features,
                )
            )

    assert nll(trained) < nll(untrained) - 1.0
    for (name, a), (_, b) in zip(
        trained.state_dict().items(), untrained.state_dict().items(), strict=True
    ):
        if name.startswith("stage1.flow.flow."):
            continue
        torch.testing.assert_close(a, b, msg=name)
    for (name, a), (_, b) in zip(
        trained.state_dict().items(), again.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize(
    ("key", "bad", "message"),
    [("layer_fit_steps", -1, ">= 0"), ("layer_fit_batch", 0, ">= 1")],
)
def test_bad_stage1_pretraining_settings_are_refused(key: str, bad: int, message: str) -> None:
    with pytest.raises(ValueError, match=f"{key} must be {message}, got {bad}"):
        get_family("wgan-gp").config_class(layer_stage=True, **{key: bad})


def _deep_empty_layers(n: int, n_layers: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer energies (MeV) of ``n`` showers that stop before the last layer in most cases,
    with the first layer always hit, and their incident energies."""
    g = torch.Generator().manual_seed(5)
    layers = torch.rand(n, n_layers, generator=g) * 100 + 1
    end = torch.randint(1, n_layers + 1, (n,), generator=g)  # layers [0, end) are hit
    layers = torch.where(torch.arange(n_layers) < end[:, None], layers, torch.zeros_like(layers))
    return layers, layers.sum(1) * 50


@pytest.mark.parametrize("remainder", [-1, 0, 2, -3])
def test_stage1_coding_round_trips_whichever_layer_holds_the_remainder(remainder: int) -> None:
    """Encoding then decoding the layer energies gives them back, empty layers included."""
    layers, energy = _deep_empty_layers(200, 6)
    flow = LayerEnergyFlow(6, 1, LayerFlowConfig(remainder=remainder))
    flow.fit(layers, energy)
    back = flow.decode(flow.encode(layers, energy), energy)
    torch.testing.assert_close(back, layers, rtol=1e-3, atol=1e-3 * float(layers.max()))


def test_first_layer_as_remainder_codes_the_shower_end_with_the_common_atom() -> None:
    """With the last layer as remainder, a shower that ends early marks its last nonzero
    layer with the ``1 - eps`` atom (rare per layer); with the first layer (always hit) as
    remainder, the layers are coded from the back: no coded value of such showers sits at
    that atom, and its empty deep layers sit at the ``eps`` atom."""
    layers, energy = _deep_empty_layers(200, 6)
    top = math.log((1 - LAYER_EPS) / LAYER_EPS) - 0.5
    raw = {}
    for remainder in (-1, 0):
        flow = LayerEnergyFlow(6, 1, LayerFlowConfig(remainder=remainder))
        raw[remainder] = flow._raw(layers, energy)[:, 1:]
    ended = (layers[:, -2:] == 0).all(1)  # the last two layers empty
    assert ended.sum() > 20
    assert (raw[-1][ended] > top).any(1).all()
    assert not (raw[0][ended] > top).any()
    assert (raw[0][ended][:, :2] < -top).all()  # coded from the back: layers 5 and 4


def test_a_middle_remainder_codes_the_front_then_the_back() -> None:
    """``remainder=2`` of 6 layers: layers 0 and 1 take their fractions first, then 5, 4
    and 3, and layer 2 holds what is left."""
    flow = LayerEnergyFlow(6, 1, LayerFlowConfig(remainder=2))
    assert flow.order.tolist() == [0, 1, 5, 4, 3, 2]
    layers = torch.tensor([[1.0, 2.0, 40.0, 3.0, 0.0, 4.0]])
    raw = flow._raw(layers, torch.tensor([1000.0]))[0]
    fractions = torch.sigmoid(raw[1:])
    expected = torch.tensor([1 / 50, 2 / 49, 4 / 47, LAYER_EPS, 3 / 43])
    torch.testing.assert_close(fractions, expected, rtol=1e-4, atol=1e-7)


def test_layer_remainder_is_stored_and_old_checkpoints_keep_the_last_layer(
    toy_det: Detector, toy: tuple, tmp_path
) -> None:
    """``layer_remainder`` is stored with the model; a checkpoint written without the key
    loads with the last layer as remainder (CaloFlow's coding) and samples as before."""
    model = tiny("wgan-gp", toy_det, toy, layer_stage=True, layer_remainder=0)
    stored = config_to_dict(model.config)
    assert stored["layer_remainder"] == 0
    again, _ = load_model(_save(tmp_path / "first.pt", model, stored))
    assert again.config.layer_remainder == 0 and again.stage1.flow.order.tolist() == [2, 1, 0]
    cond = toy[1].select(np.arange(10))
    np.testing.assert_array_equal(
        again.sample(cond, torch.Generator().manual_seed(3)),
        model.sample(cond, torch.Generator().manual_seed(3)),
    )
    old = tiny("wgan-gp", toy_det, toy, layer_stage=True)
    stored = config_to_dict(old.config)
    del stored["layer_remainder"]
    again, _ = load_model(_save(tmp_path / "old.pt", old, stored))
    assert again.config.layer_remainder == -1 and again.stage1.flow.order.tolist() == [0, 1, 2]


@pytest.mark.parametrize("bad", [3, -4])
def test_a_remainder_outside_the_readout_is_refused(toy_det: Detector, bad: int) -> None:
    cls = get_family("wgan-gp")
    config = cls.config_class(layer_stage=True, layer_remainder=bad)
    message = f"detector {toy_det.name}: layer_remainder={bad} is not a readout layer .of 3"
    with pytest.raises(ValueError, match=message):
        cls(config, toy_det)
