"""Hardware facts and the precision chosen from them (mocked CPUs, and this machine limited
to AVX2 through the environment)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from caloforge.hardware import (
    CpuFacts,
    cpu_facts,
    facts_from,
    parse_cpuinfo,
    parse_precisions,
    resolve_precision,
)

SAPPHIRE = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8
processor\t: 1
model name\t: ignored second processor
"""
EPYC_AVX2 = """model name\t: AMD EPYC 7763
flags\t\t: fpu sse2 avx avx2 fma
"""
GRAVITON = """processor\t: 0
Features\t: fp asimd bf16 i8mm
"""


def facts(cpuinfo: str, capability: str = "AVX512", **env: str) -> CpuFacts:
    return facts_from(cpuinfo, torch_capability=capability, threads=2, env=env)


def test_cpuinfo_parsing() -> None:
    model, flags = parse_cpuinfo(SAPPHIRE)
    assert model == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"avx2", "avx512f", "avx512_bf16", "amx_bf16"} <= flags
    assert parse_cpuinfo(GRAVITON)[1] == {"fp", "asimd", "bf16", "i8mm"}
    assert parse_cpuinfo("") == ("", frozenset())
    f = facts(SAPPHIRE)
    assert f.isa == ["avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16"]
    assert facts(EPYC_AVX2, "AVX2").isa == ["avx2"]
    d = f.to_dict()
    assert d["cpu"] == "Intel(R) Xeon(R) Platinum 8480+" and d["bf16_native"] is True
    assert d["torch_cpu_capability"] == "AVX512" and d["threads"] == 2


@pytest.mark.parametrize(
    ("cpuinfo", "capability", "env", "native", "blocker"),
    [
        (SAPPHIRE, "AVX512", {}, True, None),
        (SAPPHIRE, "AVX512", {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, True, None),
        (SAPPHIRE, "AVX512", {"ONEDNN_MAX_CPU_ISA": "all"}, True, None),
        (EPYC_AVX2, "AVX2", {}, False, "no avx512_bf16 or amx_bf16"),
        (GRAVITON, "DEFAULT", {}, False, "no avx512_bf16 or amx_bf16"),
        (SAPPHIRE, "AVX2", {"ATEN_CPU_CAPABILITY": "avx2"}, False, "ATEN_CPU_CAPABILITY=avx2"),
        (SAPPHIRE, None, {}, False, "torch uses None kernels"),
        (SAPPHIRE, "AVX512", {"ONEDNN_MAX_CPU_ISA": "AVX2"}, False, "ONEDNN_MAX_CPU_ISA=AVX2"),
        (SAPPHIRE, "AVX512", {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, False, "AVX512_CORE_BF16"),
    ],
)
def test_native_bf16_needs_flags_torch_and_onednn(
    cpuinfo: str, capability: str | None, env: dict[str, str], native: bool, blocker: str | None
) -> None:
    f = facts_from(cpuinfo, torch_capability=capability, threads=1, env=env)
    assert f.native_bf16 is native
    assert (f.bf16_blocker() is None) if blocker is None else (blocker in str(f.bf16_blocker()))
    assert resolve_precision("auto", facts=f) == ("bf16" if native else "fp32")
    # a family without reduced-precision networks runs float32 under auto, everywhere
    assert resolve_precision("auto", facts=f, reduced_networks=False) == "fp32"
    assert resolve_precision("fp32", facts=f) == "fp32"


def test_explicit_bf16_without_native_support_warns_with_the_measured_cost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="caloforge.hardware"):
        assert resolve_precision("bf16", facts=facts(EPYC_AVX2, "AVX2")) == "bf16"
    [record] = caplog.records
    msg = record.getMessage()
    assert "\n" not in msg and "no avx512_bf16 or amx_bf16" in msg
    assert "x the float32 time here" in msg and "--precision auto" in msg
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="caloforge.hardware"):
        assert resolve_precision("bf16", facts=facts(SAPPHIRE)) == "bf16"
    assert caplog.records == []


def test_unknown_precision() -> None:
    with pytest.raises(ValueError, match="'fp16' is not one of auto, fp32, bf16"):
        resolve_precision("fp16", facts=facts(SAPPHIRE))


LIMITS = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}


def _in_subprocess(code: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return out.stdout


def test_environment_limits_make_any_cpu_an_avx2_one() -> None:
    code = (
        "import json; from caloforge.hardware import cpu_facts, resolve_precision;"
        "f = cpu_facts(); print(json.dumps([f.to_dict(), resolve_precision('auto')]))"
    )
    info, chosen = json.loads(_in_subprocess(code, LIMITS))
    assert info["env"] == LIMITS
    assert info["bf16_native"] is False and chosen == "fp32"
    assert info["torch_cpu_capability"] in ("AVX2", "DEFAULT", "NO AVX")


@pytest.mark.slow
def test_bf16_is_slow_where_not_native() -> None:
    """The measurement behind the rule: a 1024x768 by 768x768 product in bfloat16 against
    float32, with the environment limited to AVX2."""
    code = (
        "import time, torch; torch.set_num_threads(1);"
        "a, b = torch.randn(1024, 768), torch.randn(768, 768)\n"
        "def t(d):\n"
        "    x, y = a.to(d), b.to(d); x @ y; t0 = time.perf_counter(); x @ y\n"
        "    return time.perf_counter() - t0\n"
        "print(t(torch.bfloat16) / t(torch.float32))"
    )
    if "avx2" not in cpu_facts().flags:
        pytest.skip("not an x86 CPU with AVX2")
    assert float(_in_subprocess(code, LIMITS)) > 5.0


def test_precision_lists() -> None:
    assert parse_precisions("fp32,auto") == ("fp32", "auto")
    assert parse_precisions(" bf16 , fp32,bf16,") == ("bf16", "fp32")  # order kept, each once
    assert parse_precisions(["fp32", "bf16"]) == ("fp32", "bf16")
    assert parse_precisions("auto") == ("auto",)
    with pytest.raises(ValueError, match=r"^--precision 'fp32,fp16': 'fp16' is not one of"):
        parse_precisions("fp32,fp16", "--precision")
    with pytest.raises(ValueError, match="precision '': expected one or more"):
        parse_precisions("")
    with pytest.raises(ValueError, match="'' is not one of"):
        parse_precisions(["fp32", ""])
