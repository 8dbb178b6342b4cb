"""Generative model families behind one interface, and their registry.

Example:
    >>> from caloforge.models import get_family, family_names
    >>> family_names()
    ['wgan-gp', 'vae', 'library']
"""

from caloforge.models.base import (
    Batch,
    LayerStageConfig,
    ModelConfig,
    OptimizerSpec,
    ShowerModel,
    StepContext,
)
from caloforge.models.registry import (
    FAMILIES,
    UnknownFamilyError,
    describe_families,
    family_names,
    get_family,
)
from caloforge.models.transforms import ConditionScaler, ShowerTransform

__all__ = [
    "FAMILIES",
    "Batch",
    "ConditionScaler",
    "LayerStageConfig",
    "ModelConfig",
    "OptimizerSpec",
    "ShowerModel",
    "ShowerTransform",
    "StepContext",
    "UnknownFamilyError",
    "describe_families",
    "family_names",
    "get_family",
]
