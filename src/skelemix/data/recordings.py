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


class PeopleTracker:
    """Follows ``persons`` people from frame to frame, one frame at a time (live input as well as files).

    ``update(detections)`` takes one frame's detections (P, K, 3) of x, y, confidence, P >= 0, and returns the
    tracks' points in that frame (persons, K, 3), zeros where a track has no detection. A track starts on the
    detection with the largest size x mean confidence not taken by an earlier track and is continued by the nearest
    untaken detection within one body size of where it was last seen; ``report`` counts detections and drops."""

    def __init__(self, persons: int = 1):
        self.persons = persons
        self.last: list[tuple[np.ndarray, float] | None] = [None] * persons
        self.report = TrackReport()

    def update(self, detections: np.ndarray) -> np.ndarray:
        points = np.zeros((self.persons, *detections.shape[1:]))
        self.report.detections += len(detections)
        free = list(range(len(detections)))
        for m in range(self.persons):
            if not free:
                break
            shapes = {i: _centre_and_size(detections[i]) for i in free}
            if self.last[m] is None:
                chosen = max(free, key=lambda i: shapes[i][1] * detections[i][:, 2].mean())
            else:
                centre, size = self.last[m]
                chosen = min(free, key=lambda i: np.linalg.norm(shapes[i][0] - centre))
                if np.linalg.norm(shapes[chosen][0] - centre) > max(size, shapes[chosen][1]):
                    continue  # nobody near where this person was: a missing frame
            if shapes[chosen][1] == 0:
                continue
            points[m] = detections[chosen]
            self.last[m] = shapes[chosen]
            free.remove(chosen)
        self.report.dropped += len(free)
        return points


def track_people(frames: list[np.ndarray], persons: int = 1) -> tuple[np.ndarray, TrackReport]:
    """Detections per frame -> (persons, T, K, 3) tracks (zeros where a track has no detection) and counts
    (:class:`PeopleTracker` over the frames)."""
    keypoints = next(len(f[0]) for f in frames if len(f))
    tracker = PeopleTracker(persons)
    tracks = np.stack([tracker.update(f.reshape(len(f), keypoints, 3)) for f in frames], axis=1)
    return tracks, tracker.report


def fill_missing(track: np.ndarray, seen: np.ndarray | None = None, axes: int = 2,
                 before: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, int]:
    """(T, K, 3) -> the first ``axes`` channels interpolated per joint over time where ``seen`` (T, K) is False (by
    default: where the confidence, channel 2, is 0) from the frames where it is True, held at the ends; the other
    channels unchanged. Also returns how many joint-frames were filled. A joint never seen stays as it is.

    ``before``: (points (K, 3), ages (K,)): where each joint was last seen before the track's first frame and how
    many frames before it (0: never), as a live stream remembers frames it no longer holds."""
    filled, count = track.copy(), 0
    frames = np.arange(len(track))
    seen_all = track[..., 2] > 0 if seen is None else seen
    for joint in range(track.shape[1]):
        seen = seen_all[:, joint]
        earlier = before is not None and before[1][joint] > 0
        if seen.all() or not (seen.any() or earlier):
            continue
        for axis in range(axes):
            times, values = frames[seen], track[seen, joint, axis]
            if earlier:
                times, values = np.r_[-before[1][joint], times], np.r_[before[0][joint, axis], values]
            filled[~seen, joint, axis] = np.interp(frames[~seen], times, values)
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
