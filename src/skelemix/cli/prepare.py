"""``skelemix prepare``, ``export`` and ``import``: datasets and checkpoints in and out of skelemix's formats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .options import PREPROCESSING, Layout, OutDir, from_hub, int_list, with_options

prepare_app = typer.Typer(help="Convert a dataset into the prepared format.", no_args_is_help=True)
export_app = typer.Typer(help="Write a prepared dataset or an encoder in another tool's format.", no_args_is_help=True)


def _run(function, *args, preprocessing: dict, rotation: str = "first_frame", resize: str = "align_corners",
         **kwargs) -> None:
    """Run a preparation with the shared options and print what it wrote, left out, repaired and skipped."""
    from ..data.format import default_workers
    from ..data.preprocess import Preprocessing

    options = dict(preprocessing)
    run = {key: options.pop(key) for key in ("workers", "strict", "progress")}
    run["workers"] = default_workers() if run["workers"] is None else run["workers"]
    report = function(*args, preprocessing=Preprocessing(**options, rotation=rotation, resize=resize),
                      **{**run, **kwargs})
    lines, warnings = report.summary()
    for line in lines:
        typer.echo(line)
    for line in warnings:
        typer.echo(line, err=True)


def _add_ntu(version: str, summary: str) -> None:
    @with_options(PREPROCESSING, into="preprocessing")
    def command(
        raw_dir: Annotated[Path, typer.Argument(help="Directory of NTU RGB+D .skeleton files.")], out_dir: OutDir,
        exclude: Annotated[Optional[Path], typer.Option(help="Official list of samples with missing skeletons.")] = None,
        reference_pipeline: Annotated[bool, typer.Option(
            help="The authors' code's preprocessing instead: each body centred on its own spine shoulder in every "
                 "frame, OpenCV-style resizing, every frame turned by its own shoulder angle (overrides --centring "
                 "and --rotate).")] = False,
        preprocessing: dict = None,
    ):
        from ..data.ntu import prepare_ntu

        reference = {"rotation": "every_frame", "resize": "half_pixel"} if reference_pipeline else {}
        if reference_pipeline:
            preprocessing = {**preprocessing, "centring": "body", "rotate": True}
        _run(prepare_ntu, raw_dir, out_dir, version, exclude, preprocessing=preprocessing, **reference)

    command.__doc__ = summary
    prepare_app.command(version)(command)


_add_ntu("ntu60", "NTU RGB+D 60 (actions 1-60, setups 1-17) -> benchmarks xsub and xview.")
_add_ntu("ntu120", "NTU RGB+D 120 (both halves in one directory) -> benchmarks xsub and xset.")

PKU_SPLIT_NAMES = {"cross-subject": "xsub", "cross-view": "xview"}


@prepare_app.command("pku-mmd")
@with_options(PREPROCESSING, into="preprocessing")
def pku_mmd(
    skeleton_dir: Annotated[Path, typer.Argument(help="Directory of PKU-MMD skeleton .txt files.")],
    label_dir: Annotated[Path, typer.Argument(help="Directory of the label .txt files of the same names.")],
    out_dir: OutDir, part: Annotated[int, typer.Option(help="PKU-MMD part, 1 or 2.")] = 1,
    split_file: Annotated[Optional[list[str]], typer.Option(
        help="A split file of the dataset, as BENCHMARK=PATH or PATH (cross-subject.txt -> xsub, "
             "cross-view.txt -> xview); repeatable.")] = None,
    preprocessing: dict = None,
):
    """PKU-MMD part I or II: one sample per labelled interval (51 actions)."""
    from ..data.pku_mmd import prepare_pku_mmd

    splits = {}
    for entry in split_file or []:
        benchmark, _, path = entry.rpartition("=")
        splits[benchmark or PKU_SPLIT_NAMES.get(Path(path).stem, Path(path).stem)] = path
    _run(prepare_pku_mmd, skeleton_dir, label_dir, out_dir, part, splits, preprocessing=preprocessing)


@prepare_app.command("pyskl")
@with_options(PREPROCESSING, into="preprocessing", workers=0)
def pyskl(
    annotation: Annotated[Path, typer.Argument(help="pyskl / mmaction2 annotation .pkl.")], out_dir: OutDir,
    layout: Annotated[Optional[str], typer.Option(help="Skeleton layout [default: from the keypoint shape].")] = None,
    preprocessing: dict = None,
):
    """A pyskl annotation pickle (3D NTU or 2D COCO-17), loaded with a restricted unpickler."""
    from ..data.pyskl import prepare_pyskl

    _run(prepare_pyskl, annotation, out_dir, layout, preprocessing=preprocessing)


@prepare_app.command("crossclr")
@with_options(PREPROCESSING, into="preprocessing", workers=0)
def crossclr(
    data: Annotated[Path, typer.Argument(help="(N, 3, T, V, M) .npy, e.g. train_data_joint.npy.")],
    labels: Annotated[Path, typer.Argument(help="(names, labels) .pkl, e.g. train_label.pkl.")], out_dir: OutDir,
    test_data: Annotated[Optional[Path], typer.Option(help="The test split's .npy (e.g. val_data_joint.npy).")] = None,
    test_labels: Annotated[Optional[Path], typer.Option(help="The test split's .pkl.")] = None,
    benchmark: Annotated[str, typer.Option(help="Name of the benchmark the files are a split of.")] = "xsub",
    layout: Layout = "ntu25", preprocessing: dict = None,
):
    """Arrays of the CrosSCLR / AimCLR / SkeleMixCLR code (already preprocessed ones: --centring none --no-rotate)."""
    from ..data.arrays import prepare_crossclr

    _run(prepare_crossclr, data, labels, out_dir, test_data, test_labels, benchmark, layout,
         preprocessing=preprocessing)


@prepare_app.command("numpy")
@with_options(PREPROCESSING, into="preprocessing", workers=0)
def numpy(
    npz: Annotated[Path, typer.Argument(help=".npz with data, labels and optional names, subjects, views, "
                                             "split_<benchmark>.")], out_dir: OutDir, layout: Layout = "ntu25",
    train_subjects: Annotated[Optional[str], typer.Option(help="Comma-separated training subjects -> benchmark "
                                                               "xsub.")] = None,
    train_views: Annotated[Optional[str], typer.Option(help="Comma-separated training views -> benchmark xview.")] = None,
    preprocessing: dict = None,
):
    """Any skeleton arrays in an .npz, for data the other readers do not know."""
    from ..data.arrays import prepare_numpy

    _run(prepare_numpy, npz, out_dir, layout, int_list(train_subjects), int_list(train_views),
         preprocessing=preprocessing)


KINECT_V1_DATASETS = {"centring": "first_frame", "rotate": True, "persons": 1, "scale": "minmax"}  # the field's


@prepare_app.command("nw-ucla")
@with_options(PREPROCESSING, into="preprocessing", **KINECT_V1_DATASETS)
def nw_ucla(json_dir: Annotated[Path, typer.Argument(help="Directory of aAA_sSS_eEE_vVV.json files (all_sqe).")],
            out_dir: OutDir, preprocessing: dict = None):
    """NW-UCLA (CTR-GCN json release) -> benchmarks xview and xsub."""
    from ..data import prepare_nw_ucla

    _run(prepare_nw_ucla, json_dir, out_dir, preprocessing=preprocessing)


@prepare_app.command("msr-action3d")
@with_options(PREPROCESSING, into="preprocessing", **KINECT_V1_DATASETS)
def msr_action3d(skeleton_dir: Annotated[Path, typer.Argument(help="Directory of aAA_sSS_eEE_skeleton3D.txt files "
                                                                   "(real-world coordinates).")],
                 out_dir: OutDir, preprocessing: dict = None):
    """MSR Action3D (20 actions, joints put in the Kinect v1 order) -> benchmark xsub (odd subjects train)."""
    from ..data.msr_action3d import prepare_msr_action3d

    _run(prepare_msr_action3d, skeleton_dir, out_dir, preprocessing=preprocessing)


@prepare_app.command("utkinect")
@with_options(PREPROCESSING, into="preprocessing", **KINECT_V1_DATASETS)
def utkinect(joints_dir: Annotated[Path, typer.Argument(help="Directory of joints_sSS_eEE.txt recordings.")],
             label_file: Annotated[Path, typer.Argument(help="actionLabel.txt (the segments, in frame numbers).")],
             out_dir: OutDir, preprocessing: dict = None):
    """UTKinect-Action3D (10 actions, one sample per labelled segment) -> benchmark xsub (odd subjects train)."""
    from ..data.utkinect import prepare_utkinect

    _run(prepare_utkinect, joints_dir, label_file, out_dir, preprocessing=preprocessing)


ClipSource = Annotated[Path, typer.Argument(help="One clip, or a folder of clips (one sample each).")]
ClipLabels = Annotated[Optional[Path], typer.Option(help="CSV of clip,action[,split[,subject]] (clip: folder or file "
                                                         "name without extension): labelled clips, benchmark "
                                                         "'labelled'; without it all clips, unlabelled, benchmark "
                                                         "'all'.")]
ClipLayout = Annotated[Optional[str], typer.Option(help="Prepared joints: the source's own [default], or coco17 "
                                                        "(mapped), so that one encoder serves several estimators.")]
CLIPS = {"rotate": False, "persons": 1, "scale": "torso", "workers": 0}  # 2D recordings: no turning, torso scale


def _clips(clip_format: str, source: Path, out_dir: Path, labels: Optional[Path], layout: Optional[str],
           preprocessing: dict, **reader_options) -> None:
    from ..data.clips import prepare_clips

    _run(prepare_clips, clip_format, source, out_dir, labels=labels, layout=layout, preprocessing=preprocessing,
         reader_options={k: v for k, v in reader_options.items() if v is not None})


@prepare_app.command("openpose")
@with_options(PREPROCESSING, into="preprocessing", **CLIPS)
def openpose(
    source: Annotated[Path, typer.Argument(help="A folder of OpenPose per-frame .json files (one clip), or a folder of "
                                                "such folders (one clip each).")],
    out_dir: OutDir, labels: ClipLabels = None, layout: ClipLayout = None,
    model: Annotated[Optional[str], typer.Option(help="body25 | body25b | coco18 [default: told from the "
                                                      "keypoints].")] = None,
    preprocessing: dict = None,
):
    """OpenPose JSON (BODY_25, BODY_25B, COCO-18): the main person tracked across frames, gaps and unseen joints
    filled in."""
    _clips("openpose", source, out_dir, labels, layout, preprocessing, model=model)


@prepare_app.command("mediapipe")
@with_options(PREPROCESSING, into="preprocessing", **CLIPS)
def mediapipe(
    source: ClipSource, out_dir: OutDir, labels: ClipLabels = None, layout: ClipLayout = None,
    coordinates: Annotated[str, typer.Option(help="image (x, y, visibility) or world (metres, 3D, turned to face "
                                                  "the camera).")] = "image",
    preprocessing: dict = None,
):
    """MediaPipe BlazePose landmarks: .json lists of 33 [x, y, z(, visibility)] per frame, or landmark .csv files."""
    preprocessing = {**preprocessing, "rotate": preprocessing["rotate"] or coordinates == "world"}
    _clips("mediapipe", source, out_dir, labels, layout, preprocessing, coordinates=coordinates)


@prepare_app.command("keypoints-json")
@with_options(PREPROCESSING, into="preprocessing", **CLIPS)
def keypoints_json(source: ClipSource, out_dir: OutDir, labels: ClipLabels = None, layout: ClipLayout = None,
                   preprocessing: dict = None):
    """Named keypoints per frame (MoveNet, tfjs pose-detection) or MMPose inferencer output, COCO-17 or
    MediaPipe-33."""
    _clips("keypoints-json", source, out_dir, labels, layout, preprocessing)


@prepare_app.command("kinect-csv")
@with_options(PREPROCESSING, into="preprocessing", **{**CLIPS, "rotate": True, "scale": "none"})
def kinect_csv(source: ClipSource, out_dir: OutDir, labels: ClipLabels = None, preprocessing: dict = None):
    """Kinect v2 body-tracking CSV (timestamp, 25 x (x, y, z, state)): NTU RGB+D joints, so NTU-pretrained encoders
    read it."""
    _clips("kinect-csv", source, out_dir, labels, None, preprocessing)


@prepare_app.command("synthetic")
def synthetic(
    out_dir: Annotated[Path, typer.Argument(help="Where to write the prepared dataset.")],
    performers: Annotated[int, typer.Option(help="Number of performers (the first half trains in xsub).")] = 16,
    repetitions: Annotated[int, typer.Option(help="Samples per performer and action.")] = 5,
    frames: Annotated[int, typer.Option(help="Frames per sequence.")] = 64,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
):
    """The built-in synthetic NTU-25 dataset (12 actions), generated from a seed."""
    from ..data import prepare_synthetic

    report = prepare_synthetic(out_dir, performers=performers, repetitions=repetitions, frames=frames, seed=seed)
    typer.echo(report.summary()[0][0])


PreparedIn = Annotated[Path, typer.Argument(help="A prepared dataset directory.")]


def check(prepared: PreparedIn, progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True):
    """Check a prepared dataset as every command does when it opens one: labels, splits, and every coordinate finite
    (one streaming pass; memory stays flat however large the file)."""
    from ..data.format import PreparedDataset

    dataset = PreparedDataset(prepared, progress=progress)
    typer.echo(f"{prepared}: {len(dataset)} samples of {dataset.num_classes} classes, layout {dataset.layout.name}, "
               f"benchmarks {', '.join(sorted(dataset.splits))}: labels, splits and coordinates are valid")


@export_app.command("pyskl")
def export_pyskl(prepared: PreparedIn, out: Annotated[Path, typer.Argument(help="The annotation .pkl to write.")]):
    """Write a prepared dataset as a pyskl / mmaction2 annotation pickle."""
    from ..data.pyskl import export_pyskl

    typer.echo(f"wrote {export_pyskl(prepared, out)}")


@export_app.command("numpy")
def export_numpy(prepared: PreparedIn, out: Annotated[Path, typer.Argument(help="The .npz to write.")]):
    """Write a prepared dataset as an .npz (data (N, M, T, V, C), labels, names, subjects, views, splits)."""
    from ..data.arrays import export_numpy

    typer.echo(f"wrote {export_numpy(prepared, out)}")


@export_app.command("reference")
def export_reference(source: Annotated[Path, typer.Argument(help="A pretraining run directory or checkpoint.")],
                     out: Annotated[Path, typer.Argument(help="The .pt file to write.")]):
    """Write a pretrained encoder (query and key sides, heads, queue) as the authors' SkeleMixCLR code saves it."""
    from ..interop import export_reference

    typer.echo(f"wrote {export_reference(source, out)}")


@export_app.command("onnx")
def export_onnx(source: Annotated[Path, typer.Argument(
        callback=from_hub, help="A run directory or checkpoint (features), or a classifier file of evaluate "
                                "linear/finetune/semi (probabilities), or a model folder (or hub://OWNER/NAME).")],
                out: Annotated[Path, typer.Argument(help="The .onnx file to write.")]):
    """Write a trained encoder or classifier as an ONNX model (dynamic batch and frames, the stream inside, the
    preprocessing it expects in its metadata), for onnxruntime; embed and predict run it too."""
    from ..onnx_model import export_onnx as export

    info = export(source, out)
    typer.echo(f"wrote {out}: {info['kind']} of {info['layout']} joints ({info['stream']} stream)")


@export_app.command("model")
def export_model(source: Annotated[Path, typer.Argument(
        callback=from_hub, help="A run directory or checkpoint (encoder), or a classifier file of evaluate "
                                "linear/finetune/semi.")],
                 folder: Annotated[Path, typer.Argument(help="The model folder to write (must not exist or be "
                                                              "empty).")]):
    """Write a model folder: model.safetensors (weights, no pickle), config.json and a README.md model card, in the
    Hugging Face Hub's layout; every command that takes a run or classifier takes the folder too."""
    from ..model_folder import export_model as export

    card = export(source, folder)
    typer.echo(f"wrote {folder}: {card['kind']} of {card['layout']} joints ({card['stream']} stream), "
               f"model.safetensors, config.json, README.md")


def import_checkpoint(
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
    from ..interop import import_reference

    overrides = [f"data.{key}={value}" for key, value in (("path", data), ("benchmark", benchmark)) if value]
    typer.echo(f"imported {checkpoint} into {import_reference(checkpoint, run_dir, layout, overrides)}")
