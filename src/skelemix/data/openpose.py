"""OpenPose JSON output -> prepared clips of 2D skeletons, the main person tracked from frame to frame.

OpenPose writes one JSON file per frame (``{"people": [{"pose_keypoints_2d": [x, y, c] x K, ...}, ...]}``, pixels),
named ``<video>_000000000012_keypoints.json`` by OpenPose itself, ``cam01.0012.json`` or ``012.json`` by others:
frames are ordered by the last number in the name. A folder of such files is one clip; a folder of such folders is
one clip per sub-folder. The model is BODY_25 or BODY_25B (both 25 keypoints, told apart by where joint 1 lies:
BODY_25's neck, far from the nose, or BODY_25B's left eye, next to it) or COCO-18 (18 keypoints), or named with
``model``.

Several people per frame are tracked, missing frames and zero-confidence joints filled in and counted
(``recordings``); an empty ``people`` list is a frame without detection; a clip with no detection at all is an
error naming it.

Example:
    >>> clip = read_openpose_clip(Path("clips/walk_01"))   # doctest: +SKIP
    >>> clip.bodies.shape, clip.layout                     # doctest: +SKIP
    ((1, 90, 25, 3), 'body25')
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .format import DatasetError
from .recordings import Clip, clip_from_detections

MODELS = {"body25": 25, "body25b": 25, "coco18": 18}
LAST_NUMBER = re.compile(r"(\d+)\D*$")


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


def frame_detections(content, where: str, keypoints: int | None = None) -> np.ndarray:
    """One OpenPose frame (``{"people": [{"pose_keypoints_2d": [...]}, ...]}``, parsed) -> detections (P, K, 3) of x,
    y, confidence (P may be 0; K = ``keypoints``, the count earlier frames had, or 0 for an empty frame before any
    had one); DatasetError names ``where`` and the problem, a count other than ``keypoints`` included."""
    try:
        people = content["people"]
        detections = np.array([p["pose_keypoints_2d"] for p in people], dtype=np.float64)
    except (KeyError, TypeError) as error:
        raise DatasetError(f"{where}: not OpenPose output (no people[].pose_keypoints_2d: {error})") from None
    except ValueError:
        raise DatasetError(f"{where}: people with different keypoint counts") from None
    if len(people) == 0:
        return np.zeros((0, keypoints or 0, 3))
    if detections.ndim != 2 or detections.shape[1] % 3:
        raise DatasetError(f"{where}: pose_keypoints_2d is not a list of x, y, confidence triples")
    if keypoints not in (None, detections.shape[1] // 3):
        raise DatasetError(f"{where}: {detections.shape[1] // 3} keypoints, but earlier frames have {keypoints}")
    if not np.isfinite(detections).all():
        raise DatasetError(f"{where}: NaN or infinite keypoints")
    return detections.reshape(len(people), -1, 3)


def read_detections(folder: Path) -> list[np.ndarray]:
    """Per frame, the detections (P, K, 3) of x, y, confidence (P may be 0); DatasetError names file and problem."""
    frames, keypoints = [], None
    for path in frame_files(folder):
        try:
            content = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DatasetError(f"{path}: not valid JSON ({error})") from None
        detections = frame_detections(content, str(path), keypoints)
        keypoints = detections.shape[1] if len(detections) else keypoints
        frames.append(detections)
    if not frames:
        raise DatasetError(f"{folder}: no .json frame files")
    if keypoints is None:
        raise DatasetError(f"{folder}: no person detected in any of its {len(frames)} frames")
    return [f.reshape(len(f), keypoints, 3) for f in frames]


def detect_model(frames: list[np.ndarray], where: Path) -> str:
    """coco18 from 18-keypoint detections; body25 or body25b from 25: joint 1 is BODY_25's neck (about a shoulder
    width from the nose, median ratio 0.74-1.26 on real clips) or BODY_25B's left eye (0.19)."""
    keypoints = next(len(f[0]) for f in frames if len(f))
    if keypoints == 18:
        return "coco18"
    if keypoints != 25:
        raise DatasetError(f"{where}: {keypoints} keypoints per person match no OpenPose model skelemix reads "
                           f"(BODY_25 or BODY_25B, 25 keypoints; COCO-18, 18)")
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


def read_openpose_clip(folder: Path, persons: int = 1, model: str | None = None) -> Clip:
    """One clip folder -> its ``persons`` tracks (persons, T, K, 3) in the model's joint order, gaps filled in."""
    frames = read_detections(folder)
    model = model or detect_model(frames, folder)
    if model not in MODELS:
        raise DatasetError(f"unknown OpenPose model {model!r}; known: {', '.join(MODELS)}")
    count = next(len(f[0]) for f in frames if len(f))
    if MODELS[model] != count:
        raise DatasetError(f"{folder}: {count} keypoints per person, but model {model} has {MODELS[model]}")
    return clip_from_detections(frames, model, persons)


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
