"""Where CPU tensors' memory comes from: glibc's heap for all of them, backed by transparent huge pages.

glibc maps an allocation above its mmap threshold (which floats between 128 kB and 32 MB) with a fresh mmap and
unmaps it when freed. A training step frees one encoder pass's activations and allocates the next pass's, so
the large ones were mapped anew for every pass: each page then faults in and is zeroed again, and with two
threads those faults took two fifths of SkeleMixCLR+'s float32 step. ``keep_tensors_on_the_heap`` raises the
threshold to 256 MB, so that freed activations are reused in place; that is fastest but lets the heap grow (8.66
GB). Asking torch to align its allocations of 2 MB and more to huge pages (``THP_MEM_ALLOC_ENABLE``) brought the
peak down to 6.88 GB for 6% of the speed; why it lowers the peak we have not established.

Measured on 2 cores (benchmarks/pretrain.md), SkeleMixCLR+ float32 at batch 128:

| allocation | samples/s | peak RSS |
|---|---|---|
| glibc's defaults | 4.71 | 7.18 GB |
| this (heap, huge pages) | 5.28 | 6.88 GB |
| heap, without huge pages | 5.60 | 8.66 GB |
| mmap above 4 MB, huge pages | 3.14 | 3.24 GB |

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
