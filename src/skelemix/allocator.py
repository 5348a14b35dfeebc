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

Measured on 2 cores (benchmarks/pretrain.md), SkeleMixCLR+ float32 at batch 128, one process each, the same
session:

| allocation | samples/s | peak RSS |
|---|---|---|
| glibc's defaults | 5.36 | 4.83 GB |
| heap, huge pages, trimmed (this module's previous setting) | 6.07 | 5.47 GB |
| heap, huge pages, never trimmed (this) | 6.89 | 5.01 GB |
| heap, without huge pages, never trimmed | 6.44 | 5.66 GB |

Sampled through one run, the heap never had more than 2.2 GB in use (mallinfo2) while the process reached 5.9 GB
resident (the program itself included): fragmentation, the lead for anyone lowering the peak further.

torch reads ``THP_MEM_ALLOC_ENABLE`` at its first allocation, so the command line calls this before importing
torch; a Python program should call it first thing (or export ``THP_MEM_ALLOC_ENABLE=1``). Elsewhere than on
Linux with glibc it changes nothing but that variable.

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
