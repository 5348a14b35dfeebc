"""MediaPipe BlazePose output (33 landmarks) -> clips, in image or world coordinates.

Two files MediaPipe users write, one clip per file:

- JSON: a list of frames, each a list of 33 landmarks ``[x, y, z]`` or ``[x, y, z, visibility]`` (what
  ``landmark`` lists serialise to); an empty list or ``null`` is a frame without detection;
- CSV: a header ``frame, L0_x, L0_y, L0_z, L0_visibility, ..., L32_visibility`` (spaces optional, the visibility
  columns optional), then one row per frame; a row with empty landmark cells is a frame without detection.

``coordinates="image"`` (pixels or MediaPipe's normalised image units) keeps x, y and the visibility as the score
channel (1 where the file has none): layout ``mediapipe33``. ``coordinates="world"`` (``pose_world_landmarks``, metres,
origin between the hips, y pointing down) keeps x, y, z turned 180 degrees about x, so that y points up as in the
other 3D layouts: layout ``mediapipe33_world``. Frames without detection are filled in from their neighbours
(``recordings.fill_missing``) and counted.

Example:
    >>> clip = read_mediapipe_clip(Path("squats.json"), coordinates="world")   # doctest: +SKIP
    >>> clip.bodies.shape, clip.layout                                          # doctest: +SKIP
    ((1, 65, 33, 3), 'mediapipe33_world')
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np

from .format import DatasetError
from .recordings import Clip, TrackReport, fill_missing

LANDMARKS = 33
COORDINATES = ("image", "world")
CSV_COLUMN = re.compile(r"L(\d+)_(x|y|z|visibility)")


def frame_landmarks(frame, where: str) -> np.ndarray | None:
    """One frame as MediaPipe users serialise it (a list of 33 ``[x, y, z(, visibility)]``; ``[]`` or ``None`` when
    nobody was detected) -> landmarks (33, 3 or 4), or None."""
    if frame is None or isinstance(frame, list) and not frame:
        return None
    if not isinstance(frame, list):
        raise DatasetError(f"{where}: not a list of 33 [x, y, z] landmarks (named keypoints, as MoveNet writes, are "
                           f"read by prepare keypoints-json)")
    try:
        landmarks = np.asarray(frame, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: not a list of [x, y, z] landmarks") from None
    if landmarks.ndim != 2 or landmarks.shape[0] != LANDMARKS or landmarks.shape[1] not in (3, 4, 5):
        raise DatasetError(f"{where}: {landmarks.shape[0] if landmarks.ndim else 0} landmarks of shape "
                           f"{landmarks.shape[1:]}, MediaPipe Pose has {LANDMARKS} of [x, y, z(, visibility)]")
    if not np.isfinite(landmarks).all():
        raise DatasetError(f"{where}: NaN or infinite landmarks")
    return landmarks[:, :4]


def track_point(landmarks: np.ndarray, coordinates: str) -> np.ndarray:
    """Landmarks (33, 3 or 4) -> the clip's points (33, 3): image x, y, visibility (1 where absent), or world x, y, z
    turned 180 degrees about x (y up)."""
    if coordinates == "world":
        return landmarks[:, :3] * (1.0, -1.0, -1.0)
    return np.column_stack([landmarks[:, :2], landmarks[:, 3] if landmarks.shape[1] > 3 else np.ones(LANDMARKS)])


def _frames_from_json(path: Path) -> list[np.ndarray | None]:
    try:
        frames = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(frames, list):
        raise DatasetError(f"{path}: not MediaPipe landmarks (expected a list of frames of 33 [x, y, z] lists)")
    return [frame_landmarks(frame, f"{path}: frame {number}") for number, frame in enumerate(frames)]


def frames_from_csv(path: Path) -> list[np.ndarray | None]:
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not a text CSV file ({error})") from None
    if not rows:
        raise DatasetError(f"{path}: empty file")
    header = [cell.strip() for cell in rows[0]]
    columns = {}
    for index, name in enumerate(header):
        match = CSV_COLUMN.fullmatch(name)
        if match:
            columns[(int(match[1]), match[2])] = index
    needed = [(j, axis) for j in range(LANDMARKS) for axis in ("x", "y", "z")]
    if any(key not in columns for key in needed):
        raise DatasetError(f"{path}: not a MediaPipe landmark CSV (the header needs L0_x, L0_y, L0_z ... L32_z)")
    has_visibility = all((j, "visibility") in columns for j in range(LANDMARKS))
    axes = ("x", "y", "z", "visibility") if has_visibility else ("x", "y", "z")
    out = []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):  # one cell too many or too few would shift the values along the row
            raise DatasetError(f"{path}: line {number}: {len(row)} cells, the header has {len(header)}")
        cells = [row[columns[(j, axis)]].strip() for j in range(LANDMARKS) for axis in axes]
        if all(cell in ("", "nan", "NaN") for cell in cells):
            out.append(None)
            continue
        try:
            out.append(np.array(cells, dtype=np.float64).reshape(LANDMARKS, len(axes)))
        except ValueError:
            raise DatasetError(f"{path}: line {number}: a landmark cell is not a number") from None
    return out


def read_mediapipe_clip(path: Path, persons: int = 1, coordinates: str = "image") -> Clip:
    """One .json or .csv file -> a clip of one body (1, T, 33, 3); ``persons`` is accepted for a common reader
    signature (BlazePose tracks one person)."""
    if coordinates not in COORDINATES:
        raise DatasetError(f"coordinates must be image or world, got {coordinates!r}")
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    frames = frames_from_csv(path) if path.suffix.lower() == ".csv" else _frames_from_json(path)
    if not frames:
        raise DatasetError(f"{path}: no frames")
    if all(frame is None for frame in frames):
        raise DatasetError(f"{path}: no person detected in any of its {len(frames)} frames")
    track = np.zeros((len(frames), LANDMARKS, 3))
    seen = np.zeros((len(frames), LANDMARKS), dtype=bool)
    for t, frame in enumerate(frames):
        if frame is not None:
            if not np.isfinite(frame).all():
                raise DatasetError(f"{path}: frame {t}: NaN or infinite landmarks")
            track[t], seen[t] = track_point(frame, coordinates), True
    track, imputed = fill_missing(track, seen, axes=2 if coordinates == "image" else 3)
    report = TrackReport(detections=int(seen.any(axis=1).sum()), missing_frames=int((~seen.any(axis=1)).sum()),
                         imputed_joints=imputed)
    return Clip(track[None], "mediapipe33" if coordinates == "image" else "mediapipe33_world", report)
