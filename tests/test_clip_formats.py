"""Recordings of MediaPipe, MoveNet / MMPose and a Kinect v2 in: real files read against their raw values, repairs
counted, joint mappings by hand, torso scaling on a hand-made body, embed across estimators."""

import json

import numpy as np
import pytest

from skelemix.config import load_config
from skelemix.data import PreparedDataset
from skelemix.data.clips import detect_format, prepare_clips, read_clip
from skelemix.data.format import DatasetError
from skelemix.data.kinect_csv import read_kinect_csv
from skelemix.data.keypoints_json import read_keypoints_clip
from skelemix.data.mediapipe import read_mediapipe_clip
from skelemix.data.preprocess import Preprocessing, preprocess, torso_length
from skelemix.inference import embed, load_inputs
from skelemix.layouts import get_layout, map_joints
from skelemix.training import pretrain

from conftest import SHARED

POSE = SHARED / "pose-estimators"
TINY = ["encoder.hidden_channels=4", "encoder.out_channels=16", "encoder.projection_dim=8", "encoder.dropout=0.0",
        "method.queue_size=4", "method.mix.min_frames=1", "method.mix.max_frames=2", "train.batch_size=2",
        "train.epochs=1", "train.knn_every=0", "train.precision=32"]


@pytest.fixture
def pose_dir():
    if not (POSE / "kinect-v2-csv").is_dir():
        pytest.skip(f"real pose-estimator output not found at {POSE} (only the project's own checkout has ../shared)")
    return POSE


def test_each_sample_prepares_with_its_clips_frames_and_layout(pose_dir, tmp_path):
    cases = [("mediapipe", pose_dir / "mediapipe-pose" / "pose_squats.full.json", {}, [65], "mediapipe33"),
             ("mediapipe", pose_dir / "mediapipe-pose" / "pose_squats_3d.full.json", {"coordinates": "world"}, [65],
              "mediapipe33_world"),
             ("keypoints-json", pose_dir / "movenet-coco17", {}, [120], "coco17"),
             ("kinect-csv", pose_dir / "kinect-v2-csv", {}, [154, 161, 213, 172, 190, 160], "ntu25")]
    for number, (clip_format, source, options, frames, layout) in enumerate(cases):
        dataset = PreparedDataset(prepare_clips(clip_format, source, tmp_path / str(number), reader_options=options,
                                                preprocessing=Preprocessing(persons=1, scale="torso")).path)
        assert [s.frames for s in dataset.samples] == frames and dataset.layout.name == layout
        assert dataset.info["source"]["format"] == clip_format
    assert [s.name for s in dataset.samples][:2] == ["Ges01_wavehand", "Ges02_balancinghands"]
    assert dataset.info["source"]["frame_rate"] == pytest.approx(30.0, abs=0.5)  # Kinect v2 runs at 30 Hz


def test_positions_are_the_raw_files(pose_dir):
    raw = np.array(json.loads((pose_dir / "mediapipe-pose" / "pose_squats.full.json").read_text()))  # (65, 33, 3)
    clip = read_mediapipe_clip(pose_dir / "mediapipe-pose" / "pose_squats.full.json")
    np.testing.assert_array_equal(clip.bodies[0, 40, :, :2], raw[40, :, :2])
    np.testing.assert_array_equal(clip.bodies[0, 40, :, 2], 1.0)  # no visibility in the file: every landmark seen
    world = np.array(json.loads((pose_dir / "mediapipe-pose" / "pose_squats_3d.full.json").read_text()))
    clip = read_mediapipe_clip(pose_dir / "mediapipe-pose" / "pose_squats_3d.full.json", coordinates="world")
    np.testing.assert_array_equal(clip.bodies[0, 7, 11], world[7, 11] * [1, -1, -1])  # y up: head above the hips
    assert (clip.bodies[0, :, 0, 1] > clip.bodies[0, :, 23, 1]).all()

    frames = json.loads((pose_dir / "movenet-coco17" / "pose_1.json").read_text())
    clip = read_keypoints_clip(pose_dir / "movenet-coco17" / "pose_1.json")
    wrist = frames[77]["right_wrist"]
    np.testing.assert_array_equal(clip.bodies[0, 77, 10], [wrist["x"], wrist["y"], 1.0])  # COCO-17 joint 10

    path = pose_dir / "kinect-v2-csv" / "Ges03_drawlines.csv"
    line = path.read_text().splitlines()[99].rstrip(",").split(",")
    clip = read_kinect_csv(path)
    left_wrist = [float(v) for v in line[1 + 4 * 6:1 + 4 * 6 + 3]]  # the SDK's joint 7 (1-based), NTU's left wrist
    np.testing.assert_array_equal(clip.bodies[0, 99, 6], left_wrist)
    assert get_layout("ntu25").joint_names[6] == "left_wrist" and clip.layout == "ntu25"


def test_a_mediapipe_csv_with_a_lost_frame_reads_as_its_json_with_that_frame_filled_in(pose_dir, tmp_path):
    raw = np.array(json.loads((pose_dir / "mediapipe-pose" / "pose_squats.full.json").read_text()))[:5]
    header = "frame," + ",".join(f"L{j}_{axis}" for j in range(33) for axis in ("x", "y", "z", "visibility"))
    rows = [f"{t}," + ",".join(repr(float(v)) for landmark in frame for v in (*landmark, 0.9)) for t, frame in enumerate(raw)]
    rows[2] = "2," + "," * (4 * 33 - 1)  # nobody detected in frame 2
    (tmp_path / "squat.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    clip = read_clip(tmp_path / "squat.csv")
    assert clip.layout == "mediapipe33" and clip.bodies.shape == (1, 5, 33, 3)
    np.testing.assert_array_equal(clip.bodies[0, [0, 1, 3, 4], :, :2], raw[[0, 1, 3, 4], :, :2])
    np.testing.assert_allclose(clip.bodies[0, 2, :, :2], (raw[1, :, :2] + raw[3, :, :2]) / 2)
    np.testing.assert_array_equal(clip.bodies[0, :, 0, 2], [0.9, 0.9, 0.0, 0.9, 0.9])  # filled in: score 0
    assert clip.report.missing_frames == 1 and clip.report.imputed_joints == 33


def test_mmpose_output_is_tracked_and_its_missing_frame_ids_are_gaps(pose_dir, tmp_path):
    frames = json.loads((pose_dir / "movenet-coco17" / "pose_1.json").read_text())[:6]
    names = get_layout("coco17").joint_names
    person = [[[f[n]["x"], f[n]["y"]] for n in names] for f in frames]
    stranger = [[x + 400.0, y] for x, y in person[0]]  # someone else, far to the right, more confident
    records = [{"frame_id": t, "instances": [{"keypoints": person[t], "keypoint_scores": [0.8] * 17}]
                + ([{"keypoints": stranger, "keypoint_scores": [0.95] * 17}] if t in (2, 3) else [])}
               for t in range(6) if t != 4]  # frame 4: no detection, so MMPose writes no record
    (tmp_path / "mmpose.json").write_text(json.dumps(records))
    assert detect_format(tmp_path / "mmpose.json") == "keypoints-json"
    clip = read_clip(tmp_path / "mmpose.json")
    assert clip.layout == "coco17" and clip.bodies.shape == (1, 6, 17, 3)
    for t in (0, 1, 2, 3, 5):  # the track started on frame 0's only person stays on them
        np.testing.assert_array_equal(clip.bodies[0, t, :, :2], person[t])
    np.testing.assert_allclose(clip.bodies[0, 4, :, :2], (np.array(person[3]) + person[5]) / 2)
    assert clip.report.dropped == 2 and clip.report.missing_frames == 1 and clip.report.imputed_joints == 17


def test_kinect_joints_the_camera_lost_are_interpolated_and_bad_lines_named(pose_dir, tmp_path):
    lines = (pose_dir / "kinect-v2-csv" / "Ges01_wavehand.csv").read_text().splitlines()[:3]
    cells = lines[1].rstrip(",").split(",")
    cells[1 + 4 * 3 + 3] = "0"  # joint 4 (head) not tracked in the middle frame
    (tmp_path / "lost.csv").write_text("\n".join([lines[0], ",".join(cells) + ",", lines[2]]) + "\n")
    clip = read_kinect_csv(tmp_path / "lost.csv")
    before, after = (np.array(line.split(",")[1 + 4 * 3:1 + 4 * 3 + 3], dtype=float) for line in (lines[0], lines[2]))
    np.testing.assert_allclose(clip.bodies[0, 1, 3], (before + after) / 2)
    assert clip.report.imputed_joints == 1
    (tmp_path / "broken.csv").write_text(lines[0] + "\n" + lines[1][:200] + "\n")
    with pytest.raises(DatasetError, match=r"broken.csv: line 2: \d+ values, a Kinect v2 frame has 101"):
        read_kinect_csv(tmp_path / "broken.csv")


def test_mappings_to_coco17_by_hand():
    mediapipe = np.arange(33 * 3, dtype=float).reshape(33, 3)
    coco = map_joints(mediapipe, "mediapipe33", "coco17")
    # COCO-17's left eye, right ear, left hip and right ankle are MediaPipe's landmarks 2, 8, 23 and 28
    for coco_index, mediapipe_index in ((0, 0), (1, 2), (4, 8), (11, 23), (16, 28)):
        np.testing.assert_array_equal(coco[coco_index], mediapipe[mediapipe_index])
    coco18 = np.arange(18 * 3, dtype=float).reshape(18, 3)
    coco = map_joints(coco18, "coco18", "coco17")
    # COCO-18 (OpenPose): 0 nose, 1 neck, 2-4 right arm, 5-7 left arm, 8-10 right leg, 11-13 left leg, 14-17 eyes, ears
    for coco_index, coco18_index in ((0, 0), (1, 15), (2, 14), (5, 5), (6, 2), (12, 8), (15, 13)):
        np.testing.assert_array_equal(coco[coco_index], coco18[coco18_index])


def test_torso_scaling_on_a_hand_made_body():
    layout = get_layout("coco17")
    body = np.zeros((1, 4, 17, 3))
    body[..., 2] = 1.0
    body[0, :, 5, :2], body[0, :, 6, :2] = (100, 50), (140, 50)  # shoulders: midpoint (120, 50)
    body[0, :, 11, :2], body[0, :, 12, :2] = (104, 110), (136, 110)  # hips: midpoint (120, 110), torso 60 px
    body[0, 3, 11:13, :2] += (0, 90)  # one frame's hips far off: the median ignores it
    assert torso_length(body[0], layout) == pytest.approx(60.0)
    out = preprocess(body, layout, Preprocessing(frames=4, centring="none", rotate=False, persons=1, scale="torso"))
    np.testing.assert_allclose(out[:2, 0, 5, 0], np.array([100, 50]) / 60, rtol=1e-6)
    np.testing.assert_array_equal(out[2], 1.0)  # scores are not scaled
    body[0, :, 11:13, 2] = 0.0  # hips never seen
    with pytest.raises(ValueError, match="scale torso: no frame shows both shoulders and both hips"):
        preprocess(body, layout, Preprocessing(persons=1, scale="torso"))


def test_bad_recordings_name_the_file(pose_dir, tmp_path):
    with pytest.raises(DatasetError, match=r"pose_1.json: not MediaPipe landmarks|pose_1.json: frame 0"):
        read_mediapipe_clip(pose_dir / "movenet-coco17" / "pose_1.json")
    (tmp_path / "twenty.json").write_text(json.dumps([{"frame_id": 0, "instances": [
        {"keypoints": [[1.0, 2.0]] * 20, "keypoint_scores": [1.0] * 20}]}]))
    with pytest.raises(DatasetError, match="twenty.json: frame 0: 20 keypoints match no layout"):
        read_keypoints_clip(tmp_path / "twenty.json")
    (tmp_path / "nobody.json").write_text(json.dumps([[], [], None]))
    with pytest.raises(DatasetError, match="nobody.json: no person detected in any of its 3 frames"):
        read_mediapipe_clip(tmp_path / "nobody.json")
    (tmp_path / "names.json").write_text(json.dumps([{"head": {"x": 1, "y": 2}}]))
    with pytest.raises(DatasetError, match="names.json: keypoint names .* match no layout"):
        read_keypoints_clip(tmp_path / "names.json")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="notes.txt: not a clip skelemix can read"):
        detect_format(tmp_path / "notes.txt")


def test_coco17_and_ntu25_models_embed_every_estimators_recordings(pose_dir, tmp_path):
    data = prepare_clips("openpose", pose_dir / "openpose-body25", tmp_path / "coco", layout="coco17",
                         preprocessing=Preprocessing(persons=1, rotate=False, scale="torso")).path
    run = pretrain(load_config(["synthetic", "skelemixclr"], [f"data.path={data}", "data.benchmark=all", *TINY]),
                   tmp_path / "coco-run", progress=False)
    recordings = [pose_dir / "mediapipe-pose" / "pose_squats.full.json", pose_dir / "movenet-coco17" / "pose_1.json",
                  pose_dir / "openpose-body25b" / "cam1_json"]
    names, features = embed(run, recordings)
    assert names == ["pose_squats.full", "pose_1", "cam1_json"] and features.shape == (3, 16)
    movenet = prepare_clips("keypoints-json", pose_dir / "movenet-coco17", tmp_path / "movenet",
                            preprocessing=Preprocessing(persons=1, rotate=False, scale="torso")).path
    np.testing.assert_allclose(embed(run, [movenet])[1][0], features[1], rtol=1e-5, atol=1e-6)

    kinect = prepare_clips("kinect-csv", pose_dir / "kinect-v2-csv", tmp_path / "kinect",
                           preprocessing=Preprocessing(persons=1)).path
    run = pretrain(load_config(["synthetic", "skelemixclr"], [f"data.path={kinect}", "data.benchmark=all", *TINY]),
                   tmp_path / "ntu-run", progress=False)
    names, features = embed(run, [pose_dir / "kinect-v2-csv"], window=60, stride=60)
    assert names[:3] == ["Ges01_wavehand@0", "Ges01_wavehand@60", "Ges02_balancinghands@0"]  # 154 frames: 2 windows
    assert len(names) == 2 + 2 + 3 + 2 + 3 + 2 and features.shape[1] == 16
    with pytest.raises(DatasetError, match="no joint mapping from mediapipe33 to ntu25"):
        load_inputs(recordings[:1], get_layout("ntu25"), Preprocessing(persons=1))
