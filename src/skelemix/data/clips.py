"""Recordings of pose estimators and depth cameras -> prepared datasets and model inputs, one reader per format.

=================  ==========================================================  ==============================
format             a clip is                                                   layout (``Clip.layout``)
=================  ==========================================================  ==============================
``openpose``       a folder of per-frame JSON files                            body25, body25b, coco18
``mediapipe``      a .json list of frames of 33 landmarks, or a landmark .csv  mediapipe33 (_world)
``keypoints-json`` a .json of named keypoints per frame (MoveNet) or MMPose    coco17, mediapipe33
``kinect-csv``     a Kinect v2 body-tracking .csv                              ntu25
=================  ==========================================================  ==============================

``prepare_clips`` reads every clip under a folder (or one clip), maps its joints to ``layout`` where a mapping
exists (``layouts.JOINT_MAPPINGS``: BODY_25, BODY_25B, COCO-18 and MediaPipe-33 to COCO-17, so that one encoder
serves several estimators), labels the clips from a CSV of ``clip,action[,split[,subject]]`` (benchmark ``labelled``;
without it they are unlabelled, benchmark ``all``: pretraining, embed and predict) and writes a prepared dataset
whose ``dataset.json`` ``source`` holds the format, the source layout, the repair counts and the frame rate.
``read_clip`` reads one clip for embed and predict, the format told from the path and the file's content.

Example:
    >>> prepare_clips("openpose", "clips/", "prepared/mine", labels="labels.csv", layout="coco17")  # doctest: +SKIP
    >>> read_clip(Path("squats.json")).layout                                                    # doctest: +SKIP
    'mediapipe33'
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from ..layouts import JOINT_MAPPINGS, get_layout, map_joints
from .format import DatasetError, PrepareReport, RawSample, Sample, write_prepared
from .keypoints_json import read_keypoints_clip
from .kinect_csv import read_kinect_csv
from .mediapipe import read_mediapipe_clip
from .openpose import clip_folders, read_openpose_clip
from .preprocess import Preprocessing
from .recordings import Clip, TrackReport

UNLABELLED = "unlabelled"


def _files(*suffixes: str) -> Callable[[Path], list[Path]]:
    def find(path: Path) -> list[Path]:
        if path.is_file():
            return [path]
        if not path.is_dir():
            raise DatasetError(f"{path}: no such file or directory")
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        if not files:
            raise DatasetError(f"{path}: no {' or '.join(suffixes)} files")
        return files
    return find


@dataclass(frozen=True)
class ClipFormat:
    """``find(path)``: the clips under a path; ``read(clip, persons, **options)``: one clip."""

    find: Callable[[Path], list[Path]]
    read: Callable[..., Clip]


FORMATS: dict[str, ClipFormat] = {
    "openpose": ClipFormat(clip_folders, read_openpose_clip),
    "mediapipe": ClipFormat(_files(".json", ".csv"), read_mediapipe_clip),
    "keypoints-json": ClipFormat(_files(".json"), read_keypoints_clip),
    "kinect-csv": ClipFormat(_files(".csv"), read_kinect_csv),
}


def detect_format(path: Path) -> str:
    """The format of a clip, or of a folder of clips, from its path and content: a folder of OpenPose frame files
    (``{"people": ...}``) or of such folders is OpenPose, a folder of other files has their format; a .csv with a
    ``L0_x`` header is MediaPipe, one of numbers a Kinect; a .json list of landmark lists is MediaPipe, of dicts
    keypoints-json."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".json", ".csv"))
        if not files or (files[0].suffix.lower() == ".json" and '"people"' in files[0].read_text(errors="replace")):
            return "openpose"
        return detect_format(files[0])
    if path.suffix.lower() == ".csv":
        with path.open(errors="replace") as f:
            return "mediapipe" if "L0_x" in f.readline() else "kinect-csv"
    if path.suffix.lower() == ".json":
        try:
            content = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DatasetError(f"{path}: not valid JSON ({error})") from None
        first = next((frame for frame in content if frame), None) if isinstance(content, list) else None
        if isinstance(first, list) and first and isinstance(first[0], list):
            return "mediapipe"
        if isinstance(first, (dict, list)) or (isinstance(content, dict) and "instance_info" in content):
            return "keypoints-json"
    raise DatasetError(f"{path}: not a clip skelemix can read ({', '.join(FORMATS)})")


def read_clip(path: Path, persons: int = 1, clip_format: str | None = None, **options) -> Clip:
    """One clip of ``clip_format`` (told from the path and content when None)."""
    clip_format = clip_format or detect_format(path)
    return FORMATS[clip_format].read(path, persons, **options)


class Label(NamedTuple):
    action: str
    split: str  # train | test
    subject: str  # "" when the row names none


def read_labels(path: Path) -> dict[str, Label]:
    """``clip,action[,split[,subject]]`` rows (a header line starting ``clip,action`` is skipped) -> {clip: Label}.
    A clip is named by its folder (OpenPose) or its file name without the extension; a subject is any name (a
    person's id), so that evaluations can leave one subject out."""
    labels = {}
    with path.open(newline="") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if not row or (number == 1 and row[:2] == ["clip", "action"]):
                continue
            if len(row) not in (2, 3, 4) or not row[0] or not row[1]:
                raise DatasetError(f"{path}: line {number}: expected clip,action[,split[,subject]], got "
                                   f"{','.join(row)!r}")
            split = row[2] if len(row) >= 3 else "train"
            if split not in ("train", "test"):
                raise DatasetError(f"{path}: line {number}: split must be train or test, got {split!r}")
            labels[row[0]] = Label(row[1], split, row[3].strip() if len(row) == 4 else "")
    return labels


def clip_name(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


def prepare_clips(clip_format: str, source: str | Path, out_dir: str | Path, labels: str | Path | None = None,
                  layout: str | None = None,
                  preprocessing: Preprocessing = Preprocessing(frames=64, centring="frame", rotate=False, persons=1,
                                                               scale="torso"),
                  reader_options: dict | None = None, **options) -> PrepareReport:
    """Prepare every clip of ``clip_format`` under ``source``. ``layout``: the prepared joints, the source's own
    (default) or one it maps to (``coco17``). ``reader_options`` go to the format's reader (``model`` for OpenPose,
    ``coordinates`` for MediaPipe), ``options`` to write_prepared."""
    if clip_format not in FORMATS:
        raise DatasetError(f"unknown clip format {clip_format!r}; known: {', '.join(FORMATS)}")
    source, reader = Path(source), FORMATS[clip_format]
    clips = reader.find(source)
    label_of = read_labels(Path(labels)) if labels else {}
    unknown = sorted(set(label_of) - {clip_name(c) for c in clips})
    if unknown:
        raise DatasetError(f"{labels}: clips not found under {source}: {', '.join(unknown[:5])}")
    if label_of:
        clips = [c for c in clips if clip_name(c) in label_of]
    class_names = sorted({label.action for label in label_of.values()}) or [UNLABELLED]
    subject_ids = {name: i for i, name in enumerate(sorted({l.subject for l in label_of.values()} - {""}), start=1)}
    read_clips: dict[Path, Clip | DatasetError] = {}
    for path in clips:  # read first, so that the counts can go into dataset.json
        try:
            read_clips[path] = reader.read(path, preprocessing.persons, **(reader_options or {}))
        except DatasetError as error:
            read_clips[path] = error
    good = [clip for clip in read_clips.values() if isinstance(clip, Clip)]
    layouts = {clip.layout for clip in good}
    if len(layouts) > 1:
        raise DatasetError(f"{source}: clips of different layouts ({', '.join(sorted(layouts))}); prepare them "
                           f"apart{' or name the model with --model' if clip_format == 'openpose' else ''}")
    source_layout = layouts.pop() if layouts else None
    target = layout or source_layout or "coco17"
    if source_layout and target != source_layout and (source_layout, target) not in JOINT_MAPPINGS:
        raise DatasetError(f"no joint mapping from {source_layout} to {target}; known: "
                           f"{', '.join(f'{a} -> {b}' for a, b in JOINT_MAPPINGS)}")

    def read(path: Path) -> list[RawSample]:
        clip = read_clips[path]
        if isinstance(clip, DatasetError):
            raise clip
        label = label_of.get(clip_name(path), Label(UNLABELLED, "train", ""))
        sample = Sample(clip_name(path), class_names.index(label.action), subject_ids.get(label.subject, 0), 0,
                        clip.bodies.shape[1])
        return [(sample, map_joints(clip.bodies, clip.layout, target))]

    counts = {key: sum(getattr(clip.report, key) for clip in good) for key in TrackReport.__dataclass_fields__}
    rates = [clip.frame_rate for clip in good if clip.frame_rate]
    source_info = {"format": clip_format, "layout": source_layout, **counts,
                   "frame_rate": round(float(np.median(rates)), 3) if rates else None}
    splits = {"labelled": lambda s: label_of[s.name].split} if label_of else None
    return write_prepared(out_dir, name=source.stem, layout=get_layout(target), class_names=class_names,
                          items=clips, read=read, preprocessing=preprocessing, splits=splits,
                          **{**options, "workers": 0}, info={"source": source_info})
