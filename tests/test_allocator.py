"""Which malloc a skelemix process runs on (skelemix/allocator.py), and what each setting promises."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from skelemix import allocator
from skelemix.allocator import mimalloc_library

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="LD_PRELOAD, mallopt and /proc are Linux's")
needs_mimalloc = pytest.mark.skipif(mimalloc_library() is None, reason="cmeel-mimalloc is not installed here")

# argv[1]: "tuned" runs what the skelemix command runs first (restart, then tuning); "untuned" neither.
# Prints the allocator, then how many MiB a 64 MiB tensor added while alive and after it was freed.
PROBE = """
import sys
from skelemix.allocator import allocator_in_use, restart_with_mimalloc, tune_allocator
if sys.argv[1] == "tuned":
    restart_with_mimalloc()
    tune_allocator()
import torch
def resident_mib():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
before = resident_mib()
x = torch.ones(64 * 2**20 // 4)  # every page touched
during = resident_mib()
del x
print(allocator_in_use(), during - before, resident_mib() - before)
"""


def probe(mode: str, **environment: str) -> tuple[str, float, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "SKELEMIX_ALLOCATOR")}
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                          env={**env, "OMP_NUM_THREADS": "1", **environment})
    name, during, after = done.stdout.split()
    return name, float(during), float(after)


@linux_only
@needs_mimalloc
def test_the_command_restarts_on_mimalloc_which_keeps_freed_pages():
    name, during, after = probe("tuned")
    assert name == "mimalloc"
    assert during > 60 and after > 60  # purging is off: the next pass finds the pages in place


@linux_only
def test_on_the_system_allocator_freed_tensors_stay_only_with_the_heap_setting():
    """glibc's default unmaps a freed 64 MiB tensor, so the next pass faults its pages in again; the heap setting
    keeps them."""
    name, during, after = probe("tuned", SKELEMIX_ALLOCATOR="system")
    assert name == "system" and during > 60 and after > 60
    name, during, after = probe("untuned")
    assert name == "system" and during > 60 and after < 10


@linux_only
@needs_mimalloc
def test_a_malloc_preloaded_already_is_kept(tmp_path):
    """Another copy of mimalloc in LD_PRELOAD: preloading ours as well crashed the process (two mallocs)."""
    other = tmp_path / "libmimalloc-other.so"
    shutil.copy(mimalloc_library(), other)
    name, during, after = probe("tuned", LD_PRELOAD=str(other))
    assert name == "mimalloc" and during > 60


@needs_mimalloc
def test_the_module_prints_the_library_to_preload_for_other_programs():
    done = subprocess.run([sys.executable, "-m", "skelemix.allocator"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(mimalloc_library()) and done.stdout.strip().endswith("libmimalloc.so")


def test_an_unknown_allocator_choice_is_a_one_line_error():
    done = subprocess.run([sys.executable, "-m", "skelemix", "config"], capture_output=True, text=True,
                          env={**os.environ, "SKELEMIX_ALLOCATOR": "jemalloc"})
    assert done.returncode == 1
    assert done.stderr.strip() == "skelemix: error: SKELEMIX_ALLOCATOR='jemalloc': must be one of mimalloc, system"


@pytest.mark.parametrize("library, preload, says", [
    (None, "", "cmeel-mimalloc is not installed"),
    ("/opt/lib/libmimalloc.so", "/opt/lib/libmimalloc.so", "the loader did not load /opt/lib/libmimalloc.so"),
])
def test_asking_for_mimalloc_where_it_cannot_load_is_an_error(monkeypatch, library, preload, says):
    """Without SKELEMIX_ALLOCATOR the same situations fall back to the system's allocator quietly."""
    monkeypatch.setattr(allocator, "mimalloc_library", lambda: library and Path(library))
    monkeypatch.setattr(allocator, "allocator_in_use", lambda: "system")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("LD_PRELOAD", preload)
    monkeypatch.setenv("SKELEMIX_ALLOCATOR", "mimalloc")
    with pytest.raises(ValueError, match=says):
        allocator.restart_with_mimalloc()
    monkeypatch.delenv("SKELEMIX_ALLOCATOR")
    assert allocator.restart_with_mimalloc() is None  # returned: this process was not replaced
