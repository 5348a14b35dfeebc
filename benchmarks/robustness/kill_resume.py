"""kill -9 a pretraining at random moments, resume it each time, and compare its end with an uninterrupted run.

    python benchmarks/robustness/kill_resume.py [--kills 20] [--epochs 30] [--seed 0] [--out runs/kill-resume]

Both runs use the tiny deterministic setting below on a small synthetic dataset, through the installed ``skelemix``
executable. After each kill the next process continues with ``--resume`` from the newest complete checkpoint (a
kill before the first one starts the run again); each process is killed after a random time between 0.5 s and an
eighth of the uninterrupted run's, so kills land in starts, epochs and checkpoint writes alike and the run still
advances between them. The run is complete when ``pretrain_summary.yaml`` exists; then
every tensor of its final checkpoint (weights, BatchNorm statistics, queue and pointer, optimizer state) must equal
the uninterrupted run's. Prints one line per kill and the verdict; exits 1 on a difference.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

SETTINGS = ["encoder.hidden_channels=8", "method.queue_size=64", "method.mix.min_frames=1", "method.mix.max_frames=2",
            "train.batch_size=16", "train.knn_every=0", "train.precision=32", "train.deterministic=true"]


def tensors(state, prefix=""):
    """Every tensor of a checkpoint, by its path in the nested containers."""
    if torch.is_tensor(state):
        yield prefix, state
    elif isinstance(state, dict):
        for key, value in state.items():
            yield from tensors(value, f"{prefix}/{key}")
    elif isinstance(state, (list, tuple)):
        for i, value in enumerate(state):
            yield from tensors(value, f"{prefix}/{i}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/kill-resume"))
    args = parser.parse_args()
    skelemix = shutil.which("skelemix") or sys.exit("install skelemix first (the skelemix executable is not on PATH)")
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    data = args.out / "data"
    subprocess.run([skelemix, "prepare", "synthetic", str(data), "--performers", "4", "--repetitions", "4",
                    "--frames", "32"], check=True, env=env, capture_output=True)
    command = [skelemix, "pretrain", "synthetic", "skelemixclr", f"data.path={data.resolve()}", *SETTINGS,
               f"train.epochs={args.epochs}", "--no-progress", "--run-dir"]

    started = time.monotonic()
    subprocess.run(command + [str(args.out / "alone")], check=True, env=env, capture_output=True)
    duration = time.monotonic() - started
    print(f"uninterrupted run: {duration:.1f} s")

    run, rng, kills = args.out / "killed", random.Random(args.seed), 0
    while not (run / "pretrain_summary.yaml").is_file():
        resume = (run / "checkpoints" / "last.ckpt").is_file()
        process = subprocess.Popen([skelemix, "pretrain", "--resume", str(run), "--no-progress"] if resume
                                   else command + [str(run)], env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        if kills < args.kills:
            try:
                process.wait(timeout=rng.uniform(0.5, duration / 8))
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills += 1
                done = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] \
                    if (run / "checkpoints" / "last.ckpt").is_file() else 0
                print(f"kill {kills}: after {done} finished epochs")
                continue
        if process.wait() != 0:
            print(f"a {'resumed' if resume else 'new'} run failed: {process.stderr.read().strip()}")
            return 1
    alone = dict(tensors(torch.load(args.out / "alone" / "checkpoints" / "last.ckpt", weights_only=True)))
    killed = dict(tensors(torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)))
    differ = [k for k in alone if k not in killed or not torch.equal(alone[k], killed[k])]
    print(f"{kills} kills; {len(alone)} tensors of the final checkpoint, {len(differ)} differ from the "
          f"uninterrupted run's" + (f" (first: {differ[0]})" if differ else ""))
    return 1 if differ or set(killed) != set(alone) else 0


if __name__ == "__main__":
    sys.exit(main())
