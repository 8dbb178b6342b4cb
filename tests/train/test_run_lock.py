"""Two ``caloforge train`` runs in one folder: the second refuses naming the first, whose
metrics log is not interleaved (installed console script)."""

from __future__ import annotations

import json
from pathlib import Path

from caloforge.data import write_showers
from caloforge.testing import toy_detector, toy_showers
from cli_writers import leftovers, one_line_error, race


def test_second_train_in_a_run_folder_refuses(tmp_path: Path) -> None:
    det = toy_detector(tmp_path)
    data = write_showers(tmp_path / "toy.h5", *toy_showers(det, 200, seed=5), det)
    run = tmp_path / "run"
    args = (
        "train", "--model", "vae", "--data", data, "--out", run, "--steps", "20", "-q",
        "latent_dim=4", "encoder_hidden=16", "decoder_hidden=16", "postprocessor=false",
        "kde_points=50", "train.batch_size=32", "train.threads=1", "train.log_every=2",
    )  # fmt: skip
    pid, second, first = race(run, *args, again=("--overwrite",))
    one_line_error(second, f"run: in use by another caloforge process (pid {pid} on")
    assert first.returncode == 0, first.stderr
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 20
    assert leftovers(tmp_path) == [] and leftovers(run) == []
