"""What every recording of a pose estimator or depth camera becomes, and the real-data problems they share.

A ``Clip`` is one recording read into (M, T, K, 3) bodies in its source's own joint order (x, y, score for 2D
sources, pixels or normalised image units; x, y, z for 3D ones, metres), the name of that layout, the counts of what
had to be repaired, and the frame rate where the file records time. The readers (``openpose``, ``mediapipe``,
``keypoints_json``, ``kinect_csv``) produce clips; ``clips`` turns them into prepared datasets and model inputs.

Shared repairs:
- several people in a frame: ``track_people`` keeps ``persons`` tracks (1 by default), started on the largest, most
  confident detection and continued in each frame by the detection nearest to where the track was last seen (within
  one body size); detections no track takes are dropped and counted;
- frames where a track has no detection, and joints with zero confidence (or a camera's "not tracked" state):
  ``fill_missing`` interpolates them linearly per joint from the frames where that joint was seen (held at the
  ends); the score channel of 2D sources keeps the estimator's confidence, 0 for every filled-in value, so that a
  model can tell them apart.

Example:
    >>> track = np.zeros((3, 1, 3)); track[0, 0] = (0, 0, 1); track[2, 0] = (2, 4, 1)
    >>> fill_missing(track)[0][1, 0].tolist(), fill_missing(track)[1]
    ([1.0, 2.0, 0.0], 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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


def fill_missing(track: np.ndarray, seen: np.ndarray | None = None, axes: int = 2) -> tuple[np.ndarray, int]:
    """(T, K, 3) -> the first ``axes`` channels interpolated per joint over time where ``seen`` (T, K) is False (by
    default: where the confidence, channel 2, is 0) from the frames where it is True, held at the ends; the other
    channels unchanged. Also returns how many joint-frames were filled. A joint never seen stays as it is."""
    filled, count = track.copy(), 0
    frames = np.arange(len(track))
    seen_all = track[..., 2] > 0 if seen is None else seen
    for joint in range(track.shape[1]):
        seen = seen_all[:, joint]
        if seen.all() or not seen.any():
            continue
        for axis in range(axes):
            filled[~seen, joint, axis] = np.interp(frames[~seen], frames[seen], track[seen, joint, axis])
        count += int((~seen).sum())
    return filled, count


@dataclass
class Clip:
    """One recording: ``bodies`` (M, T, K, 3) in the joint order of layout ``layout``; ``report`` its repairs;
    ``frame_rate`` in frames per second when the source records time (None otherwise)."""

    bodies: np.ndarray
    layout: str
    report: TrackReport = field(default_factory=TrackReport)
    frame_rate: float | None = None


def clip_from_detections(detections: list[np.ndarray], layout: str, persons: int = 1) -> Clip:
    """Per-frame detections (P_t, K, 3), P_t >= 0 -> the clip of ``persons`` tracks, gaps filled in and counted."""
    tracks, report = track_people(detections, persons)
    report.missing_frames = int((tracks[..., 2].max(axis=2) == 0).sum())
    bodies = []
    for track in tracks:
        filled, imputed = fill_missing(track)
        report.imputed_joints += imputed
        bodies.append(filled)
    return Clip(np.stack(bodies), layout, report)
