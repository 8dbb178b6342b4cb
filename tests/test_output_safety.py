"""``caloforge merge`` (installed console script): an output locked by another process, a
folder, or one of the inputs is refused in one line, and nothing is written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from caloforge.data import write_showers
from caloforge.testing import toy_detector, toy_showers
from cli_writers import caloforge, digest, leftovers, one_line_error

HOLDER = "import sys; from caloforge.files import OutputLock as L; L(sys.argv[1]).acquire(); " \
    "print('held', flush=True); sys.stdin.read()"  # fmt: skip


def _shower_files(folder: Path) -> list[Path]:
    det = toy_detector(folder)
    return [
        write_showers(folder / f"{name}.h5", *toy_showers(det, 5, seed=seed), det)
        for seed, name in enumerate(("a", "b"))
    ]


def test_merge_refuses_an_output_another_process_writes(tmp_path: Path) -> None:
    a, b = _shower_files(tmp_path)
    out = tmp_path / "m.h5"
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ,
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = caloforge("merge", out, a, b)
        holder.communicate()
    one_line_error(result, f"m.h5: in use by another caloforge process (pid {holder.pid} on")
    assert not out.exists()
    ok = caloforge("merge", out, a, b)
    assert ok.returncode == 0, ok.stderr
    assert leftovers(tmp_path) == []


def test_merge_refuses_a_folder_or_an_input_as_output(tmp_path: Path) -> None:
    a, b = _shower_files(tmp_path)
    os.link(a, tmp_path / "same.h5")
    before = digest(a)
    one_line_error(caloforge("merge", tmp_path, a, b), "is a folder; give the output a file name")
    one_line_error(
        caloforge("merge", tmp_path / "same.h5", a, b, "--overwrite"), "same.h5: is also an input"
    )
    assert digest(a) == before
    assert leftovers(tmp_path) == []
