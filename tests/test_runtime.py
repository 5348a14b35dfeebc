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


ALLOCATION_PROBE = """
import sys
if sys.argv[1] == "heap":
    from skelemix.allocator import keep_tensors_on_the_heap
    assert keep_tensors_on_the_heap()
import torch
def resident_mib():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
before = resident_mib()
x = torch.ones(64 * 2**20 // 4)  # 64 MiB, every page touched
during = resident_mib()
del x
print(during - before, resident_mib() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and /proc are Linux's")
def test_freed_tensors_stay_with_the_process_only_with_the_heap_setting():
    """What allocator.py promises: a freed 64 MiB tensor's pages are kept for the next pass (glibc's default unmaps
    them, so the next pass faults them in again)."""
    grown = {}
    for mode in ("heap", "default"):
        done = subprocess.run([sys.executable, "-c", ALLOCATION_PROBE, mode], capture_output=True, text=True,
                              check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        grown[mode] = [float(v) for v in done.stdout.split()]
    assert grown["heap"][0] > 60 and grown["heap"][1] > 60  # still resident after the tensor is freed
    assert grown["default"][0] > 60 and grown["default"][1] < 10  # handed back to the system
