"""Where CPU tensors' memory comes from: glibc's heap for all of them, backed by transparent huge pages, and
never handed back to the system during a run.

glibc maps an allocation above its mmap threshold (which floats between 128 kB and 32 MB) with a fresh mmap and
unmaps it when freed, and it returns the free top of its heap to the system once that exceeds 128 kB. A training
step frees one encoder pass's activations and allocates the next pass's, so either way their pages were faulted
in and zeroed again for every pass, and page faults are slow on these machines (a new 105 MB tensor took 113 ms to
fill, an existing one 9 ms). ``keep_tensors_on_the_heap`` raises the mmap threshold to 256 MB and the trim
threshold to its maximum (2 GB), so freed activations are reused in place; asking torch to align its allocations
of 2 MB and more to huge pages (``THP_MEM_ALLOC_ENABLE``) makes it faster still and lowers the peak (why the peak
is lower we have not established).

On 2 cores it made a float32 SkeleMixCLR+ step 1.29x faster than glibc's defaults (benchmarks/pretrain.md, which
also records the variants tried); tests/test_runtime.py checks that a freed tensor's pages stay with the process.

Only pretraining, the demo and the benchmarks set it (their commands call this before torch loads, since torch
reads ``THP_MEM_ALLOC_ENABLE`` at its first allocation); the other commands keep glibc's defaults. A Python program
should call it first thing (or export ``THP_MEM_ALLOC_ENABLE=1``). Elsewhere than on Linux with glibc it changes
nothing but that variable.

Example:
    >>> keep_tensors_on_the_heap()   # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers in glibc's malloc.h
MMAP_THRESHOLD_BYTES = 256 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 2**31 - 1  # mallopt takes a C int


def keep_tensors_on_the_heap(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Returns whether glibc accepted the threshold; a user's own ``THP_MEM_ALLOC_ENABLE`` is kept."""
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, threshold)) and bool(libc.mallopt(M_TRIM_THRESHOLD,
                                                                                     TRIM_THRESHOLD_BYTES))
    except (OSError, AttributeError):  # another C library (musl) has no mallopt
        return False
