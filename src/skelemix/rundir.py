"""A pretraining run directory: one process at a time, and nothing left behind by a run that fails its checks.

``claim_run_dir`` takes an exclusive OS lock (``fcntl.flock`` on ``RUN_DIR/.lock``, which holds the owner's process
id) before anything else is written. The OS releases it when the process ends, however it ends, so a kill -9 leaves
no stale lock. A second ``pretrain`` or ``--resume`` on a locked directory fails at once, naming the holder. A
directory the claim created is removed again if the block fails before training starts (``started()`` not called);
leftovers of a killed checkpoint write (``checkpoints/.*.partial-*``) are removed when a run is claimed.

Under a distributed launcher only the first process locks: the others are its own ranks.

Example:
    >>> with claim_run_dir("runs/ucla", resume=False) as claim:   # doctest: +SKIP
    ...     write_config(); claim.started(); train()
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not guarded there
    fcntl = None

LOCK = ".lock"


class RunDirError(OSError):
    """The run directory cannot be used now; the message names it and says why."""


def first_process() -> bool:
    """False in the processes a distributed launcher started for ranks other than the first."""
    return all(os.environ.get(name, "0") == "0" for name in ("RANK", "LOCAL_RANK", "NODE_RANK"))


class _Claim:
    def __init__(self, created: bool):
        self.created, self.training = created, False

    def started(self) -> None:
        """Training has begun: from here on a failure keeps the directory (its checkpoints are the run)."""
        self.training = True


@contextmanager
def claim_run_dir(run_dir: str | Path, resume: bool):
    """Lock ``run_dir`` (created unless ``resume``) for this process for the duration of the block."""
    run_dir = Path(run_dir)
    if resume and not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        run_dir.mkdir()
        created = True
    except FileExistsError:
        created = False
    except OSError as error:
        raise RunDirError(f"{run_dir}: cannot write the run directory ({error.strerror})") from None
    claim = _Claim(created)
    # Locked before the try: a process that loses the race must not remove the directory the winner now owns,
    # even if the loser was the one that created it.
    handle = _lock(run_dir) if first_process() and fcntl is not None else None
    try:
        if first_process():
            for leftover in (run_dir / "checkpoints").glob(".*.partial-*"):  # a save cut short by a kill
                leftover.unlink(missing_ok=True)
        yield claim
    except BaseException:
        if claim.created and not claim.training and first_process():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        if handle is not None:
            handle.truncate(0)  # the next holder's pid is not mistaken for ours while it writes it
            handle.close()  # releases the lock


def _lock(run_dir: Path):
    path = run_dir / LOCK
    try:
        handle = open(path, "a+")
    except OSError as error:
        raise RunDirError(f"{run_dir}: cannot write the run directory ({error.strerror})") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(handle)
        handle.close()
        raise RunDirError(f"{run_dir}: in use by another skelemix process (pid {holder}); wait for it to end, or "
                          f"choose another --run-dir") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _holder(handle, patience_s: float = 2.0) -> str:
    """The process id in a lock file another process holds; it writes it just after locking, so wait for it."""
    deadline = time.monotonic() + patience_s
    while True:
        handle.seek(0)
        holder = handle.read().strip()
        if holder or time.monotonic() > deadline:
            return holder or "unknown"
        time.sleep(0.01)
