"""Named or listed 2D keypoints in JSON (MoveNet, tfjs pose-detection, MMPose) -> clips, several people tracked.

One file is one clip. Two shapes are read:

- named keypoints, one entry per frame: ``{"nose": {"x": .., "y": .., "score": ..}, ...}`` (one person; the score
  optional) or a list of people, each such a dict or tfjs's ``{"keypoints": [{"name", "x", "y", "score"}, ...]}``.
  The names choose the layout: COCO-17 (MoveNet, MMPose's names) or MediaPipe-33 (tfjs BlazePose); a joint a
  frame does not name is unseen there;
- MMPose inferencer output: ``[{"frame_id": .., "instances": [{"keypoints": [[x, y], ...], "keypoint_scores":
  [...]}, ...]}, ...]`` or the same list under ``"instance_info"``, with 17 keypoints (COCO-17) or a model whose
  first 17 are COCO-17's (Halpe-26, COCO-WholeBody-133; the rest are dropped). Frame ids that do not appear are
  frames without detection.

People are tracked and gaps filled in as for every estimator (``recordings``).

Example:
    >>> clip = read_keypoints_clip(Path("movenet/pose_1.json"))   # doctest: +SKIP
    >>> clip.bodies.shape, clip.layout                            # doctest: +SKIP
    ((1, 120, 17, 3), 'coco17')
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..layouts import get_layout
from .format import DatasetError
from .recordings import Clip, clip_from_detections

NAMED_LAYOUTS = ("coco17", "mediapipe33")
MMPOSE_COCO_PREFIX = (17, 26, 133)  # COCO-17, Halpe-26, COCO-WholeBody: the first 17 keypoints are COCO-17's


def _named_person(person, names: dict[str, int], where: str) -> np.ndarray:
    if isinstance(person, dict) and isinstance(person.get("keypoints"), list):
        person = {point.get("name"): point for point in person["keypoints"] if isinstance(point, dict)}
    if not isinstance(person, dict):
        raise DatasetError(f"{where}: a person is not a dict of named keypoints")
    out = np.zeros((len(names), 3))
    for name, point in person.items():
        if name not in names:
            raise DatasetError(f"{where}: unknown keypoint name {name!r}")
        try:
            out[names[name]] = (float(point["x"]), float(point["y"]), float(point.get("score", 1.0)))
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{where}: keypoint {name!r} has no numeric x and y") from None
    return out


def layout_of_names(frames: list, where: str) -> str:
    """The layout whose joint names include every keypoint name of the first frames (COCO-17, MediaPipe-33)."""
    seen: set[str] = set()
    for frame in frames[:10]:
        for person in frame if isinstance(frame, list) else [frame]:
            if isinstance(person, dict) and isinstance(person.get("keypoints"), list):
                seen |= {p.get("name") for p in person["keypoints"] if isinstance(p, dict)}
            elif isinstance(person, dict):
                seen |= set(person)
    for name in NAMED_LAYOUTS:
        if seen and seen <= set(get_layout(name).joint_names):
            return name
    raise DatasetError(f"{where}: keypoint names {sorted(map(str, seen))[:4]}... match no layout skelemix reads by "
                       f"name ({', '.join(NAMED_LAYOUTS)})")


def named_frame(frame, layout: str, where: str) -> np.ndarray:
    """One frame of named keypoints (a person's dict, a list of people, or empty) -> detections (P, K, 3)."""
    names = {name: j for j, name in enumerate(get_layout(layout).joint_names)}
    people = frame if isinstance(frame, list) else [frame] if frame else []
    return (np.stack([_named_person(p, names, where) for p in people]) if people
            else np.zeros((0, len(names), 3)))


def mmpose_frame(frame, where: str) -> np.ndarray:
    """One MMPose frame (``{"instances": [{"keypoints", "keypoint_scores"}, ...]}``) -> COCO-17 detections (P, 17, 3)."""
    try:
        people = [np.column_stack([np.asarray(i["keypoints"], dtype=np.float64)[:, :2],
                                   np.asarray(i.get("keypoint_scores", np.ones(len(i["keypoints"]))),
                                              dtype=np.float64)])
                  for i in frame["instances"]]
    except (KeyError, TypeError, ValueError, IndexError):
        raise DatasetError(f"{where}: not MMPose instances (keypoints [[x, y], ...], keypoint_scores)") from None
    for person in people:
        if len(person) not in MMPOSE_COCO_PREFIX:
            raise DatasetError(f"{where}: {len(person)} keypoints match no layout skelemix reads (17: COCO-17, or "
                               f"26 / 133 whose first 17 are COCO-17's)")
    return np.stack([p[:17] for p in people]) if people else np.zeros((0, 17, 3))


def _named_detections(frames: list, path: Path) -> tuple[list[np.ndarray], str]:
    layout = layout_of_names(frames, str(path))
    return [named_frame(frame, layout, f"{path}: frame {number}") for number, frame in enumerate(frames)], layout


def _mmpose_detections(frames: list, path: Path) -> tuple[list[np.ndarray], str]:
    by_id: dict[int, np.ndarray] = {}
    for number, frame in enumerate(frames):
        where = f"{path}: frame {number}"
        detections = mmpose_frame(frame, where)
        try:
            by_id[int(frame.get("frame_id", number))] = detections
        except (TypeError, ValueError):
            raise DatasetError(f"{where}: frame_id {frame.get('frame_id')!r} is not an integer") from None
    first, last = min(by_id), max(by_id)
    return [by_id.get(i, np.zeros((0, 17, 3))) for i in range(first, last + 1)], "coco17"


def read_keypoints_clip(path: Path, persons: int = 1) -> Clip:
    """One JSON file -> (persons, T, K, 3) tracks in its layout's joint order, gaps filled in, and counts."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        frames = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: not valid JSON ({error})") from None
    if isinstance(frames, dict) and isinstance(frames.get("instance_info"), list):
        frames = frames["instance_info"]
    if not isinstance(frames, list) or not frames:
        raise DatasetError(f"{path}: not keypoints JSON (expected a non-empty list of frames)")
    mmpose = isinstance(frames[0], dict) and "instances" in frames[0]
    detections, layout = (_mmpose_detections if mmpose else _named_detections)(frames, path)
    if not any(len(d) for d in detections):
        raise DatasetError(f"{path}: no person detected in any of its {len(detections)} frames")
    for number, frame in enumerate(detections):
        if not np.isfinite(frame).all():
            raise DatasetError(f"{path}: frame {number}: NaN or infinite keypoints")
    return clip_from_detections(detections, layout, persons)
