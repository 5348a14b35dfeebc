"""PKU-MMD (Liu et al., 2017): long skeleton sequences plus interval labels -> one prepared sample per interval.

A skeleton file (``0002-L.txt`` in part I, ``A01N01-L.txt`` in part II) has one row per frame of 150 floats:
2 bodies x 25 joints (NTU order) x (x, y, z), the second body all zero when one person is present. The label
file of the same name in the label directory has rows ``action_id,start_frame,end_frame,confidence``; each
row becomes the sample ``<video>_<row>`` of frames ``start..end-1`` (0-based, end exclusive: rows
``[start:end]`` of the skeleton file, as the reference code slices them). Views come from the L/M/R suffix
(1, 2, 3); subjects are not in PKU-MMD's file names and are recorded as 0.

Benchmarks come from the dataset's own split files (``cross-subject.txt``, ``cross-view.txt``): a line
``Training videos:``, the training video names separated by commas, a ``Validation videos:`` line and the
test names. Videos in neither list are not used by that benchmark.

Example:
    >>> prepare_pku_mmd("PKU-MMD/skeleton", "PKU-MMD/label", "prepared/pku-mmd-1",
    ...                 splits={"xsub": "cross-subject.txt", "xview": "cross-view.txt"})   # doctest: +SKIP
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..layouts import get_layout
from .format import DatasetError, PrepareReport, RawSample, Sample, input_files, write_prepared
from .preprocess import Preprocessing, valid_frame_count

CLASS_NAMES = (
    "bow", "brushing hair", "brushing teeth", "check time (from watch)", "cheer up", "clapping",
    "cross hands in front (say stop)", "drink water", "drop", "eat meal/snack", "falling",
    "giving something to other person", "hand waving", "handshaking", "hopping (one foot jumping)",
    "hugging other person", "jump up", "kicking other person", "kicking something", "make a phone call/answer phone",
    "pat on back of other person", "pickup", "playing with phone/tablet", "point finger at the other person",
    "pointing to something with finger", "punching/slapping other person", "pushing other person",
    "put on a hat/cap", "put something inside pocket", "reading", "rub two hands together", "salute",
    "sitting down", "standing up", "take off a hat/cap", "take off glasses", "take off jacket",
    "take out something from pocket", "taking a selfie", "tear up paper", "throw", "touch back (backache)",
    "touch chest (stomachache/heart pain)", "touch head (headache)", "touch neck (neckache)", "typing on a keyboard",
    "use a fan (with hand or paper)/feeling warm", "wear jacket", "wear on glasses", "wipe face", "writing",
)
VIEWS = {"L": 1, "M": 2, "R": 3}
VALUES_PER_ROW = 150


@dataclass(frozen=True)
class Video:
    """One skeleton file and its label file."""

    skeleton: Path
    labels: Path

    def __str__(self) -> str:
        return str(self.skeleton)


def read_label_file(path: Path) -> tuple[tuple[int, int, int], ...]:
    """Rows ``action_id,start_frame,end_frame[,confidence]`` -> ((action_id, start, end), ...)."""
    intervals = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            action, start, end = (int(v) for v in line.split(",")[:3])
        except ValueError:
            raise DatasetError(f"{path}: line {number}: expected action_id,start_frame,end_frame[,confidence], "
                               f"got {line.strip()!r}") from None
        intervals.append((action, start, end))
    return tuple(intervals)


def read_video(video: Video) -> list[RawSample]:
    """Every interval of a video -> [(sample, coordinates (2, end-start, 25, 3))]."""
    intervals = read_label_file(video.labels)
    try:
        lines = [line.split() for line in video.skeleton.read_bytes().splitlines() if line.strip()]
    except OSError as error:
        raise DatasetError(f"{video.skeleton}: unreadable ({error.strerror})") from None
    for number, values in enumerate(lines, 1):
        if len(values) != VALUES_PER_ROW:
            raise DatasetError(f"{video.skeleton}: row {number} has {len(values)} values, expected {VALUES_PER_ROW} "
                               f"(2 bodies x 25 joints x 3)")
    try:
        rows = np.array(lines, dtype=np.float64).reshape(-1, VALUES_PER_ROW)
    except ValueError as error:
        raise DatasetError(f"{video.skeleton}: malformed value ({error})") from None
    bodies = rows.reshape(len(rows), 2, 25, 3).transpose(1, 0, 2, 3)  # (2, T, 25, 3)
    stem = video.skeleton.stem
    view = VIEWS.get(stem.rsplit("-", 1)[-1], 0)
    samples = []
    for row, (action, start, end) in enumerate(intervals, 1):
        name = f"{stem}_{row:03d}"
        if not 1 <= action <= len(CLASS_NAMES):
            raise DatasetError(f"{video.labels}: interval {row}: action {action} outside 1..{len(CLASS_NAMES)}")
        if not 0 <= start < end <= len(rows):
            raise DatasetError(f"{video.skeleton}: interval {row} ({start}-{end}) is outside the file's "
                               f"{len(rows)} frames or empty")
        interval = bodies[:, start:end]
        samples.append((Sample(name, action - 1, 0, view, valid_frame_count(interval)), interval))
    return samples


def read_split_file(path: str | Path) -> dict[str, str]:
    """A PKU-MMD split file -> {video name: "train" | "test"}."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise DatasetError(f"{path}: unreadable split file ({error.strerror})") from None
    sections = re.split(r"^\s*(Training|Valid\w*|Test\w*) videos\s*:\s*$", text, flags=re.MULTILINE | re.IGNORECASE)
    if len(sections) != 5:
        raise DatasetError(f"{path}: expected a 'Training videos:' and a 'Validation videos:' section")
    parts = {}
    for header, names in zip(sections[1::2], sections[2::2]):
        part = "train" if header.lower() == "training" else "test"
        parts.update({n.strip(): part for n in names.split(",") if n.strip()})
    return parts


def prepare_pku_mmd(skeleton_dir: str | Path, label_dir: str | Path, out_dir: str | Path, part: int = 1,
                    splits: dict[str, str | Path] | None = None, preprocessing: Preprocessing = Preprocessing(),
                    **options) -> PrepareReport:
    """One sample per labelled interval of every skeleton file that has a label file.

    ``splits`` maps benchmark names to PKU-MMD split files. ``options`` go to :func:`write_prepared`.
    """
    if part not in (1, 2):
        raise ValueError(f"PKU-MMD part must be 1 or 2, got {part}")
    skeletons = input_files(skeleton_dir, ".txt")
    labels = {p.name: p for p in input_files(label_dir, ".txt")}
    videos = [Video(s, labels[s.name]) for s in skeletons if s.name in labels]
    if not videos:
        raise DatasetError(f"{label_dir}: no label file matches a skeleton file of {skeleton_dir}")
    rules = {}
    for benchmark, split_file in (splits or {}).items():
        parts = read_split_file(split_file)
        rules[benchmark] = lambda s, parts=parts: parts.get(s.name.rsplit("_", 1)[0])
    return write_prepared(out_dir, name=f"pku-mmd-{part}", layout=get_layout("ntu25"), class_names=CLASS_NAMES,
                          items=videos, read=read_video, preprocessing=preprocessing, splits=rules, unit="video",
                          info={"unlabelled_videos": len(skeletons) - len(videos)}, **options)
