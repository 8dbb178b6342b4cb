"""The machine of a measurement: CPU facts, versions, load average."""

from __future__ import annotations

import os
import platform
from typing import Any

from caloforge._version import __version__
from caloforge.hardware import cpu_facts


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """The machine of a measurement: :class:`caloforge.hardware.CpuFacts` (CPU model, ISA
    flags, torch's CPU capability, threads, native bfloat16, environment limits), versions
    and the load average."""
    info: dict[str, Any] = {
        **cpu_facts().to_dict(),
        "python": platform.python_version(),
        "caloforge": __version__,
        "load_start": [round(v, 2) for v in os.getloadavg()],
    }
    if threads is not None:
        info["threads"] = threads
    for mod in ("torch", "onnxruntime"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = None
    return info


def machine_line(machine: dict[str, Any]) -> str:
    """One line of :func:`machine_info`: CPU, ISA, torch capability, threads, bfloat16."""
    env = "".join(f"; {k}={v}" for k, v in machine.get("env", {}).items())
    return (
        f"{machine.get('cpu', '?')}, {machine.get('cpus', '?')} logical CPUs; ISA "
        f"{' '.join(machine.get('isa', [])) or '-'}; torch CPU capability "
        f"{machine.get('torch_cpu_capability')}; {machine.get('threads')} threads; bfloat16 "
        f"{'native' if machine.get('bf16_native') else 'not native'}{env}; torch "
        f"{machine.get('torch')}, onnxruntime {machine.get('onnxruntime')}; load average at "
        f"start {machine.get('load_start')}, at end {machine.get('load_end')}"
    )


__all__ = ["machine_info", "machine_line"]
