"""Where and in which precision to run: the ``auto`` choices, explained.

``resolve_precision("auto", accelerator)`` picks bfloat16 autocast ("bf16-mixed") only where it is fast:
a CUDA GPU that supports bf16, or a CPU with AMX-BF16 or AVX512-BF16 that torch will actually use; everywhere
else float32 ("32-true"). "Will use": torch's kernels run at the capability it chose (``ATEN_CPU_CAPABILITY`` caps
it) and oneDNN at its ISA (``ONEDNN_MAX_CPU_ISA`` caps it), so a CPU that has the instructions but runs with them
capped (e.g. to emulate an AVX2-only machine) gets float32. On a CPU without those instructions a bf16 matmul can
run hundreds of times slower than fp32, so asking for bf16 there warns.

Example:
    >>> resolve_precision("32", "cpu")
    '32-true'
"""

from __future__ import annotations

import logging
import os
import platform
import warnings
from functools import lru_cache
from pathlib import Path

import torch

FAST_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) that still admit its bf16 instructions
ONEDNN_BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512",
                    "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "ALL", "DEFAULT")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where that file does not exist)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return frozenset()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def resolve_accelerator(accelerator: str) -> str:
    if accelerator == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if accelerator == "gpu":
        return "cuda"
    return accelerator


def torch_uses_avx512() -> bool:
    """Whether torch's CPU kernels and oneDNN run with AVX-512 (their capability after any environment caps)."""
    isa = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "ALL").upper()
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512") and isa in ONEDNN_BF16_ISAS


def bf16_is_fast(accelerator: str) -> bool:
    if resolve_accelerator(accelerator) == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return any(flag in cpu_flags() for flag in FAST_BF16_CPU_FLAGS) and torch_uses_avx512()


def resolve_precision(precision: str, accelerator: str = "auto") -> str:
    """'auto' | '32' | 'bf16' -> a Lightning precision string."""
    if precision == "32":
        return "32-true"
    if precision == "bf16":
        if not bf16_is_fast(accelerator):
            warnings.warn("bf16 was requested but this device lacks fast bfloat16 (no CUDA bf16, AMX-BF16 or "
                          "AVX512-BF16): expect it to be much slower than float32", stacklevel=2)
        return "bf16-mixed"
    if precision == "auto":
        return "bf16-mixed" if bf16_is_fast(accelerator) else "32-true"
    raise ValueError(f"precision must be auto, 32 or bf16, got {precision!r}")


def autocast(device_type: str, lightning_precision: str) -> torch.autocast:
    """The autocast context outside Lightning's loop: bfloat16 for "bf16-mixed", disabled otherwise."""
    bf16 = lightning_precision.startswith("bf16")
    return torch.autocast(device_type, dtype=torch.bfloat16 if bf16 else torch.float32, enabled=bf16)


def quiet_lightning() -> None:
    """Silence what a user cannot act on: Lightning's start-up info lines (accelerator availability, the litlogger
    tip), torch's pytree deprecation warning raised inside Lightning, and Lightning's note that a resumed run's
    checkpoint directory is not empty (it is, by design). Warnings that ask for an action stay."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=Warning)
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty", category=Warning)
