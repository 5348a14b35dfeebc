"""Where CPU tensors' memory comes from: mimalloc where it is installed, else glibc's heap tuned to keep them.

A training step frees one encoder pass's activations and allocates the next pass's. glibc serves them from one
heap, and the freed blocks of many sizes fragment it: a step holds about twice its live set resident. mimalloc keeps
freed memory in size-segregated pages and takes it again for the next block of a similar size, at the same speed.
Its purging (freed pages handed back to the system a second later) is turned off (``MIMALLOC_PURGE_DELAY=-1``): it
made every pass fault its pages in again, slower for little memory. The measurements: benchmarks/pretrain.md.

mimalloc replaces malloc only when it is loaded before the program starts, so ``restart_with_mimalloc``, the first
thing the ``skelemix`` executable does, starts the same command again with mimalloc in ``LD_PRELOAD`` (as torch's
own CPU launcher does with jemalloc). It comes from the ``cmeel-mimalloc`` wheel, a dependency on Linux (x86-64,
aarch64). A Python program gets it the same way: ``LD_PRELOAD=$(python -m skelemix.allocator)
MIMALLOC_PURGE_DELAY=-1 python train.py``. ``SKELEMIX_ALLOCATOR=system`` keeps the C library's allocator;
``=mimalloc`` makes a missing mimalloc an error.

``tune_allocator``, which pretraining, the demo and the benchmarks call before torch loads (torch reads
``THP_MEM_ALLOC_ENABLE`` at its first allocation), asks torch to align allocations of 2 MB and more to huge pages
(faster on glibc's heap; on mimalloc a slightly lower peak). On the system's allocator it also keeps tensors on
glibc's heap: glibc maps an allocation above its mmap threshold (which floats between 128 kB and 32 MB) with a
fresh mmap and unmaps it when freed, and it returns the free top of its heap to the system once that exceeds
128 kB, so every pass faulted its pages in and zeroed them again, an order of magnitude slower than writing into
pages already mapped. The mmap threshold goes to 256 MB and the trim threshold to its maximum (2 GB), so freed
activations are reused in place (benchmarks/pretrain.md has the step's speed with and without).

Example:
    >>> restart_with_mimalloc()   # doctest: +SKIP
    >>> tune_allocator()          # doctest: +SKIP
    'mimalloc'
"""

from __future__ import annotations

import ctypes
import os
import sys
from importlib import metadata
from pathlib import Path

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers in glibc's malloc.h
MMAP_THRESHOLD_BYTES = 256 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 2**31 - 1  # mallopt takes a C int
MIMALLOC_DISTRIBUTION = "cmeel-mimalloc"
MIMALLOC_OPTIONS = {"MIMALLOC_PURGE_DELAY": "-1"}
CHOICES = ("mimalloc", "system")
MALLOC_REPLACEMENTS = ("mimalloc", "jemalloc", "tcmalloc")


def mimalloc_library() -> Path | None:
    """The installed ``libmimalloc.so``, or None."""
    try:
        files = metadata.distribution(MIMALLOC_DISTRIBUTION).files or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == "libmimalloc.so":
            return Path(file.locate()).resolve()
    return None


def allocator_in_use() -> str:
    """'mimalloc', 'jemalloc' or 'tcmalloc' when this process has one of them loaded, else 'system'."""
    try:
        with open("/proc/self/maps") as maps:
            loaded = maps.read()
    except OSError:  # not Linux
        return "system"
    return next((name for name in MALLOC_REPLACEMENTS if f"lib{name}" in loaded), "system")


def restart_with_mimalloc() -> None:
    """Replace this process by the same command with mimalloc preloaded, where it is installed and not yet loaded.

    Returns (doing nothing) elsewhere than on Linux, when ``SKELEMIX_ALLOCATOR=system``, when mimalloc is not
    installed, when a replacement of malloc is loaded already (a second one would crash the process), or when
    ``LD_PRELOAD`` already names this mimalloc (the loader refused it: no loop).
    """
    choice = os.environ.get("SKELEMIX_ALLOCATOR", "")
    if choice and choice not in CHOICES:
        raise ValueError(f"SKELEMIX_ALLOCATOR={choice!r}: must be one of {', '.join(CHOICES)}")
    if choice == "system" or allocator_in_use() != "system":
        return
    library = mimalloc_library() if sys.platform.startswith("linux") else None
    preloaded = os.environ.get("LD_PRELOAD", "")
    if library is None or str(library) in preloaded.split(":"):
        if choice == "mimalloc":
            raise ValueError("SKELEMIX_ALLOCATOR=mimalloc, but " + (
                f"the loader did not load {library}" if library else
                f"{MIMALLOC_DISTRIBUTION} is not installed (Linux only: pip install {MIMALLOC_DISTRIBUTION})"))
        return
    environment = {**MIMALLOC_OPTIONS, **os.environ, "LD_PRELOAD": ":".join(filter(None, (str(library), preloaded)))}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)


def tune_allocator() -> str:
    """Huge-page-aligned tensors (a user's own ``THP_MEM_ALLOC_ENABLE`` is kept) and, on the system's allocator,
    tensors kept on glibc's heap. Returns the allocator's name."""
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    if (replacement := allocator_in_use()) != "system":
        return replacement
    return "glibc heap" if keep_tensors_on_the_heap() else "system"


def keep_tensors_on_the_heap(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Returns whether glibc accepted the threshold."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, threshold)) and bool(libc.mallopt(M_TRIM_THRESHOLD,
                                                                                     TRIM_THRESHOLD_BYTES))
    except (OSError, AttributeError):  # another C library (musl) has no mallopt
        return False


if __name__ == "__main__":  # the path to preload, for programs that are not the skelemix command
    print(mimalloc_library() or "")
