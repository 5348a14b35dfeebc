"""Large CPU tensors on their own mappings, backed by transparent huge pages: peak memory and speed on a CPU.

glibc serves an allocation below its mmap threshold from the heap, and raises that threshold (up to 32 MB) as
large blocks are freed. A training step frees one encoder pass's activations and allocates the next pass's;
on the heap, small allocations split the freed blocks, the next pass's tensors no longer fit, and the heap grows:
SkeleMixCLR+'s float32 step at batch 128 peaked at 7.6 GB of resident memory for 3.3 GB of live tensors.
``use_own_mappings_for_large_tensors`` fixes the threshold at 4 MB, so that such tensors are mapped and unmapped
whole, and asks torch to back its allocations of 2 MB and more with transparent huge pages
(``THP_MEM_ALLOC_ENABLE``), which makes faulting in fresh mappings cheap: the same step then peaked at 3.2 GB
and ran 1.2x faster than with glibc's defaults (benchmarks/pretrain.md). Without huge pages the mappings alone
cost 30% of the speed.

torch reads ``THP_MEM_ALLOC_ENABLE`` at its first allocation, so the command line calls this before importing
torch; a Python program should call it first thing (or export ``THP_MEM_ALLOC_ENABLE=1``). Elsewhere than on
Linux with glibc it does nothing.

Example:
    >>> use_own_mappings_for_large_tensors()   # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import os
import sys

M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024


def use_own_mappings_for_large_tensors(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Returns whether glibc accepted the threshold; a user's own ``THP_MEM_ALLOC_ENABLE`` is kept."""
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):  # another C library (musl) has no mallopt
        return False
