"""Detector descriptions: materials, layer stacks, readout segmentations and presets."""

from caloforge.geometry.detector import (
    SCORING_MODES,
    Detector,
    DetectorError,
    Gun,
    PhysicsSettings,
    ReadoutLayer,
    SamplingLayer,
    ScoringMode,
)
from caloforge.geometry.loader import (
    detector_from_dict,
    detector_from_json,
    detector_to_dict,
    detector_to_json,
    load_detector,
    preset_names,
    same_detector,
)
from caloforge.geometry.materials import MATERIALS, Material, get_material
from caloforge.geometry.segmentation import (
    CartesianSegmentation,
    CylindricalSegmentation,
    HexagonalSegmentation,
    Segmentation,
)

__all__ = [
    "MATERIALS",
    "SCORING_MODES",
    "CartesianSegmentation",
    "CylindricalSegmentation",
    "Detector",
    "DetectorError",
    "Gun",
    "HexagonalSegmentation",
    "Material",
    "PhysicsSettings",
    "ReadoutLayer",
    "SamplingLayer",
    "ScoringMode",
    "Segmentation",
    "detector_from_dict",
    "detector_from_json",
    "detector_to_dict",
    "detector_to_json",
    "get_material",
    "load_detector",
    "preset_names",
    "same_detector",
]
