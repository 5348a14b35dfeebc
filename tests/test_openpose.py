"""OpenPose output in: real BODY_25 and BODY_25B clips, the main-person track, gaps filled, COCO-17 mapping."""

import json
import shutil

import numpy as np
import pytest

from skelemix.config import load_config
from skelemix.data import PreparedDataset
from skelemix.data.preprocess import Preprocessing
from skelemix.data.format import DatasetError
from skelemix.data.clips import prepare_clips
from skelemix.data.openpose import read_detections, read_openpose_clip
from skelemix.data.recordings import fill_missing
from skelemix.inference import embed, load_inputs
from skelemix.layouts import JOINT_MAPPINGS, LAYOUTS, get_layout, map_joints
from skelemix.training import pretrain

from conftest import SHARED

POSE = SHARED / "pose-estimators"


@pytest.fixture
def pose_dir():
    if not (POSE / "openpose-body25").is_dir():
        pytest.skip(f"real pose-estimator output not found at {POSE} (only the project's own checkout has ../shared)")
    return POSE


def _raw(path):
    """(P, 25, 3) straight from a JSON file, without skelemix."""
    return np.array([p["pose_keypoints_2d"] for p in json.loads(path.read_text())["people"]]).reshape(-1, 25, 3)


def test_each_sample_prepares_with_its_clips_frames_and_model(pose_dir, tmp_path):
    report = prepare_clips("openpose", pose_dir / "openpose-body25", tmp_path / "b25")
    dataset = PreparedDataset(report.path)
    assert [s.name for s in dataset.samples] == ["27", "32", "95"]
    assert [s.frames for s in dataset.samples] == [90, 90, 90]
    assert dataset.layout.name == "body25" and dataset.info["source"]["layout"] == "body25"
    # clips 27 and 32 have 11 + 2 x 3 and 13 extra detections: all dropped, none missing for the walker
    assert dataset.info["source"]["dropped"] == 11 + 2 * 3 + 13 and dataset.info["source"]["missing_frames"] == 0
    report = prepare_clips("openpose", pose_dir / "openpose-body25b" / "cam1_json", tmp_path / "b25b")
    dataset = PreparedDataset(report.path)
    assert [s.frames for s in dataset.samples] == [100] and dataset.info["source"]["layout"] == "body25b"


def test_joint_positions_are_the_raw_files(pose_dir):
    clip = pose_dir / "openpose-body25" / "95"
    read = read_openpose_clip(clip)
    bodies = read.bodies
    assert read.layout == "body25" and bodies.shape == (1, 90, 25, 3)
    for frame in (0, 37, 89):
        raw = _raw(clip / f"{frame:03d}.json")[0]
        seen = raw[:, 2] > 0
        np.testing.assert_array_equal(bodies[0, frame][seen], raw[seen])
        np.testing.assert_array_equal(bodies[0, frame][~seen, 2], 0.0)  # filled-in joints keep confidence 0


def test_the_treadmill_walker_is_tracked_through_clip_27s_crowded_frames(pose_dir):
    clip = pose_dir / "openpose-body25" / "27"
    read = read_openpose_clip(clip)
    bodies, report = read.bodies, read.report
    frames = [_raw(clip / f"{t:03d}.json") for t in range(90)]

    def centre(detection):
        return detection[detection[:, 2] > 0, :2].mean(axis=0)

    walker = np.mean([centre(f[0]) for f in frames if len(f) == 1], axis=0)  # where the one person usually is
    crowded = [t for t, f in enumerate(frames) if len(f) > 1]
    assert len(crowded) == 14
    for t in crowded:
        expected = frames[t][np.argmin([np.linalg.norm(centre(d) - walker) for d in frames[t]])]
        seen = expected[:, 2] > 0
        np.testing.assert_array_equal(bodies[0, t][seen], expected[seen])
    assert report.dropped == 17


def test_body25b_keeps_the_person_on_the_beam_and_drops_the_weak_second_detection(pose_dir):
    clip = pose_dir / "openpose-body25b" / "cam1_json"
    read = read_openpose_clip(clip)
    bodies, report = read.bodies, read.report
    assert read.layout == "body25b" and report.dropped == report.detections - 100
    raws = [_raw(path) for path in sorted(clip.glob("*.json"))]
    assert [len(r) for r in raws].count(2) == 99 and len(raws[37]) == 3
    for t, raw in enumerate(raws):
        if len(raw) == 2:  # the second detection is always the less confident one
            expected = raw[np.argmax(raw[:, :, 2].mean(axis=1))]
        else:  # frame 37: OpenPose split the person into an upper- and a lower-body detection beside the weak one;
            # the track takes the fragment nearest to where the person was in frame 36
            previous = raws[t - 1][np.argmax(raws[t - 1][:, :, 2].mean(axis=1))]
            before = previous[previous[:, 2] > 0, :2].mean(axis=0)
            expected = raw[np.argmin([np.linalg.norm(d[d[:, 2] > 0, :2].mean(axis=0) - before) for d in raw])]
        seen = expected[:, 2] > 0
        np.testing.assert_array_equal(bodies[0, t][seen], expected[seen])


def test_coco17_mapping_by_hand_on_a_body25_frame(pose_dir):
    raw = _raw(pose_dir / "openpose-body25" / "95" / "000.json")[0]
    coco = map_joints(raw, "body25", "coco17")
    # COCO-17: nose, left eye, right eye, left ear, right ear, left shoulder, right shoulder, left elbow, right elbow,
    # left wrist, right wrist, left hip, right hip, left knee, right knee, left ankle, right ankle; BODY_25 numbers
    # them 0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11
    for coco_index, body25_index in ((0, 0), (1, 16), (4, 17), (5, 5), (6, 2), (10, 4), (11, 12), (16, 11)):
        np.testing.assert_array_equal(coco[coco_index], raw[body25_index])
    v1_names_in_v2 = {"hip_centre": "spine_base", "spine": "spine_mid", "shoulder_centre": "spine_shoulder"}  # the
    # Kinect SDK v1 and v2 names of the same three joints
    for (source, target), index in JOINT_MAPPINGS.items():  # every mapping pairs joints of the same name
        assert [LAYOUTS[source].joint_names[i] for i in index] == [v1_names_in_v2.get(name, name) if source == "ntu25"
                                                                    else name for name in LAYOUTS[target].joint_names]
    with pytest.raises(ValueError, match="no joint mapping from coco17 to body25"):
        map_joints(coco, "coco17", "body25")


def test_gaps_are_interpolated_per_joint_and_counted():
    track = np.zeros((5, 2, 3))
    track[[0, 4], 0] = [[0.0, 10.0, 0.9], [8.0, 50.0, 0.8]]  # joint 0 seen in frames 0 and 4 only
    track[:, 1] = [1.0, 1.0, 0.5]  # joint 1 always seen
    filled, count = fill_missing(track)
    np.testing.assert_allclose(filled[:, 0, 0], [0, 2, 4, 6, 8])
    np.testing.assert_allclose(filled[:, 0, 1], [10, 20, 30, 40, 50])
    np.testing.assert_array_equal(filled[:, 0, 2], [0.9, 0, 0, 0, 0.8])
    assert count == 3 and np.array_equal(filled[:, 1], track[:, 1])


def test_labels_and_bad_input_name_the_file(pose_dir, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("clip,action,split,subject\n27,hooligan walk,train,mo\n32,scuba walk,train, ann\n"
                      "95,collapsing walk,test,mo\n")
    dataset = PreparedDataset(prepare_clips("openpose", pose_dir / "openpose-body25", tmp_path / "lab", labels=labels,
                                               layout="coco17").path)
    assert dataset.class_names == ["collapsing walk", "hooligan walk", "scuba walk"] and dataset.layout.name == "coco17"
    assert dataset.split("labelled") == {"train": [0, 1], "test": [2]} and dataset.data.shape[3] == 17
    assert [s.subject for s in dataset.samples] == [2, 1, 2]  # ann 1, mo 2: sorted names, 0 kept for "none"
    clip = tmp_path / "clip"
    shutil.copytree(pose_dir / "openpose-body25" / "95", clip)
    (clip / "050.json").write_text('{"people": [{"pose_keypoints_2d": [1, 2]}]')
    with pytest.raises(DatasetError, match=r"050.json: not valid JSON"):
        read_detections(clip)
    (clip / "050.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0, 2.0, 0.5] * 18}]}))
    with pytest.raises(DatasetError, match=r"050.json: 18 keypoints, but earlier frames have 25"):
        read_detections(clip)
    empty = tmp_path / "empty"
    empty.mkdir()
    for t in range(3):
        (empty / f"{t:03d}.json").write_text('{"version": 1.3, "people": []}')
    with pytest.raises(DatasetError, match="no person detected in any of its 3 frames"):
        read_openpose_clip(empty)
    movenet = tmp_path / "movenet"
    movenet.mkdir()
    shutil.copy(pose_dir / "movenet-coco17" / "pose_1.json", movenet / "000.json")
    with pytest.raises(DatasetError, match="000.json: not OpenPose output"):
        read_detections(movenet)


def test_a_coco17_model_embeds_openpose_clips_through_the_mapping(pose_dir, tmp_path):
    data = prepare_clips("openpose", pose_dir / "openpose-body25", tmp_path / "coco", layout="coco17").path
    config = load_config(["synthetic", "skelemixclr"], [
        f"data.path={data}", "data.benchmark=all", "encoder.hidden_channels=4", "encoder.out_channels=16",
        "encoder.projection_dim=8", "encoder.dropout=0.0", "method.queue_size=8", "method.mix.min_frames=1",
        "method.mix.max_frames=2", "train.batch_size=2", "train.epochs=1", "train.knn_every=0", "train.precision=32"])
    run = pretrain(config, tmp_path / "run", progress=False)
    raw_names, from_raw = embed(run, [pose_dir / "openpose-body25"])  # BODY_25 JSON, mapped to COCO-17
    prepared_names, from_prepared = embed(run, [data])
    assert raw_names == prepared_names == ["27", "32", "95"] and from_raw.shape == (3, 16)
    np.testing.assert_allclose(from_raw, from_prepared, rtol=1e-5, atol=1e-6)
    with pytest.raises(DatasetError, match="no joint mapping from body25b to ntu25"):
        load_inputs([pose_dir / "openpose-body25b"], get_layout("ntu25"), Preprocessing(persons=1))
