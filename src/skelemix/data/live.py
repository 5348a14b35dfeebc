"""Recordings as lines of text, one frame per line: what a live pose estimator prints, and what ``skelemix replay``
plays back from a recorded clip.

A line holds one frame in the form its source writes it, the format told from the first line that shows one:

==================  ===============================================================  ===========================
format              a line                                                           layout
==================  ===============================================================  ===========================
``openpose``        ``{"people": [{"pose_keypoints_2d": [x, y, c, ...]}, ...]}``      body25, body25b, coco18
``mediapipe``       ``[[x, y, z(, visibility)], ...]``, 33 landmarks; ``[]``: nobody  mediapipe33
``keypoints-json``  ``{"nose": {"x": .., "y": ..}, ...}``, a list of such people, or   coco17, mediapipe33
                    an MMPose frame ``{"frame_id": .., "instances": [...]}``
``kinect-csv``      ``timestamp, 25 x (x, y, z, tracking state)``                     ntu25
==================  ===============================================================  ===========================

:class:`LiveRecording` reads the lines one at a time with the readers' own per-frame parsers, follows people with
the same tracker as the file readers (``recordings.PeopleTracker``) and keeps the last ``window`` frames;
``window_bodies()`` gives them as (M, W, K, 3) with the gaps filled in as the file readers fill them
(``recordings.fill_missing``), from the window's frames and where each joint was last seen before the window: only
a joint missing at the window's end is filled otherwise, held where it was last seen, since the frames after it have
not arrived.

:func:`frame_lines` turns a recorded clip of any reader's format (``clips.FORMATS``) into such lines.

Example:
    >>> recording = LiveRecording(persons=1, window=2)
    >>> for people in ([], [{"pose_keypoints_2d": [1, 2, 0.9, 3, 4, 0.9] * 9}]):   # nobody, then 18 keypoints
    ...     _ = recording.add(json.dumps({"people": people}), "stdin")
    >>> bodies, layout = recording.window_bodies()
    >>> bodies.shape, layout, bodies[0, 0, 0].tolist()    # the first frame filled in from the second, score 0
    ((1, 2, 18, 3), 'coco18', [1.0, 2.0, 0.0])
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Iterator

import numpy as np

from ..layouts import get_layout
from .clips import FORMATS, detect_format
from .format import DatasetError
from .keypoints_json import layout_of_names, mmpose_frame, named_frame
from .kinect_csv import parse_line
from .mediapipe import LANDMARKS, frame_landmarks, frames_from_csv, track_point
from .openpose import detect_model, frame_detections, frame_files
from .recordings import PeopleTracker, fill_missing


def _line_format(content) -> str | None:
    """The format of one parsed line; None while it shows nobody (``[]``, ``null``, ``{}``: any format's empty frame)."""
    if isinstance(content, str):
        return "kinect-csv"
    if isinstance(content, dict):
        if "people" in content:
            return "openpose"
        return "mmpose" if "instances" in content else "keypoints-json" if content else None
    if isinstance(content, list) and content:
        return "mediapipe" if isinstance(content[0], list) else "keypoints-json"
    return None


# the layout each format's frames are in; None: told from the frames (OpenPose's BODY_25 / BODY_25B, named keypoints)
LAYOUTS = {"openpose": None, "mediapipe": "mediapipe33", "keypoints-json": None, "mmpose": "coco17",
           "kinect-csv": "ntu25"}


class LiveRecording:
    """The last ``window`` frames of a recording arriving one line at a time, ``persons`` people tracked."""

    def __init__(self, persons: int, window: int):
        self.persons, self.window = persons, window
        self.format: str | None = None
        self.layout: str | None = None
        self.tracker = PeopleTracker(persons)
        self.frames: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=window)  # (M, K, 3) points, (M, K) seen
        self.count = 0  # frames read
        self.keypoints: int | None = None  # per OpenPose person, told by the first detection
        self.empty_before_shape = 0  # frames showing nobody before the first that tells the format and joint count
        self.last_seen: np.ndarray | None = None  # (M, K, 3) where each joint was last seen before the window
        self.age: np.ndarray | None = None  # (M, K) how many frames before the window that was; 0: never

    def add(self, line: str, where: str) -> bool:
        """Read one line (a frame); False for a blank line, which is no frame."""
        text = line.strip()
        if not text:
            return False
        if text[0] in "[{n":
            try:
                content = json.loads(text)
            except json.JSONDecodeError as error:
                raise DatasetError(f"{where}: not valid JSON ({error})") from None
        else:
            content = text
        line_format = _line_format(content)
        if self.format is None and line_format is not None:
            self.format, self.layout = line_format, LAYOUTS[line_format]
            if line_format == "keypoints-json":
                self.layout = layout_of_names([content], where)
        elif line_format not in (None, self.format) or (line_format is None and self.format == "kinect-csv"):
            raise DatasetError(f"{where}: not in the format of the lines before it ({self.format})")
        self.count += 1
        points = None if self.format is None else self._points(content, where)
        if points is None:  # nobody, and the joints per person are not known yet
            self.empty_before_shape += 1
            return True
        if self.last_seen is None:  # the first frame that tells the joints: the frames of nobody before it are empty
            self.last_seen, self.age = np.zeros_like(points[0]), np.zeros(points[1].shape, dtype=int)
            for _ in range(min(self.empty_before_shape, self.window - 1)):
                self.frames.append((np.zeros_like(points[0]), np.zeros_like(points[1])))
        if len(self.frames) == self.window:  # the oldest frame leaves the window: remember where its joints were
            leaving, leaving_seen = self.frames[0]
            self.age[self.age > 0] += 1
            self.last_seen[leaving_seen], self.age[leaving_seen] = leaving[leaving_seen], 1
        self.frames.append(points)
        return True

    def _points(self, content, where: str) -> tuple[np.ndarray, np.ndarray] | None:
        """One frame's tracked points (M, K, 3) and where each joint was seen (M, K); None for an OpenPose frame
        showing nobody before any frame showed how many keypoints a person has."""
        if self.format == "kinect-csv":
            joints = parse_line(content, where)[1]  # (25, x y z state)
            return joints[None, :, :3], joints[None, :, 3] > 0
        if self.format == "mediapipe":
            landmarks = frame_landmarks(content, where)
            if landmarks is None:
                return np.zeros((1, LANDMARKS, 3)), np.zeros((1, LANDMARKS), dtype=bool)
            return track_point(landmarks, "image")[None], np.ones((1, LANDMARKS), dtype=bool)
        if self.format == "openpose":
            detections = frame_detections(content, where, self.keypoints)
            if self.keypoints is None and not len(detections):
                return None
            self.keypoints = detections.shape[1]
        elif self.format == "mmpose":
            detections = mmpose_frame(content, where)
        else:
            detections = named_frame(content, self.layout, where)
        points = self.tracker.update(detections)
        return points, points[..., 2] > 0

    def window_bodies(self) -> tuple[np.ndarray, str]:
        """The window's bodies (M, W, K, 3), gaps filled in from the window's frames and from where each joint was
        last seen before it, and their layout."""
        if not self.frames:
            raise DatasetError(f"no person in the {self.count} frames read")
        if self.layout is None:  # OpenPose: BODY_25 and BODY_25B are told apart by where the joints lie
            frames = [points for points, _ in self.frames]
            self.layout = detect_model(frames, Path("the stream"))
        points = np.stack([p for p, _ in self.frames], axis=1)
        seen = np.stack([s for _, s in self.frames], axis=1)
        axes = get_layout(self.layout).spatial_channels
        filled = [fill_missing(track, joints_seen, axes, (last_seen, age))[0]
                  for track, joints_seen, last_seen, age in zip(points, seen, self.last_seen, self.age)]
        return np.stack(filled), self.layout


def single_clip(path: Path) -> tuple[str, Path]:
    """The format and the path of the one recorded clip at ``path``; DatasetError for a folder of several."""
    clip_format = detect_format(path)
    clips = FORMATS[clip_format].find(path)
    if len(clips) != 1:
        raise DatasetError(f"{path}: {len(clips)} clips; name one of them")
    return clip_format, clips[0]


def frame_lines(path: Path) -> Iterator[str]:
    """A recorded clip (any format of ``clips.FORMATS``) as one line per frame in its source's live form."""
    clip_format, clip = single_clip(path)
    if clip_format == "openpose":
        for frame in frame_files(clip):
            try:
                yield json.dumps(json.loads(frame.read_text()), separators=(",", ":"))
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise DatasetError(f"{frame}: not valid JSON ({error})") from None
    elif clip_format == "kinect-csv":
        yield from (line for line in clip.read_text().splitlines() if line.strip())
    elif clip.suffix.lower() == ".csv":  # MediaPipe CSV rows -> the landmark lists MediaPipe users print
        for landmarks in frames_from_csv(clip):
            yield json.dumps(None if landmarks is None else landmarks.tolist(), separators=(",", ":"))
    else:
        try:
            frames = json.loads(clip.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DatasetError(f"{clip}: not valid JSON ({error})") from None
        frames = frames["instance_info"] if isinstance(frames, dict) and "instance_info" in frames else frames
        if frames and isinstance(frames[0], dict) and "instances" in frames[0]:  # MMPose: absent ids are empty frames
            by_id = {int(frame.get("frame_id", number)): frame for number, frame in enumerate(frames)}
            frames = [by_id.get(i, {"frame_id": i, "instances": []}) for i in range(min(by_id), max(by_id) + 1)]
        for frame in frames:
            yield json.dumps(frame, separators=(",", ":"))
