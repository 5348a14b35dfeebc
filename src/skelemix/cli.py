"""The ``skelemix`` command line (Typer). Every error the user can cause ends in one line and exit code 1."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
import yaml

app = typer.Typer(help="Self-supervised skeleton action recognition: SkeletonCLR, SkeleMixCLR, SkeleMixCLR+.",
                  no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]})
prepare_app = typer.Typer(help="Convert a dataset into the prepared format.", no_args_is_help=True)
evaluate_app = typer.Typer(help="Evaluate a pretrained encoder with a protocol of the field.", no_args_is_help=True)
benchmark_app = typer.Typer(help="Measure speed and memory (figures as ratios to this machine's own matmul speed).",
                            no_args_is_help=True)
app.add_typer(prepare_app, name="prepare")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(benchmark_app, name="benchmark")

ConfigArgs = Annotated[list[str], typer.Argument(
    help="Built-in config names or YAML paths, composed in order, then key.sub=value overrides.",
    show_default=False)]


def split_config_args(args: list[str]) -> tuple[list[str], list[str]]:
    files = [a for a in args if "=" not in a]
    overrides = [a for a in args if "=" in a]
    return files, overrides


@prepare_app.command("nw-ucla")
def prepare_nw_ucla_command(
    json_dir: Annotated[Path, typer.Argument(help="Directory of aAA_sSS_eEE_vVV.json files (all_sqe).")],
    out_dir: Annotated[Path, typer.Argument(help="Where to write the prepared dataset (must not exist or be empty).")],
    frames: Annotated[int, typer.Option(help="Frames per sequence after resizing.")] = 64,
    centring: Annotated[str, typer.Option(help="frame: centre every frame; first_frame: pyskl style.")] = "frame",
):
    """NW-UCLA (CTR-GCN json release) -> prepared dataset with benchmarks xview and xsub."""
    from .data import PreparedDataset, prepare_nw_ucla

    path = prepare_nw_ucla(json_dir, out_dir, frames=frames, centring=centring)
    prepared = PreparedDataset(path)
    typer.echo(f"wrote {len(prepared)} samples to {path} ({', '.join(_split_counts(prepared))})")


@prepare_app.command("synthetic")
def prepare_synthetic_command(
    out_dir: Annotated[Path, typer.Argument(help="Where to write the prepared dataset.")],
    performers: Annotated[int, typer.Option(help="Number of performers (the first half trains in xsub).")] = 16,
    repetitions: Annotated[int, typer.Option(help="Samples per performer and action.")] = 5,
    frames: Annotated[int, typer.Option(help="Frames per sequence.")] = 64,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
):
    """The built-in synthetic NTU-25 dataset (12 actions), generated from a seed."""
    from .data import PreparedDataset, prepare_synthetic

    path = prepare_synthetic(out_dir, performers=performers, repetitions=repetitions, frames=frames, seed=seed)
    prepared = PreparedDataset(path)
    typer.echo(f"wrote {len(prepared)} samples to {path} ({', '.join(_split_counts(prepared))})")


def _split_counts(prepared) -> list[str]:
    return [f"{name}: {len(s['train'])} train / {len(s['test'])} test" for name, s in prepared.splits.items()]


@app.command("config")
def config_command(configs: ConfigArgs = None):
    """Print the resolved config of CONFIGS and overrides (no arguments: the defaults and the built-in names)."""
    from .config import CONFIG_DIR, load_config

    files, overrides = split_config_args(configs or [])
    typer.echo(yaml.safe_dump(load_config(files, overrides).to_dict(), sort_keys=False).rstrip())
    if not configs:
        typer.echo("# built-in configs: " + " ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))))


@app.command("pretrain")
def pretrain_command(
    configs: ConfigArgs,
    run_dir: Annotated[Optional[Path], typer.Option(help="Run directory [default: runs/<configs>-<time>].")] = None,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
):
    """Pretrain an encoder, e.g. `skelemix pretrain nw_ucla_xview skelemixclr train.epochs=10`."""
    import time

    from .config import load_config
    from .training import pretrain

    files, overrides = split_config_args(configs)
    config = load_config(files, overrides)
    if run_dir is None:
        stem = "-".join(Path(f).stem for f in files) or "default"
        run_dir = Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    out = pretrain(config, run_dir, progress=progress)
    typer.echo(f"pretrained {config.method.name} (R={config.method.mix.repeats}); run directory: {out}")


def _evaluate(protocol: str, source: Path, data: Optional[Path], benchmark: Optional[str], random_init: bool,
              out_dir: Optional[Path], as_json: bool, overrides: dict):
    from .evaluation.protocols import evaluate

    result = evaluate(protocol, source, data_path=str(data) if data else None, benchmark=benchmark,
                      random_weights=random_init, out_dir=out_dir,
                      overrides={k: v for k, v in overrides.items() if v is not None})
    if as_json:
        typer.echo(json.dumps({k: v for k, v in result.items() if k != "test_indices"}, indent=2))
    else:
        typer.echo(f"{protocol} {result['weights']} {result['method']} {result['stream']} on {result['dataset']} "
                   f"{result['benchmark']}: top-1 {result['top1']:.2f}  top-5 {result['top5']:.2f}  -> {result['path']}")


Source = Annotated[Path, typer.Argument(help="A checkpoint file or a run directory (uses checkpoints/last.ckpt).")]
DataOpt = Annotated[Optional[Path], typer.Option(help="Prepared dataset [default: the one pretrained on].")]
BenchOpt = Annotated[Optional[str], typer.Option(help="Benchmark of splits.json [default: the pretraining one].")]
RandomOpt = Annotated[bool, typer.Option("--random-init", help="Evaluate the same network randomly initialised.")]
OutOpt = Annotated[Optional[Path], typer.Option(help="Where to write results [default: RUN_DIR/evaluation].")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@evaluate_app.command("knn")
def knn_command(source: Source, data: DataOpt = None, benchmark: BenchOpt = None, random_init: RandomOpt = False,
                out_dir: OutOpt = None, as_json: JsonOpt = False,
                k: Annotated[Optional[int], typer.Option(help="Neighbours [default: config, 20].")] = None,
                temperature: Annotated[Optional[float], typer.Option(help="Vote temperature [default: 0.1].")] = None):
    """Weighted kNN on clean backbone features (cosine similarity)."""
    _evaluate("knn", source, data, benchmark, random_init, out_dir, as_json,
              {"knn_k": k, "knn_temperature": temperature})


@evaluate_app.command("linear")
def linear_command(source: Source, data: DataOpt = None, benchmark: BenchOpt = None, random_init: RandomOpt = False,
                   out_dir: OutOpt = None, as_json: JsonOpt = False,
                   epochs: Annotated[Optional[int], typer.Option(help="Epochs [default: config, 100].")] = None,
                   lr: Annotated[Optional[float], typer.Option(help="SGD learning rate [default: 3.0].")] = None,
                   batch_size: Annotated[Optional[int], typer.Option(help="Batch size [default: 128].")] = None):
    """Linear classifier on the frozen encoder; reports the final epoch."""
    _evaluate("linear", source, data, benchmark, random_init, out_dir, as_json,
              {"linear_epochs": epochs, "linear_lr": lr, "linear_batch_size": batch_size})


@app.command("demo")
def demo_command(
    out_dir: Annotated[Path, typer.Option(help="Where the data, run and results go.")] = Path("skelemix-demo"),
    epochs: Annotated[Optional[int], typer.Option(help="Pretraining epochs [default: the demo config's].")] = None,
):
    """Generate synthetic data, pretrain SkeleMixCLR briefly, compare kNN and linear with a random encoder."""
    from .demo import run_demo

    run_demo(out_dir, epochs=epochs, echo=typer.echo)


@benchmark_app.command("pretrain")
def benchmark_pretrain_command(
    method: Annotated[str, typer.Option(help="skeletonclr | skelemixclr | skelemixclr+.")] = "skelemixclr+",
    batch_size: Annotated[int, typer.Option(help="Samples per step.")] = 128,
    frames: Annotated[int, typer.Option(help="Frames per sequence.")] = 64,
    persons: Annotated[int, typer.Option(help="Persons per sequence.")] = 2,
    precision: Annotated[str, typer.Option(help="32 | bf16 | auto.")] = "32",
    steps: Annotated[int, typer.Option(help="Timed steps, after one untimed warm-up step.")] = 3,
    queue_size: Annotated[int, typer.Option(help="Queue length K.")] = 32768,
    as_json: JsonOpt = False,
):
    """Time full SkeletonCLR / SkeleMixCLR(+) training steps on in-memory data of the given shape."""
    from .benchmark import benchmark_pretrain

    r = benchmark_pretrain(method, batch_size, frames, persons, precision, steps, queue_size=queue_size)
    if as_json:
        typer.echo(json.dumps(r, indent=2))
        return
    rate = r["samples_per_s"]
    typer.echo(f"{r['method']} batch {r['batch_size']} x {r['frames']} frames x {r['persons']} persons, "
               f"{r['precision']}, {r['threads']} threads on {r['cpu']}")
    typer.echo(f"  {rate['median']:.2f} samples/s (min {rate['min']:.2f}, max {rate['max']:.2f}), "
               f"{r['seconds_per_step']:.2f} s/step, peak RSS {r['peak_rss_gb']:.2f} GB")
    typer.echo(f"  {r['gflop_per_step']:.0f} GFLOP/step -> {r['achieved_gflops']:.1f} GFLOP/s; fp32 matmul "
               f"{r['matmul_fp32_gflops']:.1f} GFLOP/s; efficiency {r['efficiency']:.2f}")


def main() -> None:
    from .config import ConfigError
    from .data.format import DatasetError
    from .evaluation.features import CheckpointError

    try:
        code = app(standalone_mode=False)
    except (ConfigError, DatasetError, CheckpointError, OSError, ValueError, FloatingPointError) as error:
        typer.echo(f"skelemix: error: {error}".replace("\n", " "), err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("skelemix: interrupted", err=True)
        sys.exit(130)
    except Exception as error:  # click's own usage errors
        import click

        if isinstance(error, click.exceptions.ClickException):
            error.show()
            sys.exit(error.exit_code)
        if isinstance(error, click.exceptions.Abort):
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)
