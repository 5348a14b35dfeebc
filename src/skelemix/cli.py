"""The ``skelemix`` command line (Typer). Every error the user can cause ends in one line and exit code 1."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
import yaml

from .allocator import keep_tensors_on_the_heap

app = typer.Typer(help="Self-supervised skeleton action recognition: SkeletonCLR, SkeleMixCLR, SkeleMixCLR+.",
                  no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]})
prepare_app = typer.Typer(help="Convert a dataset into the prepared format.", no_args_is_help=True)
export_app = typer.Typer(help="Write a prepared dataset in another tool's format.", no_args_is_help=True)
evaluate_app = typer.Typer(help="Evaluate a pretrained encoder with a protocol of the field.", no_args_is_help=True)
benchmark_app = typer.Typer(help="Measure speed and memory (figures as ratios to this machine's own matmul speed).",
                            no_args_is_help=True)
app.add_typer(prepare_app, name="prepare")
app.add_typer(export_app, name="export")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(benchmark_app, name="benchmark")
visualize_app = typer.Typer(help="Figures, written as PNG.", no_args_is_help=True)
app.add_typer(visualize_app, name="visualize")

ConfigArgs = Annotated[list[str], typer.Argument(
    help="Built-in config names or YAML paths, composed in order, then key.sub=value overrides.",
    show_default=False)]


def split_config_args(args: list[str]) -> tuple[list[str], list[str]]:
    files = [a for a in args if "=" not in a]
    overrides = [a for a in args if "=" in a]
    return files, overrides


Frames = Annotated[int, typer.Option(help="Frames per sequence after resizing the valid frames.")]
Centring = Annotated[str, typer.Option(help="frame: centre joint of every frame (the paper); first_frame: its "
                                            "first-frame position (pyskl style); none.")]
Rotate = Annotated[bool, typer.Option(help="Turn each sequence about the vertical axis so the shoulders are "
                                           "parallel to x (3D layouts).")]
Persons = Annotated[int, typer.Option(help="Bodies kept per sample (M).")]
Scale = Annotated[str, typer.Option(help="none; minmax: each axis of a sequence to [-1, 1] by its range (the "
                                         "field's NW-UCLA loaders); torso: divided by the median torso length.")]
Workers = Annotated[Optional[int], typer.Option(help="Reader processes [default: one per CPU core; 0: none].")]
Strict = Annotated[bool, typer.Option(help="Fail on the first bad sample instead of skipping and counting it.")]
Progress = Annotated[bool, typer.Option(help="Show a progress bar with the rate.")]
Layout = Annotated[str, typer.Option(help="Skeleton layout (skelemix/layouts.py), e.g. ntu25, kinect_v1, coco17.")]


def _prepare(function, *args, frames: int, centring: str, rotate: bool, persons: int, scale: str,
             workers: Optional[int], strict: bool, progress: bool, rotation: str = "first_frame",
             resize: str = "align_corners", **kwargs) -> None:
    """Run a preparation with the shared options and report what was written and what was skipped."""
    from .data import PreparedDataset
    from .data.format import default_workers
    from .data.preprocess import Preprocessing

    preprocessing = Preprocessing(frames, centring, rotate, persons, scale, rotation, resize)
    report = function(*args, preprocessing=preprocessing, strict=strict,
                      progress=progress, workers=default_workers() if workers is None else workers, **kwargs)
    prepared = PreparedDataset(report.path)
    typer.echo(f"wrote {report.samples} samples to {report.path} ({'; '.join(_split_counts(prepared))})")
    notes = {k: v for k, v in report.info.items() if isinstance(v, int) and v}
    if notes:
        typer.echo("left out: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in notes.items()))
    repairs = {k: v for k, v in report.info.get("source", {}).items() if isinstance(v, int) and v and k != "detections"}
    if repairs:
        typer.echo("repaired: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in repairs.items()))
    if report.skipped:
        for _, problem in report.skipped[:10]:
            typer.echo(f"skipped: {problem}", err=True)
        more = f" ({len(report.skipped) - 10} more not shown)" if len(report.skipped) > 10 else ""
        typer.echo(f"skipped {len(report.skipped)} bad samples{more}; all listed in {report.path / 'skipped.csv'}",
                   err=True)


def _add_ntu_command(version: str, summary: str) -> None:
    def command(
        raw_dir: Annotated[Path, typer.Argument(help="Directory of NTU RGB+D .skeleton files.")],
        out_dir: Annotated[Path, typer.Argument(help="Where to write the prepared dataset (must not exist or be "
                                                     "empty).")],
        exclude: Annotated[Optional[Path], typer.Option(help="Official list of samples with missing skeletons.")] = None,
        frames: Frames = 64, centring: Centring = "frame", rotate: Rotate = True, persons: Persons = 2,
        scale: Scale = "none",
        workers: Workers = None, strict: Strict = False, progress: Progress = True,
        reference_pipeline: Annotated[bool, typer.Option(
            help="The authors' code's preprocessing instead: each body centred on its own spine shoulder in every "
                 "frame, OpenCV-style resizing, every frame turned by its own shoulder angle (overrides --centring "
                 "and --rotate).")] = False,
    ):
        from .data.ntu import prepare_ntu

        pipeline = {"centring": "body", "rotate": True, "rotation": "every_frame", "resize": "half_pixel"} \
            if reference_pipeline else {"centring": centring, "rotate": rotate}
        _prepare(prepare_ntu, raw_dir, out_dir, version, exclude, frames=frames, persons=persons, scale=scale,
                 workers=workers, strict=strict, progress=progress, **pipeline)

    command.__doc__ = summary
    prepare_app.command(version)(command)


_add_ntu_command("ntu60", "NTU RGB+D 60 (actions 1-60, setups 1-17) -> benchmarks xsub and xview.")
_add_ntu_command("ntu120", "NTU RGB+D 120 (both halves in one directory) -> benchmarks xsub and xset.")


PKU_SPLIT_NAMES = {"cross-subject": "xsub", "cross-view": "xview"}


@prepare_app.command("pku-mmd")
def prepare_pku_mmd_command(
    skeleton_dir: Annotated[Path, typer.Argument(help="Directory of PKU-MMD skeleton .txt files.")],
    label_dir: Annotated[Path, typer.Argument(help="Directory of the label .txt files of the same names.")],
    out_dir: Annotated[Path, typer.Argument(help="Where to write the prepared dataset (must not exist or be empty).")],
    part: Annotated[int, typer.Option(help="PKU-MMD part, 1 or 2.")] = 1,
    split_file: Annotated[Optional[list[str]], typer.Option(
        help="A split file of the dataset, as BENCHMARK=PATH or PATH (cross-subject.txt -> xsub, "
             "cross-view.txt -> xview); repeatable.")] = None,
    frames: Frames = 64, centring: Centring = "frame", rotate: Rotate = True, persons: Persons = 2,
    scale: Scale = "none",
    workers: Workers = None, strict: Strict = False, progress: Progress = True,
):
    """PKU-MMD part I or II: one sample per labelled interval (51 actions)."""
    from .data.pku_mmd import prepare_pku_mmd

    splits = {}
    for entry in split_file or []:
        benchmark, _, path = entry.rpartition("=")
        if not benchmark:
            stem = Path(path).stem
            benchmark = PKU_SPLIT_NAMES.get(stem, stem)
        splits[benchmark] = path
    _prepare(prepare_pku_mmd, skeleton_dir, label_dir, out_dir, part, splits, frames=frames, centring=centring,
             rotate=rotate, persons=persons, scale=scale, workers=workers, strict=strict, progress=progress)


@prepare_app.command("pyskl")
def prepare_pyskl_command(
    annotation: Annotated[Path, typer.Argument(help="pyskl / mmaction2 annotation .pkl.")],
    out_dir: Annotated[Path, typer.Argument(help="Where to write the prepared dataset (must not exist or be empty).")],
    layout: Annotated[Optional[str], typer.Option(help="Skeleton layout [default: from the keypoint shape].")] = None,
    frames: Frames = 64, centring: Centring = "frame", rotate: Rotate = True, persons: Persons = 2,
    scale: Scale = "none",
    strict: Strict = False, progress: Progress = True,
):
    """A pyskl annotation pickle (3D NTU or 2D COCO-17), loaded with a restricted unpickler."""
    from .data.pyskl import prepare_pyskl

    _prepare(prepare_pyskl, annotation, out_dir, layout, frames=frames, centring=centring, rotate=rotate,
             persons=persons, scale=scale, workers=0, strict=strict, progress=progress)


@prepare_app.command("crossclr")
def prepare_crossclr_command(
    data: Annotated[Path, typer.Argument(help="(N, 3, T, V, M) .npy, e.g. train_data_joint.npy.")],
    labels: Annotated[Path, typer.Argument(help="(names, labels) .pkl, e.g. train_label.pkl.")],
    out_dir: Annotated[Path, typer.Argument(help="Where to write the prepared dataset (must not exist or be empty).")],
    test_data: Annotated[Optional[Path], typer.Option(help="The test split's .npy (e.g. val_data_joint.npy).")] = None,
    test_labels: Annotated[Optional[Path], typer.Option(help="The test split's .pkl.")] = None,
    benchmark: Annotated[str, typer.Option(help="Name of the benchmark the files are a split of.")] = "xsub",
    layout: Layout = "ntu25",
    frames: Frames = 64, centring: Centring = "frame", rotate: Rotate = True, persons: Persons = 2,
    scale: Scale = "none",
    strict: Strict = False, progress: Progress = True,
):
    """Arrays of the CrosSCLR / AimCLR / SkeleMixCLR code (already preprocessed ones: --centring none --no-rotate)."""
    from .data.arrays import prepare_crossclr

    _prepare(prepare_crossclr, data, labels, out_dir, test_data, test_labels, benchmark, layout, frames=frames,
             centring=centring, rotate=rotate, persons=persons,
             scale=scale, workers=0, strict=strict, progress=progress)


def _int_list(text: Optional[str]) -> Optional[list[int]]:
    try:
        return [int(v) for v in text.split(",")] if text else None
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}") from None


@prepare_app.command("numpy")
def prepare_numpy_command(
    npz: Annotated[Path, typer.Argument(help=".npz with data, labels and optional names, subjects, views, "
                                             "split_<benchmark>.")],
    out_dir: Annotated[Path, typer.Argument(help="Where to write the prepared dataset (must not exist or be empty).")],
    layout: Layout = "ntu25",
    train_subjects: Annotated[Optional[str], typer.Option(help="Comma-separated training subjects -> benchmark "
                                                               "xsub.")] = None,
    train_views: Annotated[Optional[str], typer.Option(help="Comma-separated training views -> benchmark xview.")] = None,
    frames: Frames = 64, centring: Centring = "frame", rotate: Rotate = True, persons: Persons = 2,
    scale: Scale = "none",
    strict: Strict = False, progress: Progress = True,
):
    """Any skeleton arrays in an .npz, for data the other readers do not know."""
    from .data.arrays import prepare_numpy

    _prepare(prepare_numpy, npz, out_dir, layout, _int_list(train_subjects), _int_list(train_views), frames=frames,
             centring=centring, rotate=rotate, persons=persons,
             scale=scale, workers=0, strict=strict, progress=progress)


@prepare_app.command("nw-ucla")
def prepare_nw_ucla_command(
    json_dir: Annotated[Path, typer.Argument(help="Directory of aAA_sSS_eEE_vVV.json files (all_sqe).")],
    out_dir: Annotated[Path, typer.Argument(help="Where to write the prepared dataset (must not exist or be empty).")],
    frames: Frames = 64, centring: Centring = "frame", rotate: Rotate = False, persons: Persons = 1,
    scale: Scale = "none",
    workers: Workers = None, strict: Strict = False, progress: Progress = True,
):
    """NW-UCLA (CTR-GCN json release) -> benchmarks xview and xsub."""
    from .data import prepare_nw_ucla

    _prepare(prepare_nw_ucla, json_dir, out_dir, frames=frames, centring=centring, rotate=rotate, persons=persons,
    scale=scale,
             workers=workers, strict=strict, progress=progress)


ClipSource = Annotated[Path, typer.Argument(help="One clip, or a folder of clips (one sample each).")]
OutDir = Annotated[Path, typer.Argument(help="Where to write the prepared dataset (must not exist or be empty).")]
ClipLabels = Annotated[Optional[Path], typer.Option(help="CSV of clip,action[,split] (clip: folder or file name without "
                                                         "extension): labelled clips, benchmark 'labelled'; without "
                                                         "it all clips, unlabelled, benchmark 'all'.")]
ClipLayout = Annotated[Optional[str], typer.Option(help="Prepared joints: the source's own [default], or coco17 "
                                                        "(mapped), so that one encoder serves several estimators.")]
ClipPersons = Annotated[int, typer.Option(help="People tracked per clip (M).")]
ClipScale = Annotated[str, typer.Option(help="torso: divide by the median torso length (pixels of different cameras "
                                             "comparable); minmax; none.")]


def _prepare_clips(clip_format: str, source: Path, out_dir: Path, labels: Optional[Path], layout: Optional[str],
                   frames: int, persons: int, scale: str, strict: bool, progress: bool, rotate: bool = False,
                   **reader_options) -> None:
    from .data.clips import prepare_clips

    _prepare(prepare_clips, clip_format, source, out_dir, labels=labels, layout=layout, frames=frames,
             centring="frame", rotate=rotate, persons=persons, scale=scale, workers=0, strict=strict,
             progress=progress, reader_options={k: v for k, v in reader_options.items() if v is not None})


@prepare_app.command("openpose")
def prepare_openpose_command(
    source: Annotated[Path, typer.Argument(help="A folder of OpenPose per-frame .json files (one clip), or a folder of "
                                                "such folders (one clip each).")],
    out_dir: OutDir, labels: ClipLabels = None, layout: ClipLayout = None,
    model: Annotated[Optional[str], typer.Option(help="body25 | body25b | coco18 [default: told from the "
                                                      "keypoints].")] = None,
    frames: Frames = 64, persons: ClipPersons = 1, scale: ClipScale = "torso", strict: Strict = False,
    progress: Progress = True,
):
    """OpenPose JSON (BODY_25, BODY_25B, COCO-18): the main person tracked across frames, gaps and unseen joints
    filled in."""
    _prepare_clips("openpose", source, out_dir, labels, layout, frames, persons, scale, strict, progress, model=model)


@prepare_app.command("mediapipe")
def prepare_mediapipe_command(
    source: ClipSource, out_dir: OutDir, labels: ClipLabels = None, layout: ClipLayout = None,
    coordinates: Annotated[str, typer.Option(help="image (x, y, visibility) or world (metres, 3D).")] = "image",
    frames: Frames = 64, persons: ClipPersons = 1, scale: ClipScale = "torso", strict: Strict = False,
    progress: Progress = True,
):
    """MediaPipe BlazePose landmarks: .json lists of 33 [x, y, z(, visibility)] per frame, or landmark .csv files."""
    _prepare_clips("mediapipe", source, out_dir, labels, layout, frames, persons, scale, strict, progress,
                   rotate=coordinates == "world", coordinates=coordinates)


@prepare_app.command("keypoints-json")
def prepare_keypoints_json_command(
    source: ClipSource, out_dir: OutDir, labels: ClipLabels = None, layout: ClipLayout = None,
    frames: Frames = 64, persons: ClipPersons = 1, scale: ClipScale = "torso", strict: Strict = False,
    progress: Progress = True,
):
    """Named keypoints per frame (MoveNet, tfjs pose-detection) or MMPose inferencer output, COCO-17 or
    MediaPipe-33."""
    _prepare_clips("keypoints-json", source, out_dir, labels, layout, frames, persons, scale, strict, progress)


@prepare_app.command("kinect-csv")
def prepare_kinect_csv_command(
    source: ClipSource, out_dir: OutDir, labels: ClipLabels = None,
    frames: Frames = 64, persons: ClipPersons = 1, scale: ClipScale = "none", rotate: Rotate = True,
    strict: Strict = False, progress: Progress = True,
):
    """Kinect v2 body-tracking CSV (timestamp, 25 x (x, y, z, state)): NTU RGB+D joints, so NTU-pretrained encoders
    read it."""
    _prepare_clips("kinect-csv", source, out_dir, labels, None, frames, persons, scale, strict, progress,
                   rotate=rotate)


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

    report = prepare_synthetic(out_dir, performers=performers, repetitions=repetitions, frames=frames, seed=seed)
    prepared = PreparedDataset(report.path)
    typer.echo(f"wrote {len(prepared)} samples to {report.path} ({'; '.join(_split_counts(prepared))})")


def _split_counts(prepared) -> list[str]:
    return [f"{name}: {len(s['train'])} train / {len(s['test'])} test" for name, s in prepared.splits.items()]


@export_app.command("pyskl")
def export_pyskl_command(
    prepared: Annotated[Path, typer.Argument(help="A prepared dataset directory.")],
    out: Annotated[Path, typer.Argument(help="The annotation .pkl to write.")],
):
    """Write a prepared dataset as a pyskl / mmaction2 annotation pickle."""
    from .data.pyskl import export_pyskl

    typer.echo(f"wrote {export_pyskl(prepared, out)}")


@export_app.command("numpy")
def export_numpy_command(
    prepared: Annotated[Path, typer.Argument(help="A prepared dataset directory.")],
    out: Annotated[Path, typer.Argument(help="The .npz to write.")],
):
    """Write a prepared dataset as an .npz (data (N, M, T, V, C), labels, names, subjects, views, splits)."""
    from .data.arrays import export_numpy

    typer.echo(f"wrote {export_numpy(prepared, out)}")


@export_app.command("reference")
def export_reference_command(
    source: Annotated[Path, typer.Argument(help="A pretraining run directory or checkpoint.")],
    out: Annotated[Path, typer.Argument(help="The .pt file to write.")],
):
    """Write a pretrained encoder (query and key sides, heads, queue) as the authors' SkeleMixCLR code saves it."""
    from .interop import export_reference

    typer.echo(f"wrote {export_reference(source, out)}")


@app.command("import")
def import_command(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint of the authors' SkeleMixCLR (or SkeletonCLR "
                                                    "lineage) code.")],
    run_dir: Annotated[Path, typer.Argument(help="The skelemix run directory to write.")],
    layout: Annotated[Optional[str], typer.Option(help="Skeleton layout [default: the one with the file's joint "
                                                       "count].")] = None,
    data: Annotated[Optional[Path], typer.Option(help="The prepared dataset evaluations default to.")] = None,
    benchmark: Annotated[Optional[str], typer.Option(help="Its benchmark, e.g. xsub.")] = None,
):
    """Turn a checkpoint of the authors' code into a run directory that evaluate, embed, predict and visualize read.

    Every tensor is mapped or the file is refused with the missing, unexpected and mis-shaped keys named.
    """
    from .interop import import_reference

    if (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").iterdir()):
        raise FileExistsError(f"{run_dir}: already holds a run; choose another directory")
    overrides = [f"data.{key}={value}" for key, value in (("path", data), ("benchmark", benchmark)) if value]
    typer.echo(f"imported {checkpoint} into {import_reference(checkpoint, run_dir, layout, overrides)}")


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
    configs: Annotated[Optional[list[str]], typer.Argument(
        help="Built-in config names or YAML paths, composed in order, then key.sub=value overrides.",
        show_default=False)] = None,
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
    import time

    from .config import ConfigError, load_config

    files, overrides = split_config_args(configs or [])
    overrides += [f"train.{key}={value}" for key, value in
                  (("devices", devices), ("num_nodes", num_nodes), ("strategy", strategy),
                                           ("precision", precision)) if value is not None]
    if resume is not None:
        if files or run_dir is not None:
            raise ConfigError("--resume continues a run with its own config.yaml: give only key=value overrides")
        if not (resume / "config.yaml").is_file():
            raise ConfigError(f"{resume}: not a skelemix run directory (no config.yaml)")
        config, run_dir = load_config([resume / "config.yaml"], overrides), resume
    else:
        if not files:
            raise ConfigError("give at least one config (e.g. `skelemix pretrain demo`), or --resume RUN_DIR")
        config = load_config(files, overrides)
        if run_dir is None:
            run_dir = Path("runs") / f"{'-'.join(Path(f).stem for f in files)}-{time.strftime('%Y%m%d-%H%M%S')}"
    from .training import pretrain, pretrain_seeds  # after the config is read: a typo fails at once

    if seeds is not None:
        if resume is not None:
            raise ConfigError("--seeds resumes the stopped seeds itself: give --run-dir, not --resume")
        runs = pretrain_seeds(config, run_dir, _int_list(seeds), progress=progress)
        typer.echo(f"pretrained {config.method.name} (R={config.method.mix.repeats}) with seeds {seeds}: "
                   f"{', '.join(map(str, runs))}")
        return
    try:
        out = pretrain(config, run_dir, progress=progress, resume=resume is not None)
    except KeyboardInterrupt as interrupt:  # says where the checkpoint is and how to continue
        typer.echo(f"skelemix: {interrupt}", err=True)
        raise typer.Exit(130) from None
    from lightning.pytorch.utilities import rank_zero_only

    rank_zero_only(typer.echo)(f"pretrained {config.method.name} (R={config.method.mix.repeats}); run directory: {out}")


def _evaluate(protocol: str, source: Path, common: dict, settings: dict, fraction: Optional[float] = None):
    from .evaluation.protocols import evaluate

    settings = {**settings, "precision": common.pop("precision")}
    overrides = [*common.pop("set"), *(f"eval.{k}={v}" for k, v in settings.items() if v is not None)]
    as_json = common.pop("as_json")
    data = common.pop("data")
    result = evaluate(protocol, source, data_path=str(data) if data else None, overrides=overrides,
                      fraction=fraction, progress=False, **common)
    if as_json:
        typer.echo(json.dumps({k: v for k, v in result.items() if k not in ("test_names", "test_labels", "subset")},
                              indent=2))
    else:
        typer.echo(f"{result['name']} {result['weights']} {result['method']} {result['stream']} on "
                   f"{result['dataset']} {result['benchmark']}: top-1 {result['top1']:.2f}  top-5 {result['top5']:.2f}"
                   f"  -> {result['path']}")


Source = Annotated[Path, typer.Argument(help="A checkpoint file or a run directory (uses checkpoints/last.ckpt).")]
DataOpt = Annotated[Optional[Path], typer.Option(help="Prepared dataset [default: the one pretrained on].")]
BenchOpt = Annotated[Optional[str], typer.Option(help="Benchmark of splits.json [default: the pretraining one].")]
OutOpt = Annotated[Optional[Path], typer.Option(help="Where to write results [default: RUN_DIR/evaluation].")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
StreamOpt = Annotated[Optional[str], typer.Option(help="joint | motion | bone [default: the pretraining stream].")]
ForceOpt = Annotated[bool, typer.Option(help="Allow a stream other than the pretraining one.")]
ConfigOpt = Annotated[Optional[list[str]], typer.Option(
    "--config", help="YAML with an eval section (e.g. semi_pku2_1pct); repeatable.")]
SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", help="An eval.key=value override (e.g. eval.finetune_epochs=30); repeatable.")]


EvalPrecisionOpt = Annotated[Optional[str], typer.Option(
    help="32 | bf16 | auto (eval.precision [default: the run's, 32]; auto: bf16 only where the hardware runs it "
         "fast; bf16 can cost a random-weights baseline accuracy).")]


def _common(random_weights, data, benchmark, out_dir, as_json, stream, force_stream, config, set_,
            precision) -> dict:
    return {"random_weights": random_weights, "data": data, "benchmark": benchmark, "out_dir": out_dir,
            "as_json": as_json, "stream": stream, "force_stream": force_stream, "config_files": config or [],
            "set": set_ or [], "precision": precision}


@evaluate_app.command("knn")
def knn_command(source: Source, data: DataOpt = None, benchmark: BenchOpt = None,
                random_init: Annotated[bool, typer.Option(help="The same network randomly initialised.")] = False,
                out_dir: OutOpt = None, as_json: JsonOpt = False, stream: StreamOpt = None, force_stream: ForceOpt = False,
                config: ConfigOpt = None, set_: SetOpt = None, precision: EvalPrecisionOpt = None,
                k: Annotated[Optional[int], typer.Option(help="Neighbours [default: config, 20].")] = None,
                temperature: Annotated[Optional[float], typer.Option(help="Vote temperature [default: 0.1].")] = None):
    """Weighted kNN on clean backbone features (cosine similarity)."""
    _evaluate("knn", source,
              _common(random_init, data, benchmark, out_dir, as_json, stream, force_stream, config, set_, precision),
              {"knn_k": k, "knn_temperature": temperature})


@evaluate_app.command("linear")
def linear_command(source: Source, data: DataOpt = None, benchmark: BenchOpt = None,
                   random_init: Annotated[bool, typer.Option(help="The same network randomly initialised.")] = False,
                   out_dir: OutOpt = None, as_json: JsonOpt = False, stream: StreamOpt = None,
                   force_stream: ForceOpt = False, config: ConfigOpt = None, set_: SetOpt = None,
                   precision: EvalPrecisionOpt = None,
                   epochs: Annotated[Optional[int], typer.Option(help="Epochs [default: config, 100].")] = None,
                   lr: Annotated[Optional[float], typer.Option(help="SGD learning rate [default: 3.0].")] = None,
                   batch_size: Annotated[Optional[int], typer.Option(help="Batch size [default: 128].")] = None):
    """Linear classifier on the frozen encoder; reports the final epoch."""
    _evaluate("linear", source,
              _common(random_init, data, benchmark, out_dir, as_json, stream, force_stream, config, set_,
                      precision),
              {"linear_epochs": epochs, "linear_lr": lr, "linear_batch_size": batch_size})


FromScratch = Annotated[bool, typer.Option(help="Train the same network from random weights: the supervised "
                                                "reference.")]
Epochs = Annotated[Optional[int], typer.Option(help="Epochs [default: config, 110].")]


@evaluate_app.command("finetune")
def finetune_command(source: Source, data: DataOpt = None, benchmark: BenchOpt = None, from_scratch: FromScratch = False,
                     out_dir: OutOpt = None, as_json: JsonOpt = False, stream: StreamOpt = None,
                     force_stream: ForceOpt = False, config: ConfigOpt = None, set_: SetOpt = None,
                     precision: EvalPrecisionOpt = None, epochs: Epochs = None):
    """Encoder and a linear head trained on every labelled training sample (lr 0.1, 110 epochs, warm-up 10)."""
    _evaluate("finetune", source,
              _common(from_scratch, data, benchmark, out_dir, as_json, stream, force_stream, config, set_,
                      precision),
              {"finetune_epochs": epochs})


@evaluate_app.command("semi")
def semi_command(source: Source,
                 fraction: Annotated[float, typer.Option(help="Labelled share of the training set (0.01, 0.1).")],
                 data: DataOpt = None, benchmark: BenchOpt = None, from_scratch: FromScratch = False,
                 out_dir: OutOpt = None, as_json: JsonOpt = False, stream: StreamOpt = None,
                 force_stream: ForceOpt = False, config: ConfigOpt = None, set_: SetOpt = None,
                 precision: EvalPrecisionOpt = None, epochs: Epochs = None,
                 seed: Annotated[Optional[int], typer.Option(help="Draws the subset [default: config, 0].")] = None):
    """Finetune on a class-balanced subset: round(fraction x class count) per class, at least one (recorded)."""
    _evaluate("semi", source,
              _common(from_scratch, data, benchmark, out_dir, as_json, stream, force_stream, config, set_,
                      precision),
              {"finetune_epochs": epochs, "semi_seed": seed}, fraction=fraction)


RunDirs = Annotated[list[Path], typer.Argument(help="Run directories (each with evaluation/ results).")]


@app.command("ensemble")
def ensemble_command(
    runs: RunDirs,
    protocol: Annotated[str, typer.Option(help="Which saved evaluation to fuse, e.g. linear, knn, finetune, "
                                               "semi-10pct.")] = "linear",
    weights: Annotated[Optional[str], typer.Option(help="Comma-separated weights [default: equal].")] = None,
    as_json: JsonOpt = False,
):
    """Score-level fusion of several runs, such as the joint, motion and bone streams, on the same test samples."""
    from .evaluation.results import ensemble

    try:
        given = [float(w) for w in weights.split(",")] if weights else None
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated numbers, got {weights!r}") from None
    fused = ensemble(runs, protocol, given)
    if as_json:
        typer.echo(json.dumps({k: v for k, v in fused.items() if k != "scores"}, indent=2))
        return
    for run, entry in zip(runs, fused["runs"]):
        typer.echo(f"{entry['stream']:>7} {protocol}  top-1 {entry['top1']:6.2f}  top-5 {entry['top5']:6.2f}  "
                   f"(weight {entry['weight']:g}, {run})")
    typer.echo(f" fusion {protocol}  top-1 {fused['fusion']['top1']:6.2f}  top-5 {fused['fusion']['top5']:6.2f}")


@app.command("report")
def report_command(
    runs: RunDirs,
    csv_path: Annotated[Optional[Path], typer.Option("--csv", help="Also write the table as CSV here.")] = None,
    group: Annotated[bool, typer.Option(help="One row per setting: mean and standard deviation over the runs' "
                                             "seeds.")] = False,
    accuracy_csv: Annotated[Optional[Path], typer.Option(
        help="Append one row per run (method, stream, seed, epochs, knn_top1, linear_top1, commit) to this CSV, "
             "as in benchmarks/accuracy/.")] = None,
):
    """One markdown table of every evaluation of the given runs (and CSV with --csv)."""
    from .evaluation.results import (ACCURACY_COLUMNS, REPORT_COLUMNS, SUMMARY_COLUMNS, accuracy_rows, as_csv,
                                     as_markdown, report, summarise)

    rows, columns = report(runs), REPORT_COLUMNS
    if group:
        rows, columns = summarise(rows), SUMMARY_COLUMNS
    typer.echo(as_markdown(rows, columns))
    if csv_path:
        csv_path.write_text(as_csv(rows, columns))
        typer.echo(f"wrote {csv_path}")
    if accuracy_csv:
        table = as_csv(accuracy_rows(runs), ACCURACY_COLUMNS)
        with accuracy_csv.open("a") as out:  # the header only into a new file
            out.write(table if out.tell() == 0 else table.split("\n", 1)[1])
        typer.echo(f"appended {len(runs)} rows to {accuracy_csv}")


PngOpt = Annotated[Optional[Path], typer.Option("--out", help="The PNG to write [default: in the run directory].")]


@visualize_app.command("tsne")
def tsne_command(source: Source, data: DataOpt = None, benchmark: BenchOpt = None,
                 classes: Annotated[str, typer.Option(help="How many classes (the first N), or 0-based labels "
                                                           "separated by commas.")] = "10",
                 seed: Annotated[int, typer.Option(help="Seed of t-SNE and k-means.")] = 0, out: PngOpt = None,
                 random_init: Annotated[bool, typer.Option(help="The same network randomly initialised.")] = False):
    """t-SNE of test-set embeddings and the NMI of k-means on them (Fig. 5)."""
    from .checkpoints import checkpoint_path
    from .visualize import tsne_figure

    chosen = _int_list(classes)
    chosen = chosen[0] if len(chosen) == 1 else chosen
    out = out or checkpoint_path(source).parent.parent / "figures" / "tsne.png"
    path, nmi = tsne_figure(source, out, str(data) if data else None, benchmark, chosen, seed, random_init)
    typer.echo(f"NMI {nmi:.3f}; wrote {path}")


def _run_figure(kind: str, run_dir: Path, out: Optional[Path]) -> None:
    from . import visualize

    function = {"pairs": visualize.pair_similarity_figure, "curves": visualize.training_curves_figure}[kind]
    typer.echo(f"wrote {function(run_dir, out or run_dir / 'figures' / f'{kind}.png')}")


@visualize_app.command("pairs")
def pairs_command(run_dir: Annotated[Path, typer.Argument(help="A pretraining run directory.")], out: PngOpt = None):
    """Mean cosine similarity of query-key, query-queue, trimmed-key, truncated-key and trimmed-truncated pairs
    per epoch (Fig. 4)."""
    _run_figure("pairs", run_dir, out)


@visualize_app.command("curves")
def curves_command(run_dir: Annotated[Path, typer.Argument(help="A pretraining run directory.")], out: PngOpt = None):
    """Pretraining loss and kNN top-1 per epoch."""
    _run_figure("curves", run_dir, out)


@visualize_app.command("mix")
def mix_command(data: Annotated[Path, typer.Argument(help="A prepared dataset.")],
                samples: Annotated[Optional[str], typer.Option(
                    help="Two sample indices A,B [default: the first, and the first of another class].")] = None,
                seed: Annotated[int, typer.Option(help="Draws the region.")] = 0,
                out: Annotated[Path, typer.Option("--out", help="The PNG to write.")] = Path("skelemix-mix.png")):
    """Two skeletons and A with a SkeleMix region of B pasted in, the moved parts in red (Fig. 2)."""
    from .visualize import mix_figure

    pair = _int_list(samples)
    if pair is not None and len(pair) != 2:
        raise typer.BadParameter(f"expected two indices A,B, got {samples!r}")
    typer.echo(f"wrote {mix_figure(data, out, tuple(pair) if pair else None, seed=seed)}")


Inputs = Annotated[list[Path], typer.Argument(help="Prepared dataset directories, raw .skeleton / NW-UCLA .json files, or "
                                                 "recordings: OpenPose folders, MediaPipe / keypoints .json, "
                                                 "MediaPipe / Kinect .csv.")]


Window = Annotated[Optional[int], typer.Option(help="Cut each raw sequence into windows of this many frames, each a "
                                                  "sample named <name>@<first frame> (long recordings).")]
Stride = Annotated[Optional[int], typer.Option(help="Frames between window starts [default: the window].")]


@app.command("embed")
def embed_command(source: Source, inputs: Inputs,
                  out: Annotated[Path, typer.Option("--out", help="Features (N, D) .npy; names go to .txt beside.")],
                  window: Window = None, stride: Stride = None):
    """Clean backbone features of a pretrained encoder for new sequences."""
    from .files import atomic_file
    from .inference import embed

    names, features = embed(source, inputs, window, stride)
    with atomic_file(out) as temporary:
        with temporary.open("wb") as f:
            np.save(f, features)
    out.with_suffix(".txt").write_text("\n".join(names) + "\n")
    typer.echo(f"wrote {features.shape[0]} x {features.shape[1]} features to {out} (names: {out.with_suffix('.txt')})")


@app.command("predict")
def predict_command(
    classifier: Annotated[Path, typer.Argument(help="evaluation/<protocol>-classifier.pt of a linear, finetune or "
                                                    "semi evaluation.")],
    inputs: Inputs,
    top_k: Annotated[int, typer.Option(help="Classes to show per sample.")] = 5,
    as_json: JsonOpt = False, window: Window = None, stride: Stride = None,
):
    """Top-k actions with probabilities for new sequences."""
    from .inference import predict

    predictions = predict(classifier, inputs, top_k, window, stride)
    if as_json:
        typer.echo(json.dumps(predictions, indent=2))
        return
    for entry in predictions:
        typer.echo(entry["name"] + ": " + ", ".join(f"{t['class']} {100 * t['probability']:.1f}%"
                                                    for t in entry["top"]))


@app.command("demo")
def demo_command(
    out_dir: Annotated[Path, typer.Option(help="Where the data, run and results go.")] = Path("skelemix-demo"),
    epochs: Annotated[Optional[int], typer.Option(help="Pretraining epochs [default: the demo config's].")] = None,
):
    """Generate synthetic data, pretrain SkeleMixCLR briefly, compare kNN and linear with a random encoder."""
    from .demo import run_demo

    run_demo(out_dir, epochs=epochs, echo=typer.echo)


def _echo_measurement(r: dict, what: str) -> None:
    rate = r["samples_per_s"]
    typer.echo(f"{what}: batch {r['batch_size']} x {r['frames']} frames x {r['persons']} persons, "
               f"{r['precision']}, {r['threads']} threads on {r['cpu']}")
    typer.echo(f"  {rate['median']:.2f} samples/s (min {rate['min']:.2f}, max {rate['max']:.2f}), "
               f"{r['seconds_per_step']:.2f} s/step, peak RSS {r['peak_rss_gb']:.2f} GB")
    typer.echo(f"  {r['gflop_per_step']:.0f} GFLOP/step -> {r['achieved_gflops']:.1f} GFLOP/s; fp32 matmul "
               f"{r['matmul_fp32_gflops']:.1f} GFLOP/s; efficiency {r['efficiency']:.2f}")


BatchOpt = Annotated[int, typer.Option(help="Samples per step.")]
FramesOpt = Annotated[int, typer.Option(help="Frames per sequence.")]
PersonsOpt = Annotated[int, typer.Option(help="Persons per sequence.")]
PrecisionOpt = Annotated[str, typer.Option(help="32 | bf16 | auto.")]
StepsOpt = Annotated[int, typer.Option(help="Timed steps, after one untimed warm-up step.")]


@benchmark_app.command("pretrain")
def benchmark_pretrain_command(
    method: Annotated[str, typer.Option(help="skeletonclr | skelemixclr | skelemixclr+.")] = "skelemixclr+",
    batch_size: BatchOpt = 128, frames: FramesOpt = 64, persons: PersonsOpt = 2, precision: PrecisionOpt = "32",
    steps: StepsOpt = 3,
    queue_size: Annotated[int, typer.Option(help="Queue length K.")] = 32768,
    as_json: JsonOpt = False,
):
    """Time full SkeletonCLR / SkeleMixCLR(+) training steps on in-memory data of the given shape."""
    from .benchmark import benchmark_pretrain

    r = benchmark_pretrain(method, batch_size, frames, persons, precision, steps, queue_size=queue_size)
    if as_json:
        typer.echo(json.dumps(r, indent=2))
    else:
        _echo_measurement(r, r["method"])


@benchmark_app.command("encoder")
def benchmark_encoder_command(
    backward: Annotated[bool, typer.Option(help="Forward and backward (--no-backward: forward alone).")] = True,
    batch_size: BatchOpt = 128, frames: FramesOpt = 64, persons: PersonsOpt = 2, precision: PrecisionOpt = "32",
    steps: StepsOpt = 3, as_json: JsonOpt = False,
):
    """Time the quarter-width ST-GCN encoder alone, forward or forward + backward."""
    from .benchmark import benchmark_encoder

    r = benchmark_encoder(backward, batch_size, frames, persons, precision, steps)
    if as_json:
        typer.echo(json.dumps(r, indent=2))
    else:
        _echo_measurement(r, f"ST-GCN {r['pass']}")


@benchmark_app.command("prepare")
def benchmark_prepare_command(
    files: Annotated[str, typer.Option(help="Comma-separated numbers of synthetic NTU files to prepare.")] = "1000,4000",
    workers: Workers = None,
    as_json: JsonOpt = False,
):
    """Time `prepare ntu60` on synthetic NTU-format files: files/s, peak memory, projected NTU-120 time."""
    from .benchmark import NTU120_FILES, benchmark_prepare

    r = benchmark_prepare(tuple(_int_list(files) or ()), workers)
    if as_json:
        typer.echo(json.dumps(r, indent=2))
        return
    typer.echo(f"prepare ntu60 with {r['workers']} workers on {r['cpu']} ({r['cores']} cores)")
    for run in r["runs"]:
        typer.echo(f"  {run['files']:>7} files ({run['megabytes']:.0f} MB): {run['seconds']:.1f} s, "
                   f"{run['files_per_s']:.0f} files/s, peak RSS main {run['main_rss_gb']:.2f} GB, "
                   f"largest worker {run['worker_rss_gb']:.2f} GB")
    typer.echo(f"  NTU-120 ({NTU120_FILES:,} files) projected: {r['ntu120_projected_minutes']:.0f} min, "
               f"{r['ntu120_prepared_gb']:.1f} GB on disk")


def main() -> None:
    keep_tensors_on_the_heap()  # before torch is imported: see allocator.py
    # ConfigError, DatasetError and CheckpointError are ValueErrors: catching those here keeps torch unimported
    # for commands that do not need it
    try:
        code = app(standalone_mode=False)
    except (OSError, ValueError, FloatingPointError) as error:
        typer.echo(f"skelemix: error: {error}".replace("\n", " "), err=True)
        sys.exit(1)
    except (KeyboardInterrupt, typer.Abort) as error:
        typer.echo(f"skelemix: {error or 'interrupted'}", err=True)
        sys.exit(130)
    except typer.TyperException as error:  # a usage error (missing argument, bad option value), as click words it
        error.show()
        sys.exit(error.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
