"""Writers of checkpoints and shower files, through the installed console script: a second
writer of the same output refuses naming the first, and no verb writes over its input."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from caloforge.data import ShowerFile
from cli_writers import caloforge, digest, leftovers, one_line_error, race, start_frozen

from .conftest import training_file


def test_second_generate_refuses_naming_the_first(tiny_wgan: Path, tmp_path: Path) -> None:
    out = tmp_path / "gen.h5"
    args = ("generate", "--checkpoint", tiny_wgan, "-o", out, "--energy", "10GeV", "-n", "500")
    pid, second, first = race(out, *args, "-q")
    one_line_error(second, f"gen.h5: in use by another caloforge process (pid {pid} on")
    assert first.returncode == 0, first.stderr
    assert len(ShowerFile(out)) == 500
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("verb", "output"),
    [
        ("export", "ck.pt"),
        ("export", "hard-link.pt"),
        ("generate", "ck.pt"),
        ("generate", "data.h5"),
        ("calibrate", "data.h5"),
        ("refine", "ck.pt"),
    ],
)
def test_no_verb_writes_over_its_input(
    verb: str, output: str, tiny_wgan: Path, tmp_path: Path
) -> None:
    ck = Path(shutil.copy(tiny_wgan, tmp_path / "ck.pt"))
    data = Path(shutil.copy(training_file(tiny_wgan), tmp_path / "data.h5"))
    os.link(ck, tmp_path / "hard-link.pt")
    before = {p: digest(p) for p in (ck, data)}
    out = tmp_path / output
    args: tuple[str | Path, ...] = {
        "export": ("export", "-c", ck, "-o", out),
        "generate": ("generate", "--checkpoint", ck, "-o", out, "--conditions-from", data),
        "calibrate": ("calibrate", "--checkpoint", ck, "--data", data, "-o", out, "-q"),
        "refine": ("refine", "--checkpoint", ck, "--data", data, "-o", out, "-q"),
    }[verb]
    one_line_error(caloforge(*args, "--overwrite"), f"{output}: is also an input (")
    assert {p: digest(p) for p in (ck, data)} == before
    assert leftovers(tmp_path) == []


def test_writer_killed_with_sigkill_leaves_nothing_after_a_rerun(
    tiny_wgan: Path, tmp_path: Path
) -> None:
    out = tmp_path / "gen.h5"
    args = ("generate", "--checkpoint", tiny_wgan, "-o", out, "--energy", "10GeV", "-n", "50")
    first = start_frozen(out, *args, "-q")
    first.kill()
    first.communicate()
    orphan = tmp_path / f".gen.h5.{first.pid}@{socket.gethostname()}.0badc0de.tmp"
    orphan.write_bytes(b"partial")  # what a kill during the write leaves
    assert not out.exists() and leftovers(tmp_path) == sorted(["gen.h5.lock", orphan.name])
    again = caloforge(*args, "-q")
    assert again.returncode == 0, again.stderr
    assert f"stale lock of pid {first.pid}" in again.stderr and "Traceback" not in again.stderr
    assert len(ShowerFile(out)) == 50
    assert leftovers(tmp_path) == []
