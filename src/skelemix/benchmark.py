"""Throughput of full pretraining steps, measured against the machine's own float32 matmul speed.

A step is what training does per batch: two augmented views, SkeleMix, the encoder passes, the losses,
backward, the SGD update and the queue update. Data are random tensors of the requested shape held in
memory (the cost of a step does not depend on the values). The FLOP count of one step comes from
``torch.utils.flop_counter``; efficiency = achieved GFLOP/s / float32 matmul GFLOP/s measured in the same run,
a ratio that stays meaningful on any CPU.

Example:
    >>> result = benchmark_pretrain("skelemixclr+", batch_size=16, frames=32, steps=2)   # doctest: +SKIP
    >>> result["samples_per_s"]["median"]                                                # doctest: +SKIP
"""

from __future__ import annotations

import resource
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import load_config
from .layouts import get_layout
from .methods import METHODS
from .runtime import autocast, cpu_flags, cpu_model, resolve_precision

METHOD_CONFIGS = {"skeletonclr": "skeletonclr", "skelemixclr": "skelemixclr", "skelemixclr+": "skelemixclr_plus"}


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """The best of ``repeats`` float32 (size x size) matmuls, in GFLOP/s."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def benchmark_pretrain(method: str = "skelemixclr+", batch_size: int = 128, frames: int = 64, persons: int = 2,
                       precision: str = "32", steps: int = 5, warmup: int = 1, queue_size: int = 32768,
                       layout: str = "ntu25") -> dict:
    """Time ``steps`` training steps after ``warmup`` untimed ones; returns the figures as a dict."""
    if method not in METHOD_CONFIGS:
        raise ValueError(f"method must be one of {', '.join(METHOD_CONFIGS)}, got {method!r}")
    if steps < 1 or warmup < 0:
        raise ValueError("need steps >= 1 and warmup >= 0")
    config = load_config([METHOD_CONFIGS[method]], [f"method.queue_size={queue_size}", f"train.precision={precision}"])
    lightning_precision = resolve_precision(precision, "cpu")
    skeleton = get_layout(layout)
    torch.manual_seed(0)
    model = METHODS[config.method.name](config, skeleton).train()
    optimizer = model.configure_optimizers()["optimizer"]
    x = torch.randn(batch_size, 3, frames, skeleton.num_joints, persons)

    def step() -> None:
        with autocast("cpu", lightning_precision):
            loss, _, keys = model.contrastive_losses(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        model.queue.enqueue(keys)

    for _ in range(warmup):
        step()
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    with FlopCounterMode(display=False) as counter:
        step()
    gflop = counter.get_total_flops() / 1e9
    rates = [batch_size / s for s in seconds]
    median_s = statistics.median(seconds)
    peak = matmul_gflops()
    flags = cpu_flags()
    return {
        "method": method, "batch_size": batch_size, "frames": frames, "persons": persons, "queue_size": queue_size,
        "precision": lightning_precision, "steps": steps, "threads": torch.get_num_threads(),
        "samples_per_s": {"median": round(statistics.median(rates), 3), "min": round(min(rates), 3),
                          "max": round(max(rates), 3)},
        "seconds_per_step": round(median_s, 3),
        "gflop_per_step": round(gflop, 1), "achieved_gflops": round(gflop / median_s, 1),
        "matmul_fp32_gflops": round(peak, 1), "efficiency": round(gflop / median_s / peak, 3),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
        "cpu": cpu_model(), "cpu_flags": sorted(f for f in flags if f.startswith(("avx", "amx", "fma")))[:20],
        "torch": str(torch.__version__),
    }
