"""Hardware facts that decide how fast a model runs, and the precision chosen from them.

bfloat16 pays only where the processor multiplies bfloat16 natively: x86 CPUs with
AVX512-BF16 or AMX-BF16, and CUDA GPUs that support it. Elsewhere the products are
emulated: a 1024x768 by 768x768 bfloat16 matrix product on an AVX2-only CPU runs about 60
times slower than in float32 (torch 2.13: 1.1 against 70 GFLOP/s). Native means three things
at once: the CPU flags, the kernels torch dispatches to (``get_cpu_capability()``, lowered
by ``ATEN_CPU_CAPABILITY``) and the instruction set oneDNN may use (``ONEDNN_MAX_CPU_ISA``).

``--precision auto`` (:func:`resolve_precision`) takes bfloat16 only where it is native and
the family has networks that can run in it; an explicit ``bf16`` elsewhere logs one warning
with the slowdown measured on the spot (:func:`bf16_slowdown`).
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")
"""Values of ``--precision``."""

ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")
"""CPU flags (``/proc/cpuinfo`` names) reported with every speed figure."""

BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""Any of these: the CPU multiplies bfloat16 natively."""

ENV_LIMITS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
"""Environment variables that lower the instruction set the libraries use."""

ONEDNN_BF16_ISAS = frozenset(
    {
        "ALL",
        "DEFAULT",
        "AVX512_CORE_BF16",
        "AVX512_CORE_FP16",
        "AVX512_CORE_AMX",
        "AVX512_CORE_AMX_FP16",
        "AVX10_1_512",
        "AVX10_1_512_AMX",
        "AVX10_1_512_AMX_FP16",
    }
)
"""``ONEDNN_MAX_CPU_ISA`` values that still allow native bfloat16 products."""


@dataclass(frozen=True)
class CpuFacts:
    """What the CPU offers and what torch will use of it.

    Attributes:
        model: CPU model name.
        flags: all CPU flags (``/proc/cpuinfo`` names).
        torch_capability: ``torch.backends.cpu.get_cpu_capability()`` (None without torch).
        threads: torch intra-op threads (None without torch).
        logical_cpus: logical CPUs of the machine.
        env: the set variables of :data:`ENV_LIMITS`.
    """

    model: str
    flags: frozenset[str]
    torch_capability: str | None
    threads: int | None
    logical_cpus: int | None
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def isa(self) -> list[str]:
        """The flags of :data:`ISA_FLAGS` this CPU has."""
        return [f for f in ISA_FLAGS if f in self.flags]

    def bf16_blocker(self) -> str | None:
        """Why bfloat16 is not native here (one phrase), or None when it is."""
        if not any(f in self.flags for f in BF16_FLAGS):
            return f"the CPU has no {' or '.join(BF16_FLAGS)} (ISA: {', '.join(self.isa) or '-'})"
        cap = self.torch_capability
        if cap is None or not cap.upper().startswith(("AVX512", "AMX")):
            via = self.env.get("ATEN_CPU_CAPABILITY")
            return f"torch uses {cap} kernels" + (f" (ATEN_CPU_CAPABILITY={via})" if via else "")
        onednn = self.env.get("ONEDNN_MAX_CPU_ISA")
        if onednn is not None and onednn.upper() not in ONEDNN_BF16_ISAS:
            return f"ONEDNN_MAX_CPU_ISA={onednn} keeps oneDNN below AVX512_CORE_BF16"
        return None

    @property
    def native_bf16(self) -> bool:
        return self.bf16_blocker() is None

    def to_dict(self) -> dict[str, Any]:
        """The facts recorded with a speed figure."""
        return {
            "cpu": self.model,
            "cpus": self.logical_cpus,
            "isa": self.isa,
            "torch_cpu_capability": self.torch_capability,
            "threads": self.threads,
            "bf16_native": self.native_bf16,
            "env": dict(self.env),
        }


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first processor in ``/proc/cpuinfo`` text (x86 ``flags``
    or ARM ``Features``)."""
    model, flags = "", frozenset[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = frozenset(value.split())
    return model, flags


def _cpuinfo_text() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        pass
    try:  # lscpu prints "Model name:" and "Flags:" lines
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, check=False)
        return out.stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def facts_from(
    cpuinfo: str,
    *,
    torch_capability: str | None,
    threads: int | None,
    env: Mapping[str, str],
    logical_cpus: int | None = None,
) -> CpuFacts:
    """:class:`CpuFacts` from their sources (``/proc/cpuinfo`` text, torch, environment)."""
    model, flags = parse_cpuinfo(cpuinfo)
    return CpuFacts(
        model=model or platform.processor() or platform.machine(),
        flags=flags,
        torch_capability=torch_capability,
        threads=threads,
        logical_cpus=logical_cpus,
        env={k: env[k] for k in ENV_LIMITS if k in env},
    )


def cpu_facts() -> CpuFacts:
    """The facts of this machine and this process's torch."""
    try:
        import torch

        capability: str | None = torch.backends.cpu.get_cpu_capability()
        threads: int | None = torch.get_num_threads()
    except ImportError:
        capability, threads = None, None
    return facts_from(
        _cpuinfo_text(),
        torch_capability=capability,
        threads=threads,
        env=os.environ,
        logical_cpus=os.cpu_count(),
    )


def bf16_slowdown(size: int = 256, repeats: int = 3) -> float:
    """bfloat16 / float32 time of a ``size``-cube matrix product on this CPU (best of
    ``repeats``; a few milliseconds where bfloat16 is native, under a second where not)."""
    import torch

    g = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=g)
    b = torch.randn(size, size, generator=g)

    def best(dtype: torch.dtype) -> float:
        x, y = a.to(dtype), b.to(dtype)
        x @ y  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            x @ y
            times.append(time.perf_counter() - t0)
        return min(times)

    return best(torch.bfloat16) / max(best(torch.float32), 1e-9)


def bf16_native(device: Any = "cpu", facts: CpuFacts | None = None) -> bool:
    """Whether bfloat16 products are native on ``device`` (a CUDA GPU: torch says so)."""
    if str(device).startswith("cuda"):
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return (facts or cpu_facts()).native_bf16


def parse_precisions(value: str | Sequence[str], name: str = "precision") -> tuple[str, ...]:
    """The precisions of a list (``"fp32,auto"`` or ``["fp32", "bf16"]``), in their order,
    each once; ``auto`` is kept for :func:`resolve_precision` to decide. Blank items of a
    comma string are skipped, as in ``--batch``.

    Arguments:
        name: what errors call the value (an option, a recipe key).

    Raises:
        ValueError: an empty list or a value not in :data:`PRECISIONS` (one line naming
            ``name`` and the value).
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        p = item.strip() if isinstance(item, str) else item
        if p == "" and isinstance(value, str):
            continue
        if p not in PRECISIONS:
            raise ValueError(f"{name} {value!r}: {p!r} is not one of {', '.join(PRECISIONS)}")
        if p not in out:
            out.append(p)
    if not out:
        raise ValueError(f"{name} {value!r}: expected one or more of {', '.join(PRECISIONS)}")
    return tuple(out)


def resolve_precision(
    requested: str,
    device: Any = "cpu",
    *,
    reduced_networks: bool = True,
    facts: CpuFacts | None = None,
) -> str:
    """The precision to generate in: ``fp32`` or ``bf16``.

    Arguments:
        requested: ``auto`` (bfloat16 where native and ``reduced_networks``, else float32),
            ``fp32`` or ``bf16`` (kept; on a CPU without native bfloat16 one warning is
            logged with the slowdown measured on the spot).
        device: where the model runs (``cpu``, ``cuda``, a ``torch.device``).
        reduced_networks: the family has networks that can run in bfloat16.
        facts: the CPU facts (default: this machine's).

    Raises:
        ValueError: an unknown precision.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r} is not one of {', '.join(PRECISIONS)}")
    if requested == "fp32":
        return "fp32"
    if requested == "auto":
        chosen = "bf16" if reduced_networks and bf16_native(device, facts) else "fp32"
        log.info("precision auto on %s: %s", device, chosen)
        return chosen
    if not str(device).startswith("cuda"):
        facts = facts or cpu_facts()
        blocker = facts.bf16_blocker()
        if blocker is not None:
            log.warning(
                "--precision bf16 without native bfloat16 (%s): a bfloat16 matrix product "
                "takes %.0fx the float32 time here; --precision auto picks float32",
                blocker,
                bf16_slowdown(),
            )
    return "bf16"


__all__ = [
    "BF16_FLAGS",
    "ENV_LIMITS",
    "ISA_FLAGS",
    "PRECISIONS",
    "CpuFacts",
    "bf16_native",
    "bf16_slowdown",
    "cpu_facts",
    "facts_from",
    "parse_cpuinfo",
    "parse_precisions",
    "resolve_precision",
]
