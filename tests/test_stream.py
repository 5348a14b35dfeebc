"""Live recognition: poses arriving one line per frame give the windows `predict --window` cuts from the whole
recording, for every pose source; replay plays a recording at its frame rate; the command pipe reports each hop."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from skelemix.config import load_config
from skelemix.data import Preprocessing
from skelemix.data.format import DatasetError
from skelemix.data.live import LiveRecording, frame_lines
from skelemix.data.openpose import read_detections
from skelemix.data.recordings import track_people
from skelemix.evaluation.classifier import Classifier, save_classifier
from skelemix.evaluation.features import random_init
from skelemix.inference import load_inputs, load_predictor
from skelemix.layouts import get_layout, map_joints
from skelemix.stream import replay, stream_inputs, stream_predictions

from conftest import SHARED

POSES = SHARED / "pose-estimators"
COCO17 = (get_layout("coco17"), Preprocessing(frames=64, centring="frame", rotate=False, persons=1, scale="torso"))
NTU25 = (get_layout("ntu25"), Preprocessing(frames=64, persons=1))
RECORDINGS = {  # recording: the model's layout and preprocessing
    "kinect-v2-csv/Ges03_drawlines.csv": NTU25,
    "openpose-body25/27": COCO17,
    "openpose-body25b/cam1_json": COCO17,
    "mediapipe-pose/pose_squats.full.json": COCO17,
    "movenet-coco17/pose_1.json": COCO17,
}


def recording(name: str) -> Path:
    if not POSES.is_dir():
        pytest.skip(f"real pose-estimator output not found at {POSES}")
    return POSES / name


def trailing_gap_windows(folder: Path, model: str, window: int, hop: int) -> set[int]:
    """Starts of the windows whose last frame misses a joint the COCO-17 model uses that the recording shows later:
    there the recording's filling interpolates towards a frame that a live stream has not got yet."""
    tracks, _ = track_people(read_detections(folder))
    seen = map_joints(tracks[0], model, "coco17")[..., 2] > 0  # (T, 17)
    return {start for start in range(0, len(seen) - window + 1, hop)
            if (~seen[start + window - 1] & seen[start + window:].any(axis=0)).any()}


@pytest.mark.parametrize("name", RECORDINGS)
def test_streamed_windows_are_the_recordings_windows(name):
    path, (layout, preprocessing) = recording(name), RECORDINGS[name]
    window, hop = 32, 8
    names, offline = load_inputs([path], layout, preprocessing, window, hop)
    live = list(stream_inputs(frame_lines(path), layout, preprocessing, window, hop, source="replay"))
    assert [w.start for w in live] == [int(n.split("@")[1]) for n in names] and len(live) >= 5
    gaps = trailing_gap_windows(path, name.split("-")[1].split("/")[0], window, hop) if "openpose" in name else set()
    compared = [i for i, w in enumerate(live) if w.start not in gaps]
    assert compared
    for i in compared:
        np.testing.assert_allclose(live[i].input, offline[i].numpy(), rtol=1e-5, atol=1e-5, err_msg=str(i))
    assert not np.allclose(offline[0].numpy(), offline[1].numpy(), atol=1e-3)  # the windows themselves differ
    times = [w.time for w in live]
    assert times == sorted(times) and times[0] >= 0


def test_a_joint_missing_at_the_windows_end_is_held_where_last_seen():
    live = LiveRecording(persons=1, window=3)
    body = lambda x: {"people": [{"pose_keypoints_2d": [x, 0, 0.9, x + 1, 2, 0.8] * 9}]}  # noqa: E731
    for frame in (body(0.0), body(1.0), {"people": []}):
        live.add(json.dumps(frame), "test")
    bodies, layout = live.window_bodies()
    assert layout == "coco18" and bodies.shape == (1, 3, 18, 3)
    assert bodies[0, :, 0].tolist() == [[0.0, 0.0, 0.9], [1.0, 0.0, 0.9], [1.0, 0.0, 0.0]]  # held, score 0
    assert bodies[0, :, 1, 0].tolist() == [1.0, 2.0, 2.0]


def test_the_line_format_is_told_from_the_first_frame_that_shows_one():
    kinect = ",".join(["1"] + ["0.1,0.2,2.5,2"] * 25)
    landmarks = json.dumps([[0.5, 0.5, 0.0]] * 33)
    named = json.dumps({"nose": {"x": 1, "y": 2}, "left_eye": {"x": 3, "y": 1}})
    mmpose = json.dumps({"frame_id": 0, "instances": [{"keypoints": [[1, 2], [3, 1]] + [[2, 2]] * 15}]})
    for lines, layout in (([kinect], "ntu25"), (["[]", landmarks], "mediapipe33"), (["{}", named], "coco17"),
                          ([mmpose], "coco17")):
        live = LiveRecording(persons=1, window=2)
        for line in lines:
            live.add(line, "test")
        assert (live.layout, live.count) == (layout, len(lines))
    live = LiveRecording(persons=1, window=2)
    live.add(landmarks, "stdin: line 1")
    with pytest.raises(DatasetError, match=r"stdin: line 2: not in the format of the lines before it \(mediapipe\)"):
        live.add(named, "stdin: line 2")
    with pytest.raises(DatasetError, match="stdin: line 3: not valid JSON"):
        live.add("{broken", "stdin: line 3")


def test_a_stream_shorter_than_the_window_predicts_nothing_and_says_so():
    with pytest.raises(DatasetError, match="-: 65 frames, fewer than the window of 80: no prediction"):
        list(stream_inputs(frame_lines(recording("mediapipe-pose/pose_squats.full.json")), *COCO17, window=80))


def test_replay_keeps_the_frame_rate():
    path = recording("mediapipe-pose/pose_squats.full.json")
    started = time.perf_counter()
    lines = list(replay(path, fps=200))
    assert len(lines) == 65 and time.perf_counter() - started >= 64 / 200
    assert [json.loads(line) for line in lines] == json.loads(path.read_text())  # the file's frames, one per line


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A Kinect v2 (ntu25) classifier with random weights, its features standardised over the windows of a real
    recording, so that its probabilities change from window to window."""
    config = load_config(["synthetic", "skeletonclr"], ["encoder.hidden_channels=8"])
    torch.manual_seed(0)
    model = Classifier(random_init(config, "ntu25", seed=1).encoder, get_layout("ntu25"), "joint", 6).eval()
    _, x = load_inputs([recording("kinect-v2-csv/Ges01_wavehand.csv")], *NTU25, window=48, stride=16)
    with torch.no_grad():
        features = model.encoder(x)
    model.mean.copy_(features.mean(dim=0)), model.std.copy_(features.std(dim=0) + 1e-6)
    torch.nn.init.normal_(model.head.weight, std=0.3)
    return save_classifier(tmp_path_factory.mktemp("stream") / "classifier.pt", model, "linear", config,
                           [f"gesture {i}" for i in range(6)], NTU25[1].to_dict())


def test_replay_piped_into_predict_stream_gives_predict_windows(classifier):
    path = recording("kinect-v2-csv/Ges01_wavehand.csv")
    skelemix = [sys.executable, "-m", "skelemix"]
    replayed = subprocess.Popen([*skelemix, "replay", str(path), "--fps", "0"], stdout=subprocess.PIPE)
    streamed = subprocess.run([*skelemix, "predict", str(classifier), "--stream", "-", "--window", "48", "--hop", "16",
                               "--top-k", "2", "--json"], stdin=replayed.stdout, capture_output=True, text=True)
    replayed.wait()
    assert streamed.returncode == 0 and replayed.returncode == 0, streamed.stderr
    live = [json.loads(line) for line in streamed.stdout.splitlines()]
    recorded = list(stream_predictions(load_predictor(classifier), frame_lines(path), 48, 16, top_k=2))
    offline = json.loads(subprocess.run([*skelemix, "predict", str(classifier), str(path), "--window", "48",
                                         "--stride", "16", "--top-k", "2", "--json"], capture_output=True,
                                        text=True).stdout)
    assert len(live) == len(offline) == 7  # 154 frames: windows at 0, 16, ..., 96
    for streamed_hop, python_hop, window in zip(live, recorded, offline):
        assert streamed_hop["name"] == f"-@{window['name'].split('@')[1]}" and streamed_hop["end"] == \
            streamed_hop["start"] + 47
        assert [t["label"] for t in streamed_hop["top"]] == [t["label"] for t in window["top"]]
        assert [t["probability"] for t in streamed_hop["top"]] == pytest.approx(
            [t["probability"] for t in window["top"]], abs=1e-3)  # batch of 1 vs 7: float32 rounding, magnified by
        # the standardisation; the inputs themselves are equal (test_streamed_windows_are_the_recordings_windows)
        assert streamed_hop["top"] == python_hop["top"]
        assert streamed_hop["latency_ms"] > 0 and streamed_hop["time"] >= 0
    assert len({hop["top"][0]["label"] for hop in live}) > 1 or \
        np.ptp([hop["top"][0]["probability"] for hop in live]) > 0.01  # the windows are told apart
