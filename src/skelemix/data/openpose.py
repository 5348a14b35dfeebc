"""OpenPose JSON output -> prepared clips of 2D skeletons, the main person tracked from frame to frame.

OpenPose writes one JSON file per frame (``{"people": [{"pose_keypoints_2d": [x, y, c] x K, ...}, ...]}``, pixels),
named ``<video>_000000000012_keypoints.json`` by OpenPose itself, ``cam01.0012.json`` or ``012.json`` by others:
frames are ordered by the last number in the name. A folder of such files is one clip; a folder of such folders is
one clip per sub-folder. The model is BODY_25 or BODY_25B (both 25 keypoints, told apart by where joint 1 lies:
BODY_25's neck, far from the nose, or BODY_25B's left eye, next to it), or named with ``model``.

Real output is messy, and each problem is handled and counted in the dataset's ``dataset.json`` (``source``):

- several people in a frame: one track per kept person (``persons``, 1 by default), started on the largest, most
  confident detection and continued in each frame by the detection nearest to where the track was last seen
  (within one body size); detections no track takes are dropped;
- frames where a track has no detection, and joints with zero confidence: their x and y are interpolated linearly
  from the frames where that joint was seen (held at the ends); the score channel keeps the estimator's confidence,
  0 for every filled-in value, so the model can tell them apart;
- an empty ``people`` list is a frame without detection; a clip with no detection at all is an error naming it.

Example:
    >>> report = prepare_openpose("clips/", "prepared/mine", labels="labels.csv", layout="coco17")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..layouts import JOINT_MAPPINGS, get_layout, map_joints
from .format import DatasetError, PrepareReport, RawSample, Sample, write_prepared
from .preprocess import Preprocessing

MODELS = {"body25": 25, "body25b": 25}
LAST_NUMBER = re.compile(r"(\d+)\D*$")
UNLABELLED = "unlabelled"


def frame_files(folder: Path) -> list[Path]:
    """The folder's JSON files in frame order (the last number of each name); DatasetError if one has none."""
    files = [p for p in folder.iterdir() if p.suffix == ".json"]
    numbered = []
    for path in files:
        match = LAST_NUMBER.search(path.stem.removesuffix("_keypoints"))
        if match is None:
            raise DatasetError(f"{path}: no frame number in the file name")
        numbered.append((int(match[1]), path))
    numbered.sort()
    return [path for _, path in numbered]


def read_detections(folder: Path) -> list[np.ndarray]:
    """Per frame, the detections (P, K, 3) of x, y, confidence (P may be 0); DatasetError names file and problem."""
    frames, keypoints = [], None
    for path in frame_files(folder):
        try:
            people = json.loads(path.read_text())["people"]
            detections = np.array([p["pose_keypoints_2d"] for p in people], dtype=np.float64)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DatasetError(f"{path}: not valid JSON ({error})") from None
        except (KeyError, TypeError) as error:
            raise DatasetError(f"{path}: not OpenPose output (no people[].pose_keypoints_2d: {error})") from None
        except ValueError:
            raise DatasetError(f"{path}: people with different keypoint counts") from None
        if len(people) == 0:
            frames.append(np.zeros((0, keypoints or 0, 3)))
            continue
        if detections.ndim != 2 or detections.shape[1] % 3:
            raise DatasetError(f"{path}: pose_keypoints_2d is not a list of x, y, confidence triples")
        count = detections.shape[1] // 3
        if keypoints not in (None, count):
            raise DatasetError(f"{path}: {count} keypoints, but earlier frames have {keypoints}")
        if not np.isfinite(detections).all():
            raise DatasetError(f"{path}: NaN or infinite keypoints")
        keypoints = count
        frames.append(detections.reshape(len(people), count, 3))
    if not frames:
        raise DatasetError(f"{folder}: no .json frame files")
    if keypoints is None:
        raise DatasetError(f"{folder}: no person detected in any of its {len(frames)} frames")
    return [f.reshape(len(f), keypoints, 3) for f in frames]


def detect_model(frames: list[np.ndarray], where: Path) -> str:
    """body25 or body25b from 25-keypoint detections: joint 1 is BODY_25's neck (about a shoulder width from the
    nose, median ratio 0.74-1.26 on real clips) or BODY_25B's left eye (0.19)."""
    keypoints = next(len(f[0]) for f in frames if len(f))
    if keypoints != 25:
        raise DatasetError(f"{where}: {keypoints} keypoints per person match no OpenPose model skelemix reads "
                           f"(BODY_25 or BODY_25B, 25 keypoints)")
    ratios = []
    for detections in frames:
        for k in detections:
            if (k[[0, 1, 2, 5], 2] > 0).all():
                shoulders = np.linalg.norm(k[5, :2] - k[2, :2])
                ratios.append(np.linalg.norm(k[1, :2] - k[0, :2]) / max(shoulders, 1e-9))
    if not ratios:
        raise DatasetError(f"{where}: cannot tell BODY_25 from BODY_25B (no frame shows the nose, joint 1 and both "
                           f"joints 2 and 5); name the model with --model")
    return "body25" if np.median(ratios) > 0.4 else "body25b"


@dataclass
class TrackReport:
    detections: int = 0  # detections in the clip
    dropped: int = 0  # detections no track took (other people, spurious boxes)
    missing_frames: int = 0  # frames in which a track had no detection (filled in)
    imputed_joints: int = 0  # joint-frames filled in (missing frames and zero-confidence joints)


def _centre_and_size(detection: np.ndarray) -> tuple[np.ndarray, float]:
    seen = detection[detection[:, 2] > 0, :2]
    if len(seen) == 0:
        return np.zeros(2), 0.0
    return seen.mean(axis=0), float(np.linalg.norm(seen.max(axis=0) - seen.min(axis=0)))


def track_people(frames: list[np.ndarray], persons: int = 1) -> tuple[np.ndarray, TrackReport]:
    """Detections per frame -> (persons, T, K, 3) tracks (zeros where a track has no detection) and counts.

    A track starts on the detection with the largest size x mean confidence not taken by an earlier track and is
    continued by the nearest untaken detection within one body size of where it was last seen."""
    keypoints = next(len(f[0]) for f in frames if len(f))
    tracks = np.zeros((persons, len(frames), keypoints, 3))
    last: list[tuple[np.ndarray, float] | None] = [None] * persons
    report = TrackReport()
    for t, detections in enumerate(frames):
        report.detections += len(detections)
        free = list(range(len(detections)))
        for m in range(persons):
            if not free:
                break
            shapes = {i: _centre_and_size(detections[i]) for i in free}
            if last[m] is None:
                chosen = max(free, key=lambda i: shapes[i][1] * detections[i][:, 2].mean())
            else:
                centre, size = last[m]
                chosen = min(free, key=lambda i: np.linalg.norm(shapes[i][0] - centre))
                if np.linalg.norm(shapes[chosen][0] - centre) > max(size, shapes[chosen][1]):
                    continue  # nobody near where this person was: a missing frame
            if shapes[chosen][1] == 0:
                continue
            tracks[m, t] = detections[chosen]
            last[m] = shapes[chosen]
            free.remove(chosen)
        report.dropped += len(free)
    return tracks, report


def fill_missing(track: np.ndarray) -> tuple[np.ndarray, int]:
    """(T, K, 3) with confidence 0 where unseen -> x and y interpolated per joint over time from the frames where it
    was seen (held at the ends), confidence unchanged; and how many joint-frames were filled. A joint never seen
    stays at zero."""
    filled, count = track.copy(), 0
    frames = np.arange(len(track))
    for joint in range(track.shape[1]):
        seen = track[:, joint, 2] > 0
        if seen.all() or not seen.any():
            continue
        for axis in range(2):
            filled[~seen, joint, axis] = np.interp(frames[~seen], frames[seen], track[seen, joint, axis])
        count += int((~seen).sum())
    return filled, count


def read_openpose_clip(folder: Path, model: str | None = None, persons: int = 1
                       ) -> tuple[np.ndarray, str, TrackReport]:
    """One clip folder -> (persons, T, K, 3) coordinates in the model's joint order, the model, and its counts."""
    frames = read_detections(folder)
    model = model or detect_model(frames, folder)
    count = next(len(f[0]) for f in frames if len(f))
    if MODELS.get(model) != count:
        raise DatasetError(f"{folder}: {count} keypoints per person, but model {model} has {MODELS.get(model)}")
    tracks, report = track_people(frames, persons)
    report.missing_frames = int((tracks[..., 2].max(axis=2) == 0).sum())
    bodies = []
    for track in tracks:
        filled, imputed = fill_missing(track)
        report.imputed_joints += imputed
        bodies.append(filled)
    return np.stack(bodies), model, report


def clip_folders(path: Path) -> list[Path]:
    """A folder of frame files is one clip; a folder of such folders is one clip per sub-folder."""
    if not path.is_dir():
        raise DatasetError(f"{path}: no such directory")
    if any(p.suffix == ".json" for p in path.iterdir()):
        return [path]
    folders = sorted(p for p in path.iterdir() if p.is_dir())
    if not folders:
        raise DatasetError(f"{path}: neither OpenPose .json frame files nor folders of them")
    return folders


def read_labels(path: Path) -> dict[str, tuple[str, str]]:
    """``clip,action[,split]`` rows (a header line of ``clip,action`` is skipped) -> {clip: (action, split)}."""
    labels = {}
    with path.open(newline="") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if not row or (number == 1 and row[:2] == ["clip", "action"]):
                continue
            if len(row) not in (2, 3) or not row[0] or not row[1]:
                raise DatasetError(f"{path}: line {number}: expected clip,action[,split], got {','.join(row)!r}")
            split = row[2] if len(row) == 3 else "train"
            if split not in ("train", "test"):
                raise DatasetError(f"{path}: line {number}: split must be train or test, got {split!r}")
            labels[row[0]] = (row[1], split)
    return labels


def prepare_openpose(source: str | Path, out_dir: str | Path, labels: str | Path | None = None,
                     model: str | None = None, layout: str | None = None,
                     preprocessing: Preprocessing = Preprocessing(frames=64, centring="frame", rotate=False, persons=1),
                     **options) -> PrepareReport:
    """Prepare every clip under ``source``. ``labels``: a CSV of clip,action[,split] (benchmark ``labelled``;
    without it every clip is unlabelled, benchmark ``all``, for pretraining, embed and predict). ``layout``: the
    prepared joints, the model's own (default) or one it maps to (``coco17``). ``options`` go to write_prepared;
    the tracking counts go to dataset.json (``source``)."""
    source = Path(source)
    if model is not None and model not in MODELS:
        raise DatasetError(f"unknown OpenPose model {model!r}; known: {', '.join(MODELS)}")
    clips = clip_folders(source)
    label_of = read_labels(Path(labels)) if labels else {}
    unknown = sorted(set(label_of) - {c.name for c in clips})
    if unknown:
        raise DatasetError(f"{labels}: clips not found under {source}: {', '.join(unknown[:5])}")
    if label_of:
        clips = [c for c in clips if c.name in label_of]
    class_names = sorted({action for action, _ in label_of.values()}) or [UNLABELLED]
    read_clips: dict[Path, tuple | DatasetError] = {}
    for folder in clips:  # read first, so that the counts can go into dataset.json
        try:
            read_clips[folder] = read_openpose_clip(folder, model, preprocessing.persons)
        except DatasetError as error:
            read_clips[folder] = error
    models = {r[1] for r in read_clips.values() if not isinstance(r, DatasetError)}
    if len(models) > 1:
        raise DatasetError(f"{source}: clips of different models ({', '.join(sorted(models))}); prepare them apart "
                           f"or name one with --model")
    source_model = models.pop() if models else model or "body25"
    target = layout or source_model
    if target != source_model and (source_model, target) not in JOINT_MAPPINGS:
        raise DatasetError(f"no joint mapping from {source_model} to {target}; known: "
                           f"{', '.join(f'{a} -> {b}' for a, b in JOINT_MAPPINGS)}")

    def read(folder: Path) -> list[RawSample]:
        result = read_clips[folder]
        if isinstance(result, DatasetError):
            raise result
        bodies, _, _ = result
        action, _ = label_of.get(folder.name, (UNLABELLED, "train"))
        sample = Sample(folder.name, class_names.index(action), 0, 0, bodies.shape[1])
        return [(sample, map_joints(bodies, source_model, target))]

    reports = [r[2] for r in read_clips.values() if not isinstance(r, DatasetError)]
    counts = {key: sum(getattr(r, key) for r in reports) for key in TrackReport.__dataclass_fields__}
    splits = {"labelled": lambda s: label_of[s.name][1]} if label_of else None
    return write_prepared(out_dir, name=source.name, layout=get_layout(target), class_names=class_names,
                          items=clips, read=read, preprocessing=preprocessing, splits=splits,
                          **{**options, "workers": 0},
                          info={"source": {"format": "openpose", "model": source_model, **counts}})
