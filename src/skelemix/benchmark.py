"""Throughput of full pretraining steps (against the machine's own float32 matmul speed) and of preparation.

A step is what training does per batch: two augmented views, SkeleMix, the encoder passes, the losses,
backward, the SGD update and the queue update. Data are random tensors of the requested shape held in
memory (the cost of a step does not depend on the values). The FLOP count of one step comes from
``torch.utils.flop_counter``, less the forward work the encoder computes again in backward (work the mathematics
does not need: each graph convolution's aggregation and, with ``encoder.recompute``, the residual 1x1
convolutions, as each unit's ``flops`` reports them); efficiency = achieved GFLOP/s / float32 matmul GFLOP/s
measured in the same run, a ratio that stays meaningful on any CPU.

The preparation benchmark writes NTU-format text files of synthetic motions (sized like real NTU files:
70-150 frames, one person in four of five files, two in the rest) and runs ``prepare ntu60`` on growing
numbers of them, each in a fresh process, reporting files/s and the peak resident memory of the main
process and of the largest reader worker.

Example:
    >>> result = benchmark_pretrain("skelemixclr+", batch_size=16, frames=32, steps=2)   # doctest: +SKIP
    >>> result["samples_per_s"]["median"]                                                # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import torch
from torch.utils.flop_counter import FlopCounterMode

from .allocator import allocator_in_use
from .config import load_config
from .layouts import get_layout
from .methods import METHODS
from .models import STGCN
from .models.stgcn import GraphConvolution, RecomputedTemporalConvolution, ResidualProjection, TemporalConvolution
from .runtime import autocast, cpu_flags, cpu_model, resolve_precision

# torch's FLOP table (2.13) lacks the in-place products the graph convolution accumulates with; shapes in
IN_PLACE_PRODUCTS = {
    torch.ops.aten.baddbmm_: lambda _, batch1, batch2, **__: 2 * batch1[0] * batch1[1] * batch1[2] * batch2[2],
    torch.ops.aten.addmm_: lambda _, matrix1, matrix2, **__: 2 * matrix1[0] * matrix1[1] * matrix2[1],
}
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


# What an operation of a step belongs to, told from the outermost profiler event above it (the op itself, the module
# call or the autograd node of its backward) or, inside a function that fuses several kinds (ops.recompute), below
# it: first match wins
CATEGORIES = (
    ("graph convolution", ("_AggregateThenMix", "einsum", "Einsum")),
    ("temporal convolution", ("conv2d", "Convolution", "convolution_backward")),
    ("1x1 residual convolution", ("baddbmm", "Baddbmm")),
    ("BatchNorm", ("batch_norm", "BatchNorm", "addcmul")),
    ("loss and queue", ("skelemix::info_nce", "MmBackward", "LogSoftmax", "NllLoss", "MaskedFill")),
    ("optimizer and momentum step", ("Optimizer.step", "_foreach", "lerp")),
    ("ReLU, dropout, residual add", ("relu", "Relu", "threshold", "mul", "Mul", "random_", "aten::ge", "add_")),
)
FUSED = ("_BatchNormReLUConv", "_PointwiseConvBatchNorm")
OTHER = "other (augmentation, SkeleMix, pooling, head, copies)"


def category(root_event: str) -> str:
    return next((name for name, marks in CATEGORIES if any(mark in root_event for mark in marks)), OTHER)


def operation_breakdown(step, flops_by_category: dict[str, int]) -> list[dict]:
    """Self CPU time of one call of ``step`` per category of operation (``CATEGORIES``), with the GFLOP it executes
    and GFLOP/s for the encoder's convolutions; sorted by time. The categories are those of the fast kernels: with
    the reference kernels the graph convolution is a Conv2d too, and its backward cannot be told from the temporal
    convolution's."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        step()
    seconds: dict[str, float] = {}
    for event in profile.events():
        root = event
        while root.cpu_parent is not None and not any(name in root.cpu_parent.name for name in FUSED):
            root = root.cpu_parent
        seconds[category(root.name)] = seconds.get(category(root.name), 0.0) + event.self_cpu_time_total / 1e6
    total = sum(seconds.values())
    rows = []
    for name, time_s in sorted(seconds.items(), key=lambda item: -item[1]):
        gflop = flops_by_category[name] / 1e9 if name in flops_by_category else None
        rows.append({"category": name, "ms": round(1000 * time_s, 1), "share": round(time_s / total, 3),
                     "gflop": None if gflop is None else round(gflop, 2),
                     "gflops": None if gflop is None else round(gflop / time_s, 1)})
    return rows


def count_gflop(step, model: torch.nn.Module) -> tuple[float, dict[str, int]]:
    """The FLOPs one call of ``step`` needs, in GFLOP: those it executes, less the forward work that ``model``'s
    encoder repeats in backward; and the FLOPs the encoder's convolutions execute, by category (each unit's
    ``flops``)."""
    repeated, by_category = 0, {}

    def count(module, inputs, output):
        nonlocal repeated
        executed, again = module.flops(*inputs, output, torch.is_grad_enabled())
        for name, flops in executed.items():
            by_category[name] = by_category.get(name, 0) + flops
        repeated += again

    units = (GraphConvolution, TemporalConvolution, ResidualProjection)
    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, units)]
    try:
        with FlopCounterMode(display=False, custom_mapping=IN_PLACE_PRODUCTS) as counter:
            step()
    finally:
        for hook in hooks:
            hook.remove()
    return (counter.get_total_flops() - repeated) / 1e9, by_category


def measure_steps(step, model: torch.nn.Module, batch_size: int, steps: int, warmup: int, breakdown: bool = False) -> dict:
    """Time ``steps`` calls of ``step`` after ``warmup`` untimed ones, count one call's FLOPs, and relate them
    to this machine's float32 matmul speed; with ``breakdown`` also profile one more call (``operation_breakdown``)."""
    if steps < 1 or warmup < 0:
        raise ValueError("need steps >= 1 and warmup >= 0")
    for _ in range(warmup):
        step()
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # of the steps, before counting adds its own
    gflop, flops_by_category = count_gflop(step, model)
    rates = [batch_size / s for s in seconds]
    median_s = statistics.median(seconds)
    peak = matmul_gflops()
    flags = cpu_flags()
    return {
        "batch_size": batch_size, "steps": steps, "threads": torch.get_num_threads(),
        "recompute": any(isinstance(m, RecomputedTemporalConvolution) for m in model.modules()),  # as the blocks run
        "samples_per_s": {"median": round(statistics.median(rates), 3), "min": round(min(rates), 3),
                          "max": round(max(rates), 3)},
        "seconds_per_step": round(median_s, 3),
        "gflop_per_step": round(gflop, 3), "achieved_gflops": round(gflop / median_s, 1),
        "matmul_fp32_gflops": round(peak, 1), "efficiency": round(gflop / median_s / peak, 3),
        "peak_rss_gb": round(peak_rss / 1024**2, 2),
        "cpu": cpu_model(), "cpu_flags": sorted(f for f in flags if f.startswith(("avx", "amx", "fma")))[:20],
        "torch": str(torch.__version__), "allocator": allocator_in_use(),
        **({"breakdown": operation_breakdown(step, flops_by_category)} if breakdown else {}),
    }


def benchmark_inference(config_names: tuple[str, ...] = ("demo", "skelemixclr"), layout: str = "ntu25",
                        num_classes: int = 12, frames: int = 64, persons: int = 2,
                        batch_sizes: tuple[int, ...] = (1, 32), repeats: int = 30) -> dict:
    """Clips/s and latency per call (median, p95) of a classifier (encoder, head, softmax) of the configured network,
    randomly initialised (timing does not depend on the weights): PyTorch float32, PyTorch bf16 where the hardware
    runs it fast, and onnxruntime (if installed) on the same model exported; each at every batch size."""
    from .evaluation.classifier import Classifier
    from .evaluation.features import random_init
    from .onnx_model import OnnxModel, Probabilities, write_onnx
    from .runtime import bf16_is_fast

    config = load_config(list(config_names))
    skeleton = get_layout(layout)
    torch.manual_seed(0)
    probabilities = Probabilities(Classifier(random_init(config, layout).encoder, skeleton, config.data.stream,
                                             num_classes)).eval()
    engines = {"pytorch float32": probabilities}
    if bf16_is_fast("cpu"):
        def bf16(x):
            with autocast("cpu", "bf16-mixed"):
                return probabilities(x)
        engines["pytorch bf16"] = bf16
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            write_onnx(probabilities, torch.zeros(1, 3, frames, skeleton.num_joints, persons), path,
                       {"kind": "classifier"})
            engines["onnxruntime"] = OnnxModel(path, threads=torch.get_num_threads())
    except ImportError:  # the [onnx] extra is not installed
        pass
    rows = []
    for (engine, run), batch in itertools.product(engines.items(), batch_sizes):
        x = torch.randn(batch, 3, frames, skeleton.num_joints, persons)
        times = []
        with torch.inference_mode():
            for i in range(repeats + 2):  # two untimed calls first
                started = time.perf_counter()
                run(x)
                if i >= 2:
                    times.append(time.perf_counter() - started)
        times.sort()
        rows.append({"engine": engine, "batch": batch, "clips_per_s": batch / statistics.median(times),
                     "latency_ms_median": 1000 * statistics.median(times),
                     "latency_ms_p95": 1000 * times[min(len(times) - 1, int(0.95 * len(times)))]})
    return {"inference": rows, "configs": list(config_names), "layout": layout, "frames": frames, "persons": persons,
            "threads": torch.get_num_threads(), "cpu": cpu_model(), "repeats": repeats}


def synthetic_kinect_lines(seconds: float = 30.0, fps: float = 30.0, seed: int = 0) -> list[str]:
    """Kinect v2 CSV lines (timestamp, 25 x (x, y, z, tracked)) of synthetic actions performed one after another."""
    from .data.synthetic import ACTIONS, draw_performer, synthesize

    rng = np.random.default_rng(seed)
    performer, sequences = draw_performer(rng, 0), []
    while sum(len(s) for s in sequences) < seconds * fps:
        sequences.append(synthesize(int(rng.integers(len(ACTIONS))), performer, rng)[0][0])  # (T, 25, 3)
    frames = np.concatenate(sequences)[:int(seconds * fps)]
    tracked = np.full(frames.shape[:2] + (1,), 2.0)
    return [f"{round(t * 1e7 / fps)}," + ",".join(f"{v:.5f}" for v in np.concatenate([frame, tracked[t]], 1).ravel())
            for t, frame in enumerate(frames)]


def benchmark_stream(recording: Path | None = None, config_names: tuple[str, ...] = ("demo", "skelemixclr"),
                     window: int = 64, hop: int = 8, engine: str = "onnxruntime") -> dict:
    """Live recognition as fast as the machine goes: the lines of ``recording`` (default: 30 s of synthetic Kinect v2
    frames) through ``stream.stream_predictions`` with a classifier of the configured network (random weights,
    exported to ONNX for ``engine="onnxruntime"``, loaded once). Frames per second sustained (every line parsed and
    tracked, a window classified every ``hop`` frames) and the latency per hop (median, p95)."""
    from .data.live import frame_lines
    from .data.preprocess import Preprocessing
    from .evaluation.classifier import Classifier, save_classifier
    from .evaluation.features import random_init
    from .inference import load_predictor
    from .stream import stream_predictions

    if engine not in ("onnxruntime", "pytorch"):
        raise ValueError(f"engine must be onnxruntime or pytorch, got {engine!r}")
    config = load_config(list(config_names))
    lines = list(frame_lines(recording)) if recording else synthetic_kinect_lines()
    torch.manual_seed(0)
    classifier = Classifier(random_init(config, "ntu25").encoder, get_layout("ntu25"), config.data.stream, 12)
    with tempfile.TemporaryDirectory() as folder:
        model = save_classifier(Path(folder) / "classifier.pt", classifier, "linear", config,
                                [f"class {i}" for i in range(12)], Preprocessing(frames=64, persons=2).to_dict())
        if engine == "onnxruntime":
            from .onnx_model import export_onnx

            export_onnx(model, Path(folder) / "classifier.onnx")
            model = Path(folder) / "classifier.onnx"
        predictor = load_predictor(model)
        list(stream_predictions(predictor, lines[:window], window, hop))  # warm-up: the engine's first call sets it up
        started = time.perf_counter()
        latencies = [hop_result["latency_ms"] for hop_result in stream_predictions(predictor, lines, window, hop)]
        seconds = time.perf_counter() - started
    latencies.sort()
    return {"stream": {"engine": engine, "frames": len(lines), "hops": len(latencies), "frames_per_s": len(lines) / seconds,
                       "latency_ms_median": statistics.median(latencies),
                       "latency_ms_p95": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]},
            "recording": str(recording) if recording else "synthetic Kinect v2, 30 s at 30 fps", "window": window,
            "hop": hop, "configs": list(config_names), "threads": torch.get_num_threads(), "cpu": cpu_model()}


def describe(result: dict) -> str:
    """A benchmark result as the lines ``skelemix benchmark`` prints."""
    if "stream" in result:
        row = result["stream"]
        return (f"live recognition of {result['recording']} ({row['frames']} frames), window {result['window']}, hop "
                f"{result['hop']}, {' + '.join(result['configs'])} on {row['engine']}, {result['threads']} threads on "
                f"{result['cpu']}\n  {row['frames_per_s']:8.1f} frames/s sustained, {row['hops']} hops, latency per hop "
                f"{row['latency_ms_median']:.1f} ms median, {row['latency_ms_p95']:.1f} ms p95")
    if "inference" in result:
        lines = [f"classifier of {' + '.join(result['configs'])} on {result['layout']}, {result['frames']} frames x "
                 f"{result['persons']} persons, {result['threads']} threads on {result['cpu']}, {result['repeats']} "
                 f"calls each"]
        lines += [f"  {row['engine']:<16} batch {row['batch']:>3}: {row['clips_per_s']:8.1f} clips/s, latency "
                  f"{row['latency_ms_median']:7.1f} ms median, {row['latency_ms_p95']:7.1f} ms p95"
                  for row in result["inference"]]
        return "\n".join(lines)
    if "runs" in result:  # preparation
        lines = [f"prepare ntu60 with {result['workers']} workers on {result['cpu']} ({result['cores']} cores)"]
        lines += [f"  {run['files']:>7} files ({run['megabytes']:.0f} MB): {run['seconds']:.1f} s, "
                  f"{run['files_per_s']:.0f} files/s, peak RSS main {run['main_rss_gb']:.2f} GB, "
                  f"largest worker {run['worker_rss_gb']:.2f} GB" for run in result["runs"]]
        lines.append(f"  NTU-120 ({NTU120_FILES:,} files) projected: {result['ntu120_projected_minutes']:.0f} min, "
                     f"{result['ntu120_prepared_gb']:.1f} GB on disk")
        return "\n".join(lines)
    rate = result["samples_per_s"]
    what = result["method"] if "method" in result else f"ST-GCN {result['pass']}"
    return "\n".join([
        f"{what}: batch {result['batch_size']} x {result['frames']} frames x {result['persons']} persons, "
        f"{result['precision']}, {result['kernels']} kernels{' recomputing' if result['recompute'] else ''}, "
        f"{result['threads']} threads on {result['cpu']}",
        f"  {rate['median']:.2f} samples/s (min {rate['min']:.2f}, max {rate['max']:.2f}), "
        f"{result['seconds_per_step']:.2f} s/step, peak RSS {result['peak_rss_gb']:.2f} GB ({result['allocator']})",
        f"  {result['gflop_per_step']:.0f} GFLOP/step -> {result['achieved_gflops']:.1f} GFLOP/s; fp32 matmul "
        f"{result['matmul_fp32_gflops']:.1f} GFLOP/s; efficiency {result['efficiency']:.2f}",
        *(f"  {row['share']:6.1%} {row['ms']:9.1f} ms  {row['category']}"
          + (f"  ({row['gflop']:.1f} GFLOP, {row['gflops']:.1f} GFLOP/s)" if row["gflop"] is not None else "")
          for row in result.get("breakdown", []))])


def benchmark_pretrain(method: str = "skelemixclr+", batch_size: int = 128, frames: int = 64, persons: int = 2,
                       precision: str = "32", steps: int = 5, warmup: int = 1, queue_size: int = 32768,
                       layout: str = "ntu25", breakdown: bool = False, kernels: str = "fast",
                       recompute: bool = True) -> dict:
    """Time ``steps`` training steps after ``warmup`` untimed ones; returns the figures as a dict (with
    ``breakdown``, also where one step's time goes; ``kernels`` and ``recompute``: the encoder's settings)."""
    if method not in METHOD_CONFIGS:
        raise ValueError(f"method must be one of {', '.join(METHOD_CONFIGS)}, got {method!r}")
    if breakdown and kernels != "fast":
        raise ValueError("the breakdown tells operations apart for the fast kernels only")
    config = load_config([METHOD_CONFIGS[method]], [f"method.queue_size={queue_size}", f"train.precision={precision}",
                                                    f"encoder.kernels={kernels}", f"encoder.recompute={recompute}"])
    lightning_precision = resolve_precision(precision, "cpu")
    skeleton = get_layout(layout)
    torch.manual_seed(0)
    model = METHODS[config.method.name](config, skeleton).train()
    optimizer = model.configure_optimizers()["optimizer"]
    x = torch.randn(batch_size, 3, frames, skeleton.num_joints, persons)

    def step() -> None:  # the module's own training step, with torch's backward for Lightning's
        with autocast("cpu", lightning_precision):
            model.optimization_step(x, None, optimizer, lambda term, last: term.backward())

    return {"method": method, "frames": frames, "persons": persons, "queue_size": queue_size, "kernels": kernels,
            "precision": lightning_precision, **measure_steps(step, model, batch_size, steps, warmup, breakdown)}


def benchmark_encoder(backward: bool = True, batch_size: int = 128, frames: int = 64, persons: int = 2,
                      precision: str = "32", steps: int = 5, warmup: int = 1, layout: str = "ntu25",
                      breakdown: bool = False, kernels: str = "fast", recompute: bool = True) -> dict:
    """Time the paper's quarter-width ST-GCN alone: forward (no graph kept) or forward + backward."""
    if breakdown and kernels != "fast":
        raise ValueError("the breakdown tells operations apart for the fast kernels only")
    config = load_config([], [f"train.precision={precision}", f"encoder.kernels={kernels}",
                              f"encoder.recompute={recompute}"])
    lightning_precision = resolve_precision(precision, "cpu")
    skeleton = get_layout(layout)
    torch.manual_seed(0)
    encoder = STGCN.from_config(skeleton, config.encoder).train()
    x = torch.randn(batch_size, 3, frames, skeleton.num_joints, persons)

    def step() -> None:
        with autocast("cpu", lightning_precision), torch.set_grad_enabled(backward):
            features = encoder(x)
        if backward:
            encoder.zero_grad(set_to_none=True)
            features.float().sum().backward()

    return {"pass": "forward+backward" if backward else "forward", "frames": frames, "persons": persons,
            "kernels": kernels, "precision": lightning_precision,
            **measure_steps(step, encoder, batch_size, steps, warmup, breakdown)}


NTU120_FILES = 114_480
# ru_maxrss survives exec, so a child would report this (torch-importing) process's size: on Linux the
# child reads the peak of its own address space (VmHWM) instead
_PREPARE_CHILD = """
import json, re, resource, sys, time
from skelemix.data.ntu import prepare_ntu
start = time.perf_counter()
report = prepare_ntu(sys.argv[1], sys.argv[2], "ntu60", workers=int(sys.argv[3]))
seconds = time.perf_counter() - start
try:
    main_kb = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
except OSError:
    main_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "samples": report.samples, "main_kb": main_kb,
                  "worker_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def _ntu_like_files(count: int, seed: int = 0) -> list[bytes]:
    """``count`` distinct NTU-format texts of synthetic motions."""
    from .data.ntu import write_skeleton_file
    from .data.preprocess import resize_frames
    from .data.synthetic import ACTIONS, draw_performer, synthesize

    rng = np.random.default_rng(seed)
    texts = []
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "sample.skeleton"
        for i in range(count):
            performer = draw_performer(rng, i + 1)
            bodies, _ = synthesize(i % len(ACTIONS), performer, rng)
            bodies = resize_frames(bodies[0], int(rng.integers(70, 151)))[None]
            if i % 5 == 4:
                bodies = np.concatenate([bodies, bodies + [0.8, 0.0, 0.2]])
            write_skeleton_file(path, bodies, rng)
            texts.append(path.read_bytes())
    return texts


def benchmark_prepare(files: tuple[int, ...] = (1000, 4000), workers: int | None = None, distinct: int = 60) -> dict:
    """Time ``prepare ntu60`` on each number of synthetic files; returns the figures as a dict."""
    from .data.format import default_workers

    sizes = sorted(set(files))
    if not sizes or sizes[0] < 1:
        raise ValueError("give at least one positive number of files")
    workers = default_workers() if workers is None else workers
    texts = _ntu_like_files(min(distinct, sizes[-1]))
    names = (f"S{s:03d}C{c:03d}P{p:03d}R{r:03d}A{a:03d}" for s, c, p, r, a in
             itertools.product(range(1, 18), range(1, 4), range(1, 41), range(1, 3), range(1, 61)))
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        every = Path(scratch) / "all"
        every.mkdir()
        paths = []
        for i, name in zip(range(sizes[-1]), names):
            paths.append(every / f"{name}.skeleton")
            paths[-1].write_bytes(texts[i % len(texts)])
        for size in sizes:
            raw = Path(scratch) / f"raw{size}"
            raw.mkdir()
            for path in paths[:size]:
                os.link(path, raw / path.name)
            megabytes = sum(p.stat().st_size for p in paths[:size]) / 1e6
            result = subprocess.run([sys.executable, "-c", _PREPARE_CHILD, str(raw), str(Path(scratch) / f"out{size}"),
                                     str(workers)], capture_output=True, text=True, check=True)
            figures = json.loads(result.stdout.strip().splitlines()[-1])
            runs.append({"files": size, "megabytes": round(megabytes, 1), "seconds": round(figures["seconds"], 2),
                         "files_per_s": round(size / figures["seconds"], 1),
                         "main_rss_gb": round(figures["main_kb"] / 1024**2, 3),
                         "worker_rss_gb": round(figures["worker_kb"] / 1024**2, 3)})
    rate = runs[-1]["files_per_s"]
    return {"workers": workers, "runs": runs, "ntu120_projected_minutes": round(NTU120_FILES / rate / 60, 1),
            "ntu120_prepared_gb": round(NTU120_FILES * 3 * 64 * 25 * 2 * 4 / 1e9, 2), "cpu": cpu_model(),
            "cores": os.cpu_count()}
