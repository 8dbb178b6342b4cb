"""Fixtures of the benchmark tests: the tiny TOY-trained checkpoints of tests/export and the
private Geant4 data cache of tests/fastsim."""

from __future__ import annotations

from export.conftest import (  # noqa: F401  (fixtures)
    _one_thread,
    calibrated,
    tiny_diffusion,
    tiny_wgan,
)
from fastsim.conftest import _private_cache, tiny_onnx  # noqa: F401  (fixtures)
