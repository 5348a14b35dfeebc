"""UTKinect-Action3D (Xia, Chen and Aggarwal, CVPR Workshops 2012): joint recordings cut by ``actionLabel.txt``.

Each ``joints_sSS_eEE.txt`` (subject 1-10, execution 1-2) is one continuous recording of the 10 actions, one line
per frame: the frame number, then 20 joints x (x, y, z) in metres in the Kinect SDK v1 order (layout
``kinect_v1``). A frame written twice (the same frame number on consecutive lines) is kept once.
``actionLabel.txt`` gives, per recording, a ``sSS_eEE`` line and then ``action: first last`` in frame numbers
(inclusive); one segment of the release is ``NaN NaN`` and is skipped. Each segment becomes one sample, named
``sSS_eEE_action``. Benchmark ``xsub``: odd subjects train, even subjects test.

Example:
    >>> prepare_utkinect("UTKinect/joints", "UTKinect/actionLabel.txt", "prepared/utk")   # doctest: +SKIP
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..layouts import get_layout
from .format import DatasetError, PrepareReport, RawSample, Sample, read_number_table, write_prepared
from .msr_action3d import DEFAULT_PREPROCESSING
from .preprocess import Preprocessing

CLASS_NAMES = ("walk", "sitDown", "standUp", "pickUp", "carry", "throw", "push", "pull", "waveHands", "clapHands")
RECORDING_PATTERN = re.compile(r"s(\d+)_e(\d+)")
JOINTS = 20


@dataclass(frozen=True)
class Segment:
    """One labelled action of a recording: frames ``first``..``last`` (frame numbers, inclusive; None: unlabelled)."""

    recording: Path
    action: str
    first: int | None
    last: int | None


def read_action_labels(label_file: Path, joints_dir: Path) -> list[Segment]:
    """``actionLabel.txt`` -> the segments of every recording, in file order; DatasetError names the line."""
    if not label_file.is_file():
        raise DatasetError(f"{label_file}: no such label file")
    segments, recording = [], None
    for number, line in enumerate(label_file.read_text().splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if RECORDING_PATTERN.fullmatch(line):
            recording = joints_dir / f"joints_{line}.txt"
            continue
        action, _, bounds = line.partition(":")
        if recording is None or action not in CLASS_NAMES or len(bounds.split()) != 2:
            raise DatasetError(f"{label_file}: line {number}: expected sSS_eEE or 'action: first last' with an action "
                               f"of {', '.join(CLASS_NAMES)}, got {line!r}")
        try:
            first, last = (None if value == "NaN" else int(value) for value in bounds.split())
        except ValueError:
            raise DatasetError(f"{label_file}: line {number}: frame numbers must be integers or NaN") from None
        segments.append(Segment(recording, action, first, last))
    if not segments:
        raise DatasetError(f"{label_file}: no labelled segments")
    return segments


def read_recording(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A joints file -> (frame numbers (T,), coordinates (T, 20, 3)), repeated frames kept once."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such joints file")
    values = read_number_table(path, 1 + 3 * JOINTS, "frame number, then 20 x (x, y, z)")
    if not len(values):
        raise DatasetError(f"{path}: no frames")
    numbers = values[:, 0].astype(np.int64)
    if (np.diff(numbers) < 0).any():
        raise DatasetError(f"{path}: frame numbers go backwards")
    keep = np.r_[True, np.diff(numbers) > 0]  # a frame written twice is the same frame
    return numbers[keep], values[keep, 1:].reshape(-1, JOINTS, 3)


def read_segment(segment: Segment) -> list[RawSample]:
    """One segment -> [(sample, coordinates (1, T, 20, 3))]; DatasetError names the recording and the action."""
    where = f"{segment.recording} ({segment.action})"
    if segment.first is None or segment.last is None:
        raise DatasetError(f"{where}: the label file gives no frame range (NaN)")
    if segment.first > segment.last:
        raise DatasetError(f"{where}: first frame {segment.first} after last frame {segment.last}")
    numbers, coordinates = read_recording(segment.recording)
    inside = (numbers >= segment.first) & (numbers <= segment.last)
    if not inside.any():
        raise DatasetError(f"{where}: no frame numbered {segment.first}..{segment.last} in the recording")
    subject, _ = (int(g) for g in RECORDING_PATTERN.search(segment.recording.stem).groups())
    name = f"{segment.recording.stem.removeprefix('joints_')}_{segment.action}"
    return [(Sample(name, CLASS_NAMES.index(segment.action), subject, 1, int(inside.sum())),
             coordinates[inside][None])]


def prepare_utkinect(joints_dir: str | Path, label_file: str | Path, out_dir: str | Path,
                     preprocessing: Preprocessing = DEFAULT_PREPROCESSING, **options) -> PrepareReport:
    """Cut every recording of ``joints_dir`` by ``label_file`` and write the prepared dataset (benchmark ``xsub``).

    ``options`` go to :func:`write_prepared` (workers, strict, progress).
    """
    joints_dir = Path(joints_dir)
    if not joints_dir.is_dir():
        raise DatasetError(f"{joints_dir}: no such directory")
    segments = read_action_labels(Path(label_file), joints_dir)
    splits = {"xsub": lambda s: "train" if s.subject % 2 else "test"}
    return write_prepared(out_dir, name="utkinect-action3d", layout=get_layout("kinect_v1"), class_names=CLASS_NAMES,
                          items=segments, read=read_segment, preprocessing=preprocessing, splits=splits,
                          unit="segment", **options)
