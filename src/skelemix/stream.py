"""Live recognition: a classifier over a sliding window of poses that arrive one frame per line
(``skelemix predict MODEL --stream -``), and the replay of a recorded clip at its frame rate (``skelemix replay``).

The lines are any pose source's per-frame output (``data.live``). Once ``window`` frames have arrived, and then every
``hop`` frames, the last ``window`` frames are preprocessed as the model's training data and classified: the same
windows as ``skelemix predict --window W --stride HOP`` on the whole recording, starting at frames 0, HOP, 2 HOP...
Each prediction carries the stream time of its last frame (seconds since the first line arrived) and the latency
from that frame's arrival to the prediction.

Example:
    >>> for line in replay(Path("Ges01_wavehand.csv"), fps=30):                         # doctest: +SKIP
    ...     print(line)
    >>> predictor = load_predictor("linear-classifier.pt")                                 # doctest: +SKIP
    >>> for p in stream_predictions(predictor, sys.stdin, window=64, hop=8):                # doctest: +SKIP
    ...     print(p["start"], p["top"][0]["class"], p["latency_ms"])
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple

import numpy as np
import torch

from .data.clips import read_clip
from .data.format import DatasetError
from .data.live import LiveRecording, frame_lines, single_clip
from .data.preprocess import Preprocessing
from .inference import model_input, top_classes
from .layouts import SkeletonLayout, get_layout, map_joints

DEFAULT_FPS = 30.0  # where a recording does not say its frame rate


class StreamWindow(NamedTuple):
    start: int  # the window's first frame
    arrival: float  # when its last frame arrived (time.perf_counter)
    time: float  # that, in seconds since the stream's first frame arrived
    input: np.ndarray  # the model input (3, T, V, M)


def stream_inputs(lines: Iterable[str], layout: SkeletonLayout, preprocessing: Preprocessing, window: int = 64,
                  hop: int = 8, source: str = "-") -> Iterator[StreamWindow]:
    """The model input of the last ``window`` frames once they have arrived and then every ``hop`` frames.
    DatasetError for a bad line, naming ``source`` and the line, or for a stream shorter than the window."""
    if window < 1 or hop < 1:
        raise ValueError(f"window and hop must be positive frame counts, got {window} and {hop}")
    recording = LiveRecording(preprocessing.persons, window)
    hops, first_arrival = 0, None
    for number, line in enumerate(lines, start=1):
        arrival = time.perf_counter()
        where = f"{source}: line {number}"
        if not recording.add(line, where):
            continue
        first_arrival = first_arrival or arrival
        if recording.count < window or (recording.count - window) % hop:
            continue
        bodies, source_layout = recording.window_bodies()
        try:
            bodies = map_joints(bodies, source_layout, layout.name)
        except ValueError as error:
            raise DatasetError(f"{where}: {error}") from None
        hops += 1
        yield StreamWindow(recording.count - window, arrival, arrival - first_arrival,
                           model_input(bodies, layout, preprocessing, where))
    if not hops:
        raise DatasetError(f"{source}: {recording.count} frames, fewer than the window of {window}: no prediction")


@torch.inference_mode()
def stream_predictions(predictor: tuple[dict, Callable[[torch.Tensor], torch.Tensor]], lines: Iterable[str],
                       window: int = 64, hop: int = 8, top_k: int = 5, source: str = "-") -> Iterator[dict]:
    """One prediction per hop over the poses in ``lines`` by ``predictor`` (``inference.load_predictor``'s (info,
    function), loaded once, before the stream starts): {"name": "<source>@<first frame>", "start", "end" (the
    window's first and last frame), "time" (s since the first line), "latency_ms" (from the arrival of the window's
    last frame), "top": [{"class", "label", "probability"}, ...]}."""
    info, function = predictor
    layout, preprocessing = get_layout(info["layout"]), Preprocessing(**info["preprocessing"])
    for w in stream_inputs(lines, layout, preprocessing, window, hop, source):
        top = top_classes(function(torch.from_numpy(w.input[None])), info, top_k)[0]
        yield {"name": f"{source}@{w.start}", "start": w.start, "end": w.start + window - 1, "time": round(w.time, 4),
               "latency_ms": round(1000 * (time.perf_counter() - w.arrival), 3), "top": top}


def replay(path: Path, fps: float | None = None) -> Iterator[str]:
    """The frames of a recorded clip as lines (``data.live.frame_lines``), each released at its time: ``fps`` frames
    per second (default: the rate the recording records, else 30); 0 releases them at once."""
    if fps is not None and fps < 0:
        raise ValueError(f"fps must be >= 0, got {fps}")
    clip_format, clip = single_clip(path)
    lines = frame_lines(clip)
    if fps is None:
        fps = read_clip(clip, clip_format=clip_format).frame_rate or DEFAULT_FPS
    start = time.perf_counter()
    for number, line in enumerate(lines):
        if fps:
            time.sleep(max(0.0, start + number / fps - time.perf_counter()))
        yield line
