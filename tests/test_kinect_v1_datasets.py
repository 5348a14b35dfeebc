"""MSR Action3D and UTKinect-Action3D on the real files, the Kinect v2 -> v1 joint mapping on a real NTU frame, and
pretraining on several prepared datasets at once."""


import numpy as np
import pytest
import torch
import yaml

from skelemix.config import load_config
from skelemix.data import PreparedDataset, Preprocessing, prepare_msr_action3d, prepare_numpy, prepare_utkinect
from skelemix.data.loading import PretrainingClips
from skelemix.layouts import JOINT_MAPPINGS, get_layout, map_joints
from skelemix.schedule import epochs_for_steps
from skelemix.training import preprocessing_warnings, pretrain

from conftest import SHARED

MSR = SHARED / "msr-action3d"
UTK = SHARED / "utkinect-action3d"
KINECT_V1 = get_layout("kinect_v1")
RAW = Preprocessing(frames=64, centring="none", rotate=False, persons=1)  # the files' own coordinates


def joint(name: str) -> int:
    return KINECT_V1.joint_names.index(name)


def shared(path):
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (only the project's own checkout has ../shared)")
    return path


@pytest.fixture(scope="module")
def msr(tmp_path_factory):
    return PreparedDataset(prepare_msr_action3d(shared(MSR), tmp_path_factory.mktemp("msr") / "p", RAW,
                                                workers=0).path)


@pytest.fixture(scope="module")
def utk(tmp_path_factory):
    return PreparedDataset(prepare_utkinect(shared(UTK), UTK / "actionLabel.txt",
                                            tmp_path_factory.mktemp("utk") / "p", RAW, workers=0).path)


def test_msr_joint_lines_land_on_the_kinect_v1_joints_of_their_bones(msr):
    # a01_s01_e01: the first frame's 20 lines, read by hand. Line 20 is the head (it hangs only from joint 3, and is
    # the highest point), line 3 the shoulder centre (joined to 1, 2, 4 and 20), line 7 the hip centre (joined to 4, 5
    # and 6), line 13 the right hand (below: it is the hand that waves).
    lines = (MSR / "a01_s01_e01_skeleton3D.txt").read_text().split("\n")
    first = np.array([[float(v) for v in line.split()[:3]] for line in lines[:20]])
    i = [s.name for s in msr.samples].index("a01_s01_e01")
    assert msr.samples[i].frames == len([line for line in lines if line.strip()]) // 20
    frame = msr.data[i, :, 0, :, 0].T  # (V, 3), first frame (resizing keeps it exactly)
    for line, name in ((20, "head"), (3, "shoulder_centre"), (7, "hip_centre"), (1, "left_shoulder"),
                       (2, "right_shoulder"), (13, "right_hand"), (18, "left_foot"), (19, "right_foot")):
        assert np.allclose(frame[joint(name)], first[line - 1], atol=1e-6), name


def test_msr_mapping_is_anatomical_on_every_file(msr):
    x = np.asarray(msr.data[..., 0])  # (N, 3, T, V)
    y = x[:, 1]  # (N, T, V) height
    column = ("head", "shoulder_centre", "spine", "hip_centre", "left_knee", "left_ankle")  # top to bottom
    for upper, lower in zip(column, column[1:]):
        assert (y[:, :, joint(upper)] > y[:, :, joint(lower)]).mean() > 0.9, (upper, lower)
    # limbs of both sides are the same length: a mapping that swapped elbow and wrist, or a hip with a knee, breaks it
    for left, right in (("elbow", "wrist"), ("wrist", "hand"), ("knee", "ankle"), ("hip", "knee")):
        lengths = [np.linalg.norm(x[:, :, 0, joint(f"{side}_{left}")] - x[:, :, 0, joint(f"{side}_{right}")], axis=1)
                   for side in ("left", "right")]
        assert np.median(np.abs(lengths[0] - lengths[1])) < 0.05, (left, right)
    # the performer faces the camera with the right shoulder at larger x (the Kinect SDK's camera space) ...
    assert (x[:, 0, 0, joint("right_shoulder")] > x[:, 0, 0, joint("left_shoulder")]).mean() > 0.9
    # ... and waves with the right hand (high arm wave, most performers right-handed)
    wave = [i for i, s in enumerate(msr.samples) if s.name.startswith("a01_")]
    moves = {side: x[wave, :, :, joint(f"{side}_hand")].std(axis=2).sum(axis=1) for side in ("left", "right")}
    assert (moves["right"] > moves["left"]).mean() > 0.9


def test_msr_split_and_the_empty_file(msr):
    assert len(msr) == 566 and len(msr.class_names) == 20
    split = msr.split("xsub")
    assert len(split["train"]) == 291 and len(split["test"]) == 275
    assert all(msr.samples[i].subject % 2 == 1 for i in split["train"])
    assert "a13_s09_e02" not in {s.name for s in msr.samples}  # all zeros: skipped, named in skipped.csv
    assert "a13_s09_e02" in (msr.path / "skipped.csv").read_text()


def test_utkinect_segments_frames_and_the_nan_segment(utk):
    assert len(utk) == 199 and len(utk.split("xsub")["train"]) == 100
    assert "s10_e02_carry" not in {s.name for s in utk.samples}
    assert "NaN" in (utk.path / "skipped.csv").read_text()
    # s01_e01 walk is frames 252..390: count the distinct frame numbers in that range by hand
    rows = [line.split() for line in (UTK / "joints_s01_e01.txt").read_text().split("\n") if line.strip()]
    numbers = sorted({int(r[0]) for r in rows if 252 <= int(r[0]) <= 390})
    in_range = [r for r in rows if 252 <= int(r[0]) <= 390]
    assert len(in_range) > len(numbers)  # the file repeats frames inside this segment
    walk = [s for s in utk.samples if s.name == "s01_e01_walk"][0]
    assert walk.frames == len(numbers) and walk.label == 0
    i = [s.name for s in utk.samples].index("s01_e01_walk")
    first = np.array([float(v) for v in in_range[0][1:]]).reshape(20, 3)
    assert np.allclose(utk.data[i, :, 0, :, 0].T, first, atol=1e-6)  # the Kinect SDK order, unchanged


def test_utkinect_order_is_the_kinect_sdks(utk):
    x = np.asarray(utk.data[..., 0])
    y = x[:, 1]
    assert (y[:, :, joint("head")] > y[:, :, joint("shoulder_centre")]).mean() > 0.95
    assert (y[:, :, joint("shoulder_centre")] > y[:, :, joint("hip_centre")]).mean() > 0.95
    assert (x[:, 0, 0, joint("right_shoulder")] > x[:, 0, 0, joint("left_shoulder")]).mean() > 0.9


def test_ntu25_to_kinect_v1_by_name_and_on_a_real_frame():
    v2_name = {"hip_centre": "spine_base", "spine": "spine_mid", "shoulder_centre": "spine_shoulder"}
    ntu = get_layout("ntu25")
    expected = tuple(ntu.joint_names.index(v2_name.get(name, name)) for name in KINECT_V1.joint_names)
    assert JOINT_MAPPINGS[("ntu25", "kinect_v1")] == expected
    path = SHARED / "ntu-rgbd-samples" / "skeletons" / "S001C001P001R001A001.skeleton"
    if not path.is_file():
        pytest.skip(f"real NTU file not found at {path}")
    lines = path.read_text().split("\n")
    frame = np.array([[float(v) for v in lines[4 + j].split()[:3]] for j in range(25)])  # frame 1, body 1
    mapped = map_joints(frame, "ntu25", "kinect_v1")
    for child, parent in KINECT_V1.edges:
        assert 0.01 < np.linalg.norm(mapped[child] - mapped[parent]) < 0.5, KINECT_V1.joint_names[child]
    assert mapped[joint("head"), 1] == mapped[:, 1].max()


def write_npz(path, joints, persons, samples, label_offset=0):
    rng = np.random.default_rng(len(path.name))
    data = rng.normal(size=(samples, persons, 8, joints, 3)).astype(np.float32)
    np.savez(path, data=data, labels=np.arange(samples) % 2 + label_offset, subjects=np.arange(samples) % 4 + 1)
    return data


def test_pretraining_clips_map_layouts_and_number_every_clip(tmp_path):
    raw = Preprocessing(frames=8, centring="none", rotate=False, persons=1)
    write_npz(tmp_path / "target.npz", 20, 1, 6)
    other = write_npz(tmp_path / "other.npz", 25, 2, 4)
    target = PreparedDataset(prepare_numpy(tmp_path / "target.npz", tmp_path / "t", "kinect_v1", [1, 2],
                                           preprocessing=raw).path)
    extra = PreparedDataset(prepare_numpy(tmp_path / "other.npz", tmp_path / "o", "ntu25", [1, 2],
                                          preprocessing=Preprocessing(8, "none", False, 2)).path)
    clips = PretrainingClips([target, extra], "xsub")
    trained = target.split("xsub")["train"]  # subjects 1 and 2
    assert clips.counts == [len(trained), 2] and len(clips) == len(trained) + 2
    x, label, index = clips[0]
    assert index == trained[0] and label == target.labels[trained[0]] and x.shape == (3, 8, 20, 1)
    x, label, index = clips[len(trained)]  # the other dataset's first training clip: subject 1, its clip 0
    assert label == -1 and index == len(target) + 0
    source = other[0, 0]  # (T, 25, 3), first body only: the target keeps one
    expected = source[:, list(JOINT_MAPPINGS[("ntu25", "kinect_v1")])].transpose(2, 0, 1)[..., None]
    assert torch.allclose(x, torch.from_numpy(expected))


def test_pretraining_clips_refuse_an_unmappable_layout(tmp_path):
    raw = Preprocessing(frames=8, centring="none", rotate=False, persons=1)
    write_npz(tmp_path / "a.npz", 20, 1, 4)
    write_npz(tmp_path / "b.npz", 17, 1, 4)
    a = PreparedDataset(prepare_numpy(tmp_path / "a.npz", tmp_path / "a", "kinect_v1", [1], preprocessing=raw).path)
    b = PreparedDataset(prepare_numpy(tmp_path / "b.npz", tmp_path / "b", "coco17", [1], preprocessing=raw).path)
    with pytest.raises(ValueError, match="no joint mapping from coco17 to kinect_v1"):
        PretrainingClips([a, b], "xsub")


def test_steps_set_the_schedule_in_proportion():
    assert epochs_for_steps(800, 50, 50, 5, [40]) == (16, 2, [13])  # 16 epochs = 800 steps; 5/50 and 40/50 of them
    assert epochs_for_steps(800, 3, 50, 5, [40]) == (267, 27, [214])
    assert epochs_for_steps(10, 50, 50, 5, [40]) == (1, 1, [])  # a milestone at epoch 0 would be no schedule at all
    with pytest.raises(ValueError):
        epochs_for_steps(0, 10, 50, 5, [40])


def test_a_recipe_warns_on_data_prepared_otherwise(tmp_path):
    write_npz(tmp_path / "a.npz", 20, 1, 4)
    prepared = PreparedDataset(prepare_numpy(tmp_path / "a.npz", tmp_path / "a", "kinect_v1", [1]).path)  # defaults
    config = load_config(["small_data", "skelemixclr"], [f"data.path={prepared.path}"])
    (warning,) = preprocessing_warnings(config, [prepared])
    assert "centring=frame, scale=none" in warning and "centring=first_frame, scale=minmax" in warning
    assert "--centring first_frame --scale minmax" in warning and str(prepared.path) in warning
    paper = load_config(["ntu60_xsub", "skelemixclr"], [f"data.path={prepared.path}"])
    assert preprocessing_warnings(paper, [prepared]) == []  # prepared as the paper's NTU data


def test_pretraining_on_two_datasets_records_both_and_the_fitted_schedule(tmp_path):
    raw = Preprocessing(frames=16, centring="first_frame", rotate=True, persons=1, scale="minmax")
    for name, joints, persons in (("a", 20, 1), ("b", 25, 2)):
        rng = np.random.default_rng(0)
        np.savez(tmp_path / f"{name}.npz", data=rng.normal(size=(40, persons, 16, joints, 3)).astype(np.float32),
                 labels=np.arange(40) % 2, subjects=np.arange(40) % 2 + 1)
    a = prepare_numpy(tmp_path / "a.npz", tmp_path / "pa", "kinect_v1", [1], preprocessing=raw).path
    b = prepare_numpy(tmp_path / "b.npz", tmp_path / "pb", "ntu25", [1],
                      preprocessing=Preprocessing(16, "first_frame", True, 2, "minmax")).path
    config = load_config(["small_data", "skeletonclr"], [
        f"data.path=[{a}, {b}]", "train.steps=6", "train.batch_size=8", "encoder.hidden_channels=8",
        "method.queue_size=16", "train.precision=32"])
    run = pretrain(config, tmp_path / "run", progress=False)
    saved = load_config([run / "config.yaml"])
    # 20 + 20 training clips at batch 8: 5 steps per epoch; 6 steps -> 1 epoch, warm-up 1, the milestone dropped
    assert (saved.train.steps, saved.train.epochs, saved.train.warmup_epochs, saved.train.lr_milestones) == (0, 1, 1, [])

    summary = yaml.safe_load((run / "pretrain_summary.yaml").read_text())
    assert [(d["dataset"], d["clips"]) for d in summary["pretrained_on"]] == [("a", 20), ("b", 20)]
    assert (summary["stream"], summary["epochs"], summary["dataset"]) == ("joint", 1, "a")
    # transfer: pretrained on a and b, evaluated on a third dataset c of a's layout
    np.savez(tmp_path / "c.npz", data=np.random.default_rng(1).normal(size=(24, 1, 16, 20, 3)).astype(np.float32),
             labels=np.arange(24) % 3, subjects=np.arange(24) % 2 + 1)
    c = prepare_numpy(tmp_path / "c.npz", tmp_path / "pc", "kinect_v1", [1], preprocessing=raw).path
    from skelemix.evaluation.protocols import evaluate

    result = evaluate("knn", run, data_path=str(c))
    assert (result["dataset"], result["train_samples"], result["test_samples"]) == ("c", 12, 12)


def test_one_dataset_alone_gives_the_items_of_its_training_split(tmp_path):
    """With a single dataset, pretraining draws exactly the clips, labels and indices it drew before several
    datasets could be pooled, in the same order: the same batches, so earlier runs' numbers still hold."""
    from skelemix.data.loading import SplitDataset

    write_npz(tmp_path / "a.npz", 20, 1, 12)
    prepared = PreparedDataset(prepare_numpy(tmp_path / "a.npz", tmp_path / "a", "kinect_v1", [1, 3],
                                             preprocessing=Preprocessing(8, "none", False, 1)).path)
    pooled, alone = PretrainingClips([prepared], "xsub"), SplitDataset(prepared, prepared.split("xsub")["train"])
    assert len(pooled) == len(alone) == 6
    for i in range(len(alone)):
        (x, label, index), (y, label_alone, index_alone) = pooled[i], alone[i]
        assert torch.equal(x, y) and (label, index) == (label_alone, index_alone)
