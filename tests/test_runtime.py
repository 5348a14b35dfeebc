"""The ``auto`` precision picks bfloat16 only where the hardware makes it fast."""

import os
import subprocess
import sys

import pytest

from skelemix import runtime


@pytest.mark.parametrize("flags, expected", [
    ({"avx2", "fma"}, "32-true"),
    ({"avx2", "avx512f", "avx512_bf16"}, "bf16-mixed"),
    ({"avx512f", "amx_bf16", "amx_tile"}, "bf16-mixed"),
])
def test_auto_precision_on_cpu_follows_the_flags(monkeypatch, flags, expected):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(runtime.torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert runtime.resolve_precision("auto", "cpu") == expected


@pytest.mark.parametrize("capability, isa, expected", [
    ("AVX512", None, "bf16-mixed"),
    ("AVX512", "AVX2", "32-true"),  # oneDNN capped below its bf16 instructions
    ("AVX512", "avx512_core_amx", "bf16-mixed"),
    ("AVX2", None, "32-true"),  # torch's kernels capped
])
def test_auto_precision_follows_what_torch_will_run(monkeypatch, capability, isa, expected):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16", "amx_bf16"}))
    monkeypatch.setattr(runtime.torch.backends.cpu, "get_cpu_capability", lambda: capability)
    if isa is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
    assert runtime.resolve_precision("auto", "cpu") == expected


def test_the_avx2_emulation_gets_float32_even_where_the_cpu_has_bf16():
    # a fresh process, so that torch reads ATEN_CPU_CAPABILITY at start-up; the CPU is told it has AMX
    code = ("from skelemix import runtime; runtime.cpu_flags = lambda: frozenset({'amx_bf16', 'avx512_bf16'}); "
            "import torch; print(torch.backends.cpu.get_cpu_capability(), runtime.resolve_precision('auto', 'cpu'))")
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["AVX2", "32-true"]


def test_forcing_bf16_on_a_slow_cpu_warns(monkeypatch):
    monkeypatch.setattr(runtime.torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset({"avx2"}))
    with pytest.warns(UserWarning, match="much slower"):
        assert runtime.resolve_precision("bf16", "cpu") == "bf16-mixed"
    assert runtime.resolve_precision("32", "cpu") == "32-true"
    with pytest.raises(ValueError, match="precision"):
        runtime.resolve_precision("fp16", "cpu")

