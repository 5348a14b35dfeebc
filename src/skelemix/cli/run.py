"""``skelemix config``, ``pretrain``, ``demo`` and ``benchmark``: configs, pretraining runs and their cost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..allocator import tune_allocator
from .options import JsonOpt, Workers, int_list

benchmark_app = typer.Typer(help="Measure speed and memory (figures as ratios to this machine's own matmul speed).",
                            no_args_is_help=True)
ConfigArgs = Annotated[Optional[list[str]], typer.Argument(
    help="Built-in config names or YAML paths, composed in order, then key.sub=value overrides.", show_default=False)]


def config(configs: ConfigArgs = None):
    """Print the resolved config of CONFIGS and overrides (no arguments: the defaults and the built-in names)."""
    import yaml

    from ..config import CONFIG_DIR, load_config, split_arguments

    typer.echo(yaml.safe_dump(load_config(*split_arguments(configs or [])).to_dict(), sort_keys=False).rstrip())
    if not configs:
        typer.echo("# built-in configs: " + " ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))))


def pretrain(
    configs: ConfigArgs = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Run directory [default: runs/<configs>-<time>].")] = None,
    resume: Annotated[Optional[Path], typer.Option(
        help="Continue the run in this directory from its newest readable checkpoint, with its own config "
             "(CONFIGS may then only be key=value overrides, e.g. train.epochs=400).")] = None,
    devices: Annotated[Optional[int], typer.Option(help="Devices per node (train.devices).")] = None,
    num_nodes: Annotated[Optional[int], typer.Option(help="Machines (train.num_nodes).")] = None,
    strategy: Annotated[Optional[str], typer.Option(help="auto | ddp | ddp_spawn (train.strategy).")] = None,
    precision: Annotated[Optional[str], typer.Option(
        help="auto | 32 | bf16 (train.precision; auto: bf16 only where the hardware runs it fast).")] = None,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
    seeds: Annotated[Optional[str], typer.Option(
        help="Comma-separated seeds: one run each, in RUN_DIR/seed-S (finished ones are kept, stopped ones resumed); "
             "compare them with `skelemix report RUN_DIR/seed-* --group`.")] = None,
):
    """Pretrain an encoder with SkeletonCLR, SkeleMixCLR or SkeleMixCLR+ on a prepared dataset.

    Example: skelemix pretrain nw_ucla_xview skelemixclr train.epochs=10
    """
    tune_allocator()  # before torch loads: see allocator.py
    from ..config import ConfigError
    from ..training import pretrain as pretrain_run, pretrain_seeds, resolve_run

    options = {"devices": devices, "num_nodes": num_nodes, "strategy": strategy, "precision": precision}
    arguments = [*(configs or []), *(f"train.{k}={v}" for k, v in options.items() if v is not None)]
    config, run_dir = resolve_run(arguments, run_dir, resume)
    if seeds is not None and resume is not None:
        raise ConfigError("--seeds resumes the stopped seeds itself: give --run-dir, not --resume")
    try:
        if seeds is not None:
            runs = pretrain_seeds(config, run_dir, int_list(seeds), progress=progress)
            typer.echo(f"pretrained {config.method.name} (R={config.method.mix.repeats}) with seeds {seeds}: "
                       f"{', '.join(map(str, runs))}")
            return
        out = pretrain_run(config, run_dir, progress=progress, resume=resume is not None)
    except KeyboardInterrupt as interrupt:  # Typer would swallow the message: where the checkpoint is, how to go on
        typer.echo(f"skelemix: {interrupt}", err=True)
        raise typer.Exit(130) from None
    from lightning.pytorch.utilities import rank_zero_only

    rank_zero_only(typer.echo)(f"pretrained {config.method.name} (R={config.method.mix.repeats}); run directory: {out}")


def demo(out_dir: Annotated[Path, typer.Option(help="Where the data, run and results go.")] = Path("skelemix-demo"),
         epochs: Annotated[Optional[int], typer.Option(min=1, help="Pretraining epochs [default: the demo config's].")
                           ] = None):
    """Generate synthetic data, pretrain SkeleMixCLR briefly, compare kNN and linear with a random encoder."""
    tune_allocator()
    from ..demo import run_demo

    run_demo(out_dir, epochs=epochs, echo=typer.echo)


BatchOpt = Annotated[int, typer.Option(help="Samples per step.")]
FramesOpt = Annotated[int, typer.Option(help="Frames per sequence.")]
PersonsOpt = Annotated[int, typer.Option(help="Persons per sequence.")]
PrecisionOpt = Annotated[str, typer.Option(help="32 | bf16 | auto.")]
StepsOpt = Annotated[int, typer.Option(help="Timed steps, after one untimed warm-up step.")]
BreakdownOpt = Annotated[bool, typer.Option(help="Also profile one step: time (and GFLOP/s) per kind of operation.")]
KernelsOpt = Annotated[str, typer.Option(help="The encoder's kernels: fast (skelemix.ops) or reference (standard "
                                              "modules), encoder.kernels.")]
RecomputeOpt = Annotated[bool, typer.Option(help="Recompute activations in backward instead of keeping them (fast "
                                                 "kernels), encoder.recompute.")]


def _show(result: dict, as_json: bool) -> None:
    from ..benchmark import describe

    typer.echo(json.dumps(result, indent=2) if as_json else describe(result))


@benchmark_app.command("pretrain")
def benchmark_pretrain(
    method: Annotated[str, typer.Option(help="skeletonclr | skelemixclr | skelemixclr+.")] = "skelemixclr+",
    batch_size: BatchOpt = 128, frames: FramesOpt = 64, persons: PersonsOpt = 2, precision: PrecisionOpt = "32",
    steps: StepsOpt = 3, queue_size: Annotated[int, typer.Option(help="Queue length K.")] = 32768,
    breakdown: BreakdownOpt = False, kernels: KernelsOpt = "fast", recompute: RecomputeOpt = True,
    as_json: JsonOpt = False,
):
    """Time full SkeletonCLR / SkeleMixCLR(+) training steps on in-memory data of the given shape."""
    tune_allocator()
    from ..benchmark import benchmark_pretrain as measure

    _show(measure(method, batch_size, frames, persons, precision, steps, queue_size=queue_size, breakdown=breakdown,
                  kernels=kernels, recompute=recompute), as_json)


@benchmark_app.command("encoder")
def benchmark_encoder(
    backward: Annotated[bool, typer.Option(help="Forward and backward (--no-backward: forward alone).")] = True,
    batch_size: BatchOpt = 128, frames: FramesOpt = 64, persons: PersonsOpt = 2, precision: PrecisionOpt = "32",
    steps: StepsOpt = 3, breakdown: BreakdownOpt = False, kernels: KernelsOpt = "fast", recompute: RecomputeOpt = True,
    as_json: JsonOpt = False,
):
    """Time the quarter-width ST-GCN encoder alone, forward or forward + backward."""
    tune_allocator()
    from ..benchmark import benchmark_encoder as measure

    _show(measure(backward, batch_size, frames, persons, precision, steps, breakdown=breakdown, kernels=kernels,
                  recompute=recompute), as_json)


@benchmark_app.command("inference")
def benchmark_inference(
    configs: Annotated[str, typer.Option(help="Comma-separated configs of the network.")] = "demo,skelemixclr",
    layout: Annotated[str, typer.Option(help="Skeleton layout.")] = "ntu25", frames: FramesOpt = 64,
    persons: PersonsOpt = 2, batch_sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes.")] = "1,32",
    repeats: Annotated[int, typer.Option(min=1, help="Timed calls per engine and batch size.")] = 30,
    as_json: JsonOpt = False,
):
    """Clips/s and latency (median, p95) of a classifier on PyTorch float32, bf16 (where fast) and onnxruntime."""
    tune_allocator()
    from ..benchmark import benchmark_inference as measure

    _show(measure(tuple(configs.split(",")), layout, frames=frames, persons=persons,
                  batch_sizes=tuple(int_list(batch_sizes) or (1,)), repeats=repeats), as_json)


@benchmark_app.command("stream")
def benchmark_stream(
    recording: Annotated[Optional[Path], typer.Option(help="A recorded clip to stream [default: 30 s of synthetic "
                                                           "Kinect v2 frames].")] = None,
    configs: Annotated[str, typer.Option(help="Comma-separated configs of the network.")] = "demo,skelemixclr",
    window: Annotated[int, typer.Option(min=1, help="Frames per window.")] = 64,
    hop: Annotated[int, typer.Option(min=1, help="Frames between predictions.")] = 8,
    engine: Annotated[str, typer.Option(help="onnxruntime | pytorch.")] = "onnxruntime", as_json: JsonOpt = False,
):
    """Frames/s sustained and latency per hop of `predict --stream` on a recording fed as fast as it is read."""
    tune_allocator()
    from ..benchmark import benchmark_stream as measure

    _show(measure(recording, tuple(configs.split(",")), window, hop, engine), as_json)


@benchmark_app.command("prepare")
def benchmark_prepare(
    files: Annotated[str, typer.Option(help="Comma-separated numbers of synthetic NTU files to prepare.")] = "1000,4000",
    workers: Workers = None, as_json: JsonOpt = False,
):
    """Time `prepare ntu60` on synthetic NTU-format files: files/s, peak memory, projected NTU-120 time."""
    from ..benchmark import benchmark_prepare as measure

    _show(measure(tuple(int_list(files) or ()), workers), as_json)
