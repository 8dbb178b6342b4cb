"""The one interface every model family implements, and what the trainer hands it.

A family is a subclass of :class:`ShowerModel` (an ``nn.Module``) with

* ``name`` (registry name), ``summary`` (one line for ``caloforge models``),
  ``references`` (arXiv ids), ``config_class`` (a frozen dataclass deriving from
  :class:`ModelConfig`: its hyper-parameters, incl. the condition features it uses) and
  ``train_defaults`` (its preferred :class:`caloforge.train.TrainConfig` values);
* :meth:`build`: create the networks (shapes known from detector and config, no data);
  they see :attr:`~ShowerModel.n_ctx` condition columns (see stage 1 below);
* :meth:`network_optimizers`: named parameter groups, one optimiser each (a GAN has
  ``generator`` and ``critic``); the trainer creates optimisers, schedules, clipping, EMA
  (:meth:`ema_networks`: the networks it averages, default all);
* :meth:`training_step`: one step on a batch; it calls ``ctx.optimize(name, loss)`` for
  each optimiser it wants to step, as many times and in the order it wants (alternating
  GAN updates need no loop of their own);
* generation: :attr:`network_noise_shape` and :meth:`showers_from_noise` (network
  conditions and standard normal noise -> showers in MeV, traceable), from which the
  shared :meth:`generate`, :meth:`generate_from_noise` and the ONNX export
  (:mod:`caloforge.deploy.export`) follow; or its own :meth:`generate` (conditions ->
  showers in MeV, wrapped by the shared :meth:`sample`) when generation cannot be one
  traceable pass (the family then sets ``export_note`` to say why, and
  :meth:`export_module` raises :class:`ExportNotSupportedError`);
* optionally :meth:`fit_data` (store data: a shower library, a latent density) and
  :meth:`finalize` (called before every checkpoint, e.g. to encode training latents).

Stage 1 (:mod:`caloforge.models.layer_stage`) belongs to the base class: a family whose
config derives from :class:`LayerStageConfig` gets, with ``layer_stage=true``, a
:class:`~caloforge.models.layer_stage.LayerEnergyStage` (:attr:`ShowerModel.stage1`) that
is fitted, trained (optimiser ``layers``, logged as ``layer_nll``), averaged and sampled
here: the family's networks are conditioned on :meth:`network_context` (the features,
then the stage-1 features), its noise is extended by the stage-1 noise and each generated
layer is rescaled to the stage-1 energy. A family with stage 1 is thus written like one
without.

A trained model may carry post-processors (:mod:`caloforge.postprocess`: the quantile
calibration, the classifier refiner, ...), fitted after training and held in one ordered
dict, :attr:`ShowerModel.postprocessing` (state keys ``postprocessing.<name>.*``):
:meth:`sample` and the export module apply them in order to every family's showers alike.
The export noise then carries each one's :attr:`~caloforge.postprocess.PostProcessor.noise_size`
numbers after the family's own noise (:attr:`ShowerModel.export_noise_shape`); a model
with a post-processor that does not export (its ``export_note``) is refused with that line.
:meth:`ShowerModel.load_checkpoint_state` attaches the post-processors a checkpoint holds.

Preprocessing (:class:`~caloforge.models.transforms.ShowerTransform`,
:class:`~caloforge.models.transforms.ConditionScaler`) is learned in
:meth:`fit_preprocessing` and stored in buffers, so it is part of ``state_dict``.
Data-sized state (stored showers, latents) goes through ``get_extra_state`` /
``set_extra_state`` as a dict of tensors, so checkpoints load with ``weights_only=True``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from caloforge.data import CONDITION_FEATURES, Conditions, condition_features
from caloforge.geometry import Detector
from caloforge.hardware import resolve_precision
from caloforge.models.layer_stage import LayerEnergyStage, LayerFlowConfig, layer_energies
from caloforge.models.transforms import ConditionScaler, ShowerTransform, TransformKind
from caloforge.postprocess.base import GeneratedBatch, PostProcessor
from caloforge.postprocess.registry import current_layout, postprocessors_in

V = TypeVar("V")


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters shared by every family (families derive from this).

    Arguments:
        conditions: condition features the model uses, a subset of
            ``caloforge.data.CONDITION_FEATURES`` (``log_energy`` is required).
        transform: voxel preprocessing, ``log``, ``logit`` or ``none``.
        alpha: regularisation of the log/logit transform (normalised energy units).
        standardise: per-voxel standardisation after the transform.
    """

    conditions: tuple[str, ...] = ("log_energy",)
    transform: TransformKind = "log"
    alpha: float = 1e-6
    standardise: bool = True

    def __post_init__(self) -> None:
        unknown = [c for c in self.conditions if c not in CONDITION_FEATURES]
        if unknown:
            raise ValueError(
                f"conditions: unknown feature(s) {unknown}; known: {', '.join(CONDITION_FEATURES)}"
            )
        if "log_energy" not in self.conditions:
            raise ValueError("conditions: 'log_energy' is required")


@dataclass(frozen=True)
class LayerStageConfig(ModelConfig):
    """Hyper-parameters of a family that may learn stage 1 (see the module docstring).

    Arguments:
        layer_stage: learn the layer energies with a stage-1 spline flow
            (:class:`~caloforge.models.layer_stage.LayerEnergyStage`), condition the
            family's networks on them, and rescale each generated layer to them.
        layer_lr: learning rate of the stage-1 flow (its own optimiser ``layers``; None:
            the training ``lr``).
        layer_transforms / layer_hidden / layer_bins: the stage-1 spline flow.
        layer_passes: network passes to invert each stage-1 transform (None: fully
            autoregressive, one per readout layer; 2: coupling, much cheaper to sample on
            readouts with many layers); see
            :class:`~caloforge.models.layer_stage.LayerFlowConfig`. Checkpoints written
            without it are autoregressive.
        layer_remainder: index of the readout layer that holds the energy the others
            leave (negative: from the last; -1, the last layer, is CaloFlow's coding and
            that of every checkpoint written without the key). On readouts whose deep
            layers are often empty, a layer every shower reaches keeps the last layer from
            getting a deposit in every shower (docs/models.md).
        layer_fit_steps: train stage 1 alone, before the training loop, for this many
            Adam steps on batches of ``layer_fit_batch`` training showers (the rate
            falling from ``layer_lr`` to 5 % of it on a cosine), then keep it fixed: the
            loop trains the networks only. Its time counts in ``train.max_time_min``.
            0 (the default): stage 1 makes one step per training step, beside the
            networks. For readouts with many layers and a budget of few, slow network
            steps, where that leaves it undertrained (docs/models.md).
        layer_fit_batch: training showers per step of ``layer_fit_steps``.
    """

    layer_stage: bool = False
    layer_lr: float | None = 5e-4
    layer_transforms: int = 4
    layer_hidden: tuple[int, ...] = (64, 64)
    layer_bins: int = 8
    layer_passes: int | None = None
    layer_remainder: int = -1
    layer_fit_steps: int = 0
    layer_fit_batch: int = 512

    def __post_init__(self) -> None:
        super().__post_init__()
        _ = self.layer_flow  # LayerFlowConfig checks the stage-1 settings
        if self.layer_fit_steps < 0:
            raise ValueError(f"layer_fit_steps must be >= 0, got {self.layer_fit_steps}")
        if self.layer_fit_batch < 1:
            raise ValueError(f"layer_fit_batch must be >= 1, got {self.layer_fit_batch}")

    @property
    def layer_flow(self) -> LayerFlowConfig:
        """The stage-1 spline flow's settings (``layer_transforms``, ``layer_hidden``,
        ``layer_bins``, ``layer_passes``, ``layer_remainder``)."""
        return LayerFlowConfig(
            transforms=self.layer_transforms,
            hidden=tuple(self.layer_hidden),
            bins=self.layer_bins,
            passes=self.layer_passes,
            remainder=self.layer_remainder,
        )


@dataclass
class Batch:
    """A training batch, on the model's device.

    Arguments:
        x: (B, V) showers in network space (after the model's ShowerTransform).
        cond: (B, F) standardised condition features.
        energy: (B,) incident energy, MeV.
    """

    x: Tensor
    cond: Tensor
    energy: Tensor

    def __len__(self) -> int:
        return len(self.x)

    def select(self, index: Tensor | slice) -> Batch:
        return Batch(self.x[index], self.cond[index], self.energy[index])


@dataclass
class OptimizerSpec:
    """A named parameter group; ``lr``/``betas`` override the training config when given."""

    params: list[nn.Parameter]
    lr: float | None = None
    betas: tuple[float, float] | None = None


@dataclass
class StepContext:
    """What :meth:`ShowerModel.training_step` receives from the trainer.

    Arguments:
        step: index of this step (0-based).
        generator: the random generator for noise (its state is checkpointed).
        optimize: ``optimize(name, loss)`` zeroes that optimiser's gradients, back-propagates
            ``loss``, clips and steps it.
    """

    step: int
    generator: torch.Generator
    optimize: Callable[[str, Tensor], None]
    extras: dict[str, Any] = field(default_factory=dict)


class ExportNotSupportedError(NotImplementedError, ValueError):
    """The family cannot be exported to a ``(features, noise) -> showers`` graph (one line)."""


class ExportedGenerator(nn.Module):
    """``(features, noise) -> showers``: a model's sampling path as one traceable module.

    Arguments (of ``forward``):
        features: (B, F) UNSCALED condition features in the model's layout
            (:func:`caloforge.data.condition_features` with ``model.condition_names``).
        noise: (B, *model.export_noise_shape) standard normal noise: the family's noise
            (``model.noise_shape``), flattened and followed by the noise of each
            post-processor that takes some (``noise_size``), in order.

    Returns:
        (B, V) showers in MeV, non-negative (same post-processing as
        :meth:`ShowerModel.sample`).
    """

    def __init__(self, model: ShowerModel) -> None:
        super().__init__()
        self.model = model
        self.log_energy_column = model.condition_names.index("log_energy")

    def forward(self, features: Tensor, noise: Tensor) -> Tensor:
        m = self.model
        cond = m.cond_scaler(features)
        energy = 1000.0 * torch.exp(features[:, self.log_energy_column])  # log(E / GeV) -> MeV
        if m.export_noise_shape == m.noise_shape:  # no post-processor noise: as it comes
            family_noise, start = noise, 0
        else:
            shape = m.noise_shape or ()
            start = math.prod(shape)
            family_noise = noise[:, :start].reshape(-1, *shape)
        showers = torch.clamp(m.generate_from_noise(cond, energy, family_noise), min=0.0)
        for post in m.postprocessors:
            size = post.noise_size
            showers = post.process_noise(showers, energy, noise[:, start : start + size])
            start += size
        return showers


class ShowerModel(nn.Module):
    """Base class of every family; see the module docstring."""

    export_note: ClassVar[str] = ""
    """Why this family cannot be exported (shown in the export error), if it cannot."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    references: ClassVar[tuple[str, ...]] = ()
    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    train_defaults: ClassVar[dict[str, Any]] = {}
    resumable_keys: ClassVar[tuple[str, ...]] = ()
    """Model keys that ``caloforge train --resume`` may change besides the train keys it
    always accepts: settings of a later training phase or of sampling only."""
    trainable: ClassVar[bool] = True
    renamed: ClassVar[dict[str, str]] = {}
    """Former prefixes of state keys and parameter names -> current ones: checkpoints
    written before a rename load (:meth:`current_names`)."""

    def __init__(self, config: ModelConfig, detector: Detector) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{self.name}: config must be {self.config_class.__name__}")
        self.config = config
        self.detector = detector
        self.n_voxels = detector.n_voxels
        self.condition_names: tuple[str, ...] = tuple(config.conditions)
        self.n_cond = len(self.condition_names)
        self.transform = ShowerTransform(
            self.n_voxels, config.transform, config.alpha, config.standardise
        )
        self.cond_scaler = ConditionScaler(self.n_cond)
        self.stage1 = (
            LayerEnergyStage(detector, self.n_cond, config.layer_flow)
            if isinstance(config, LayerStageConfig) and config.layer_stage
            else None
        )
        self.n_ctx = self.n_cond + (self.stage1.n_features if self.stage1 is not None else 0)
        """Condition columns of the family's networks: the features, then stage 1's."""
        self.postprocessing = nn.ModuleDict()
        """Post-processors by name, in the order they apply (fitted after training)."""
        self.build()

    # ---- to implement ------------------------------------------------------------------
    def build(self) -> None:
        """Create the networks."""

    def network_optimizers(self) -> dict[str, OptimizerSpec]:
        """Named parameter groups of the family, one optimiser each (empty: nothing to
        train)."""
        return {}

    def training_step(self, batch: Batch, ctx: StepContext) -> dict[str, float]:
        """One training step; returns the losses to log."""
        raise NotImplementedError(f"{self.name} has no training step")

    @property
    def network_noise_shape(self) -> tuple[int, ...] | None:
        """Shape of the standard normal noise per shower that :meth:`showers_from_noise`
        takes; ``None``: the family generates through its own :meth:`generate`."""
        return None

    def showers_from_noise(self, context: Tensor, energy: Tensor, noise: Tensor) -> Tensor:
        """(B, n_ctx) network conditions (:meth:`network_context`), (B,) energies in MeV
        and (B, *network_noise_shape) standard normal noise -> (B, V) showers in MeV;
        traceable (no python control flow on values) so that it exports."""
        raise ExportNotSupportedError(self._export_refusal())

    def fit_data(
        self, showers: NDArray[np.float32], conditions: Conditions, generator: torch.Generator
    ) -> None:
        """Store data-derived state (shower library, ...); called once before training."""

    def finalize(self, batch: Batch) -> None:
        """Called before every checkpoint with (up to a few thousand) training showers."""

    def ema_networks(self) -> Iterable[tuple[str, nn.Parameter]]:
        """The family's parameters averaged by the EMA option (default: all)."""
        skip = ("stage1.", "postprocessing.")
        return ((n, p) for n, p in self.named_parameters() if not n.startswith(skip))

    # ---- shared: stage 1, generation ---------------------------------------------------
    def optimizers(self) -> dict[str, OptimizerSpec]:
        """The family's optimisers, and with stage 1 its own (``layers``)."""
        specs = self.network_optimizers()
        if (
            self.stage1 is not None
            and isinstance(self.config, LayerStageConfig)
            and not self.stage1_fitted_alone
        ):
            specs["layers"] = OptimizerSpec(list(self.stage1.parameters()), lr=self.config.layer_lr)
        return specs

    @property
    def stage1_fitted_alone(self) -> bool:
        """Whether stage 1 is trained alone before the loop (``layer_fit_steps``) and
        then kept fixed: the loop has no ``layers`` optimiser then."""
        return (
            self.stage1 is not None
            and isinstance(self.config, LayerStageConfig)
            and self.config.layer_fit_steps > 0
        )

    def ema_parameters(self) -> Iterable[tuple[str, nn.Parameter]]:
        """Parameters averaged by the EMA option: :meth:`ema_networks` and stage 1."""
        yield from self.ema_networks()
        if self.stage1 is not None:
            yield from self.stage1.named_parameters(prefix="stage1")

    def network_context(
        self, batch: Batch, ctx: StepContext | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        """The conditions (B, n_ctx) the family's networks see for the real showers of
        ``batch``: the features and, with stage 1, their stage-1 features; with ``ctx``
        also one training step of stage 1 (optimiser ``layers``), its loss logged as
        ``layer_nll`` (none when it was fitted alone: ``layer_fit_steps``)."""
        if self.stage1 is None:
            return batch.cond, {}
        z1 = self.stage1.encode(self.transform.inverse(batch.x, batch.energy), batch.energy)
        logs: dict[str, float] = {}
        if ctx is not None and not self.stage1_fitted_alone:
            nll = self.stage1.loss(z1, batch.cond)
            ctx.optimize("layers", nll)
            logs["layer_nll"] = float(nll.detach())
        return torch.cat([batch.cond, z1], dim=1), logs

    def _per_layer_noise(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == 2 and shape[0] == self.detector.n_layers

    @property
    def noise_shape(self) -> tuple[int, ...] | None:
        """Shape of the standard normal noise per shower that :meth:`generate_from_noise`
        takes (``None``: the family cannot be exported): :attr:`network_noise_shape`; with
        stage 1 one more number per readout layer, as one more column of a noise with a
        row per readout layer, else after the (flattened) network noise."""
        shape = self.network_noise_shape
        if shape is None or self.stage1 is None:
            return shape
        if self._per_layer_noise(shape):
            return (shape[0], shape[1] + 1)
        return (math.prod(shape) + self.stage1.n_features,)

    def split_noise(self, noise: Tensor) -> tuple[Tensor, Tensor | None]:
        """(network noise, stage-1 noise or None) of noise (B, *noise_shape)."""
        shape = self.network_noise_shape or ()
        if self.stage1 is None:
            return noise, None
        if self._per_layer_noise(shape):
            return noise[:, :, :-1], noise[:, :, -1]
        n = math.prod(shape)
        return noise[:, :n].reshape(-1, *shape), noise[:, n:]

    def stage1_noise(self, cond: Tensor, generator: torch.Generator) -> Tensor | None:
        """Standard normal stage-1 noise (B, n_layers) from ``generator`` (None without
        stage 1), for a family that draws its own noise in :meth:`generate`."""
        if self.stage1 is None:
            return None
        shape = (len(cond), self.stage1.n_features)
        return torch.randn(shape, generator=generator, device=cond.device)

    def with_stage1(
        self,
        cond: Tensor,
        energy: Tensor,
        stage_noise: Tensor | None,
        showers_for: Callable[[Tensor], Tensor],
    ) -> Tensor:
        """``showers_for(context)`` (showers in MeV) for network conditions ``context``:
        the features ``cond``; with stage 1 also the stage-1 features drawn from
        ``stage_noise`` (B, n_layers), each generated layer then rescaled to them."""
        if self.stage1 is None or stage_noise is None:
            return showers_for(cond)
        z1 = self.stage1.sample(cond, stage_noise)
        showers = showers_for(torch.cat([cond, z1], dim=1))
        return self.stage1.rescale(showers, z1, energy)

    def generate(self, cond: Tensor, energy: Tensor, generator: torch.Generator) -> Tensor:
        """(B, F) standardised features and (B,) energies in MeV -> (B, V) showers in MeV:
        :meth:`generate_from_noise` on noise from ``generator``."""
        if self.noise_shape is None:
            raise NotImplementedError(f"{self.name} has neither generate nor noise_shape")
        noise = torch.randn(len(cond), *self.noise_shape, generator=generator, device=cond.device)
        return self.generate_from_noise(cond, energy, noise)

    def generate_from_noise(self, cond: Tensor, energy: Tensor, noise: Tensor) -> Tensor:
        """Like :meth:`generate` with the randomness given as ``noise`` (B, *noise_shape),
        standard normal; traceable (the export path): stage 1 (if any), then
        :meth:`showers_from_noise`."""
        if self.noise_shape is None:
            raise ExportNotSupportedError(self._export_refusal())
        network_noise, stage_noise = self.split_noise(noise)
        return self.with_stage1(
            cond, energy, stage_noise, lambda c: self.showers_from_noise(c, energy, network_noise)
        )

    @property
    def export_noise_shape(self) -> tuple[int, ...] | None:
        """Per-shower noise of the export module: :attr:`noise_shape`, or, when
        post-processors take noise, its flattened size plus theirs."""
        shape = self.noise_shape
        extra = sum(post.noise_size for post in self.postprocessors)
        if shape is None or not extra:
            return shape
        return (math.prod(shape) + extra,)

    # ---- post-processing ---------------------------------------------------------------
    @property
    def postprocessors(self) -> list[PostProcessor]:
        """The post-processors, in the order they apply."""
        return [post for post in self.postprocessing.values() if isinstance(post, PostProcessor)]

    def add_postprocessor(self, post: PostProcessor) -> None:
        """Append ``post``, applied after those already there.

        Raises:
            ValueError: the model already has a post-processor of that name.
        """
        if post.name in self.postprocessing:
            raise ValueError(f"the model already has a post-processor {post.name!r}")
        self.postprocessing[post.name] = post.to(self.device)

    def current_names(self, named: Mapping[str, V]) -> dict[str, V]:
        """``named`` (state keys or parameter names, e.g. EMA weights) with the names of the
        current layout: former post-processor keys (``calibration.*``, ``refiner.*``) and
        the family's :attr:`renamed` prefixes."""
        out = {}
        for key, value in current_layout(named).items():
            old = next((o for o in self.renamed if key.startswith(o)), None)
            out[key if old is None else self.renamed[old] + key[len(old) :]] = value
        return out

    def load_checkpoint_state(self, state: Mapping[str, Tensor]) -> None:
        """Load a checkpoint's ``state`` (strict): first attach, unfitted and shaped from
        their tensors, the post-processors it holds, in order. The layouts of earlier
        checkpoints are read too (:meth:`current_names`).

        Raises:
            RuntimeError, KeyError: the tensors do not fit the model.
        """
        state = self.current_names(state)
        for post in postprocessors_in(state):
            self.add_postprocessor(post)
        self.load_state_dict(state)

    def postprocess(self, showers: Tensor, batch: GeneratedBatch) -> Tensor:
        """Apply the post-processors in order to (B, V) non-negative showers in MeV
        (``batch``: their rows); each keeps one of its ``draws`` adjacent rows."""
        for post in self.postprocessors:
            showers = post.process(showers, batch)
            batch = batch.every(post.draws)
        return showers

    def _export_refusal(self) -> str:
        why = self.export_note or (
            "the family does not implement network_noise_shape / showers_from_noise "
            "(see ShowerModel in caloforge/models/base.py)"
        )
        return f"model family {self.name!r} cannot be exported: {why}"

    def export_module(self) -> nn.Module:
        """A module ``(features, noise) -> showers in MeV`` (see :class:`ExportedGenerator`),
        with condition scaling and the inverse shower transform included.

        Raises:
            ExportNotSupportedError: the family has no export path (one-line reason).
        """
        if self.noise_shape is None:
            raise ExportNotSupportedError(self._export_refusal())
        for post in self.postprocessors:
            if post.export_note:
                raise ExportNotSupportedError(post.export_note)
        if not self._float32():
            raise ExportNotSupportedError(
                "the model runs in reduced precision (set_precision): export a freshly "
                "loaded float32 model"
            )
        return ExportedGenerator(self).eval()

    def _float32(self) -> bool:
        return all(
            p.dtype == torch.float32
            for m in self.reduced_precision_modules()
            for p in m.parameters()
        )

    def reduced_precision_modules(self) -> list[nn.Module]:
        """Networks that may run in bfloat16 at generation: each takes and returns float32
        tensors whatever its weights' dtype. Empty: the family runs in float32 only."""
        return []

    def set_precision(self, precision: str) -> str:
        """Generate with the weights of :meth:`reduced_precision_modules` in ``precision``:
        ``auto``, ``fp32`` or ``bf16`` (bfloat16 matrix products; conditions, stage-1 flows,
        decoding and calibration stay float32). ``auto`` takes bfloat16 only where the
        hardware multiplies it natively and the family has such networks
        (:func:`caloforge.hardware.resolve_precision`). For generation only, not training;
        the float32 weights are not kept (reload the checkpoint to go back).

        Returns:
            The precision chosen: ``fp32`` or ``bf16``.

        Raises:
            ValueError: an unknown precision, ``bf16`` for a family without such networks,
            or ``fp32`` after ``bf16``.
        """
        modules = self.reduced_precision_modules()
        if precision == "bf16" and not modules:
            raise ValueError(f"model family {self.name!r} generates in fp32 only")
        precision = resolve_precision(precision, self.device, reduced_networks=bool(modules))
        if precision == "fp32" and not self._float32():
            raise ValueError("the float32 weights are gone: reload the checkpoint for fp32")
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        for module in modules:
            module.to(dtype)
        return precision

    def memory_estimate(self, batch_size: int, *, training: bool) -> int | None:
        """Peak memory in bytes of a training step (or of generation) at ``batch_size``
        showers, estimated from the layout and the network sizes before any work; None: the
        family gives no estimate (the trainer checks it, :mod:`caloforge.train.memory`)."""
        return None

    def describe(self) -> dict[str, Any]:
        """Numbers worth reporting (parameter count; memory of stored data)."""
        n = sum(p.numel() for p in self.parameters())
        return {"parameters": int(n), "stored_bytes": 0}

    # ---- shared ------------------------------------------------------------------------
    def condition_tensor(self, conditions: Conditions) -> Tensor:
        """Unscaled condition features (N, F) of this model as a float32 tensor."""
        return torch.from_numpy(condition_features(conditions, self.condition_names))

    def fit_preprocessing(self, showers: NDArray[np.float32], conditions: Conditions) -> None:
        """Learn the shower transform, the condition scaling and the stage-1 coding from
        training data."""
        self.transform.fit(showers, conditions.energy)
        self.cond_scaler.fit(self.condition_tensor(conditions))
        if self.stage1 is not None:
            self.stage1.fit(showers, conditions.energy)

    def fit_stage1_alone(
        self,
        showers: NDArray[np.float32],
        conditions: Conditions,
        generator: torch.Generator,
        *,
        lr: float,
    ) -> float | None:
        """With ``layer_fit_steps``: train stage 1 alone on the training showers (MeV),
        after :meth:`fit_preprocessing` (:meth:`LayerEnergyStage.train_alone`, at
        ``layer_lr``, else ``lr``); the training loop then keeps it fixed. Returns its
        final loss, or None when there is nothing to do."""
        if not self.stage1_fitted_alone:
            return None
        assert self.stage1 is not None and isinstance(self.config, LayerStageConfig)
        config = self.config
        device = self.device
        energy = torch.as_tensor(conditions.energy, dtype=torch.float32, device=device)
        with torch.no_grad():
            layers = layer_energies(torch.as_tensor(showers), self.detector).to(device)
            z1 = self.stage1.flow.encode(layers, energy).cpu()
            cond = self.cond_scaler(self.condition_tensor(conditions).to(device)).cpu()
        return self.stage1.train_alone(
            z1,
            cond,
            steps=config.layer_fit_steps,
            batch_size=config.layer_fit_batch,
            lr=config.layer_lr if config.layer_lr is not None else lr,
            generator=generator,
        )

    def make_batch(self, showers: NDArray[np.float32], conditions: Conditions) -> Batch:
        """Preprocess showers (MeV) and conditions into a :class:`Batch` on the model's device."""
        device = self.device
        energy = torch.as_tensor(conditions.energy, dtype=torch.float32, device=device)
        with torch.no_grad():
            x = self.transform(torch.as_tensor(showers, dtype=torch.float32, device=device), energy)
            cond = self.cond_scaler(self.condition_tensor(conditions).to(device))
        return Batch(x, cond, energy)

    @property
    def device(self) -> torch.device:
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    @torch.no_grad()
    def sample(
        self,
        conditions: Conditions,
        generator: torch.Generator | None = None,
        *,
        batch_size: int = 10_000,
        progress: Callable[[int], None] | None = None,
    ) -> NDArray[np.float32]:
        """Showers (N, n_voxels) in MeV, in the detector layout, for the given conditions.

        Arguments:
            conditions: N conditions (energies in MeV, ...).
            generator: random generator on the model's device (fixed seed = same showers).
            batch_size: showers generated per forward pass.
            progress: called with the number of showers done after each batch.
        """
        was_training = self.training
        self.eval()
        device = self.device
        if generator is None:
            generator = torch.Generator(device=device)
            generator.seed()
        cond = self.cond_scaler(self.condition_tensor(conditions).to(device))
        energy = torch.as_tensor(conditions.energy, dtype=torch.float32, device=device)
        k = math.prod(post.draws for post in self.postprocessors)
        step = max(1, batch_size // k)  # showers per forward pass stay about batch_size
        out = []
        for start in range(0, len(conditions), step):
            rows = np.repeat(np.arange(start, min(start + step, len(conditions))), k)
            index = torch.as_tensor(rows, device=device)
            showers = torch.clamp(self.generate(cond[index], energy[index], generator), min=0.0)
            batch = GeneratedBatch(energy[index], conditions.select(rows), self.detector, generator)
            showers = self.postprocess(showers, batch)
            out.append(showers.float().cpu())
            if progress is not None:
                progress(min(start + step, len(conditions)))
        self.train(was_training)
        if not out:
            return np.zeros((0, self.n_voxels), dtype=np.float32)
        return torch.cat(out).numpy()


__all__ = [
    "Batch",
    "ExportNotSupportedError",
    "ExportedGenerator",
    "LayerStageConfig",
    "ModelConfig",
    "OptimizerSpec",
    "ShowerModel",
    "StepContext",
]
