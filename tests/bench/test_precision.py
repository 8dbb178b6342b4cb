"""``--precision auto`` of generation: the precision chosen is the hardware's, and recorded."""

from __future__ import annotations

import json
from pathlib import Path

import h5py

from caloforge.generate import generate_file
from caloforge.hardware import cpu_facts
from export.conftest import training_file


def _recorded(path: Path) -> str:
    with h5py.File(path, "r") as f:
        return str(json.loads(f.attrs["generator"])["precision"])


def test_generate_records_the_precision_auto_chose(
    tiny_diffusion: Path, tiny_wgan: Path, tmp_path: Path
) -> None:
    out = generate_file(
        tiny_diffusion, tmp_path / "d.h5", conditions_from=training_file(tiny_diffusion), n=8
    )
    assert _recorded(out) == ("bf16" if cpu_facts().native_bf16 else "fp32")
    out = generate_file(tiny_wgan, tmp_path / "w.h5", conditions_from=training_file(tiny_wgan), n=8)
    assert _recorded(out) == "fp32"
    out = generate_file(
        tiny_diffusion,
        tmp_path / "f.h5",
        conditions_from=training_file(tiny_diffusion),
        n=8,
        precision="fp32",
    )
    assert _recorded(out) == "fp32"
