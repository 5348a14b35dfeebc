"""Kinect v2 body-tracking CSV -> clips in the NTU RGB+D joint order (the Kinect v2 SDK's, layout ``ntu25``).

Each line is one frame: a timestamp (100 ns ticks, as the SDK gives it), then 25 joints x (x, y, z in metres,
camera space; tracking state 0 not tracked, 1 inferred, 2 tracked); a trailing comma is allowed. One file is one
clip of one body. Joints the camera did not track (state 0) are filled in from the frames where it tracked them
(``recordings.fill_missing``) and counted; inferred joints are kept as the SDK placed them. The frame rate comes
from the timestamps (their median step).

Example:
    >>> clip = read_kinect_csv(Path("Ges01_wavehand.csv"))   # doctest: +SKIP
    >>> clip.bodies.shape, clip.layout, round(clip.frame_rate)   # doctest: +SKIP
    ((1, 154, 25, 3), 'ntu25', 30)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .format import DatasetError
from .recordings import Clip, TrackReport, fill_missing

JOINTS = 25
TICKS_PER_SECOND = 10_000_000


def parse_line(line: str, where: str) -> tuple[float, np.ndarray] | None:
    """One CSV line -> (timestamp, joints (25, 4) of x, y, z, tracking state), None for a blank line."""
    cells = line.strip().rstrip(",").split(",")
    if cells == [""]:
        return None
    if len(cells) != 1 + 4 * JOINTS:
        raise DatasetError(f"{where}: {len(cells)} values, a Kinect v2 frame has {1 + 4 * JOINTS} (timestamp, then "
                           f"25 x (x, y, z, state))")
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        raise DatasetError(f"{where}: a value is not a number") from None
    if not np.isfinite(values).all():
        raise DatasetError(f"{where}: NaN or infinite values")
    return float(values[0]), values[1:].reshape(JOINTS, 4)


def read_kinect_csv(path: Path, persons: int = 1) -> Clip:
    """One CSV file -> a clip of one body (1, T, 25, 3); ``persons`` is accepted for a common reader signature."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not a text CSV file ({error})") from None
    parsed = [parse_line(line, f"{path}: line {number}") for number, line in enumerate(lines, start=1)]
    frames = [frame for frame in parsed if frame is not None]  # (timestamp, joints) of each non-blank line
    if not frames:
        raise DatasetError(f"{path}: no frames")
    times = [time for time, _ in frames]
    joints = np.stack([values for _, values in frames])  # (T, 25, x y z state)
    tracked = joints[..., 3] > 0
    if not tracked.any():
        raise DatasetError(f"{path}: the camera tracked no joint in any of its {len(frames)} frames")
    body, imputed = fill_missing(joints[..., :3], tracked, axes=3)
    steps = np.diff(times)
    frame_rate = float(TICKS_PER_SECOND / np.median(steps)) if len(steps) and np.median(steps) > 0 else None
    report = TrackReport(detections=len(frames), imputed_joints=imputed)
    return Clip(body[None], "ntu25", report, frame_rate)
