"""Raw and foreign datasets: NTU and PKU-MMD on the real files, pyskl / CrosSCLR / numpy round trips, bad input."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from skelemix.data import (DatasetError, PreparedDataset, Preprocessing, export_numpy, export_pyskl,
                           prepare_crossclr, prepare_ntu, prepare_numpy, prepare_pku_mmd, prepare_pyskl,
                           prepare_synthetic)
from skelemix.data.ntu import TRAIN_PERFORMERS_60, write_skeleton_file
from skelemix.data.pku_mmd import read_split_file
from skelemix.layouts import get_layout

from conftest import SHARED

NTU_DIR = SHARED / "ntu-rgbd-samples"
PKU_FILE = SHARED / "pku-mmd-sample" / "A10N08-L.txt"
NTU = get_layout("ntu25")
RAW = Preprocessing(frames=64, centring="none", rotate=False, persons=2)  # keeps the numbers of the files


@pytest.fixture
def ntu_dir():
    if not (NTU_DIR / "skeletons").is_dir():
        pytest.skip(f"real NTU RGB+D files not found at {NTU_DIR} (only the project's own checkout has ../shared)")
    return NTU_DIR


def read_joint_lines(path):
    """Independent line-by-line reading: {frame: [[body0 (25, 3)], ...]} of an NTU .skeleton file."""
    lines = path.read_text().split("\n")
    frames, position = [], 1
    for _ in range(int(lines[0])):
        count = int(lines[position])
        position += 1
        bodies = []
        for _ in range(count):
            joints = [[float(v) for v in lines[position + 2 + j].split()[:3]] for j in range(25)]
            bodies.append(np.array(joints))
            position += 27
        frames.append(bodies)
    return frames


def test_ntu_samples_parse_to_the_numbers_in_their_text(ntu_dir, tmp_path):
    path = ntu_dir / "skeletons" / "S001C001P001R001A001.skeleton"
    frames = read_joint_lines(path)
    assert len(frames) == 103 and all(len(f) == 1 for f in frames)
    # at T = 103 = the file's frame count, no centring, no rotation: resizing is the identity
    report = prepare_ntu(ntu_dir / "skeletons", tmp_path / "raw", "ntu60",
                         preprocessing=Preprocessing(103, "none", False, 2))
    ds = PreparedDataset(report.path)
    i = [s.name for s in ds.samples].index("S001C001P001R001A001")
    for t in (0, 50, 102):
        assert np.allclose(ds.data[i, :, t, :, 0].T, frames[t][0], atol=1e-6)
    assert frames[0][0][0].tolist() == [0.2181153, 0.1725972, 3.785547]  # the first joint line, by eye
    assert not ds.data[i, ..., 1].any()  # one person: the second slot stays zero
    assert ds.samples[i].frames == 103 and ds.samples[i].label == 0


def test_every_real_ntu_file_keeps_exactly_the_bodies_of_its_text(ntu_dir):
    from skelemix.data.ntu import read_ntu_file
    for path in sorted((ntu_dir / "skeletons").glob("*.skeleton")):
        frames = read_joint_lines(path)
        [(sample, bodies)] = read_ntu_file(path)
        assert bodies.shape == (2, len(frames), 25, 3) and sample.frames == len(frames)
        for t, listed in enumerate(frames):  # per frame, the kept slots hold the text's bodies, in some order
            kept = [b for b in bodies[:, t] if np.abs(b).sum() > 0]
            assert len(kept) == len(listed), (path.name, t)
            assert all(any(np.allclose(k, b, atol=1e-6) for b in listed) for k in kept), (path.name, t)
        assert (np.abs(bodies[1]).sum() > 0) == (path.name == "S001C003P008R002A058.skeleton")


def test_the_two_person_file_gives_two_bodies_and_the_paper_preprocessing(ntu_dir, tmp_path):
    ds = PreparedDataset(prepare_ntu(ntu_dir / "skeletons", tmp_path / "ntu60", "ntu60").path)
    assert ds.data.shape == (6, 3, 64, 25, 2) and ds.num_classes == 60
    i = [s.name for s in ds.samples].index("S001C003P008R002A058")
    assert ds.class_names[ds.samples[i].label] == "handshaking"
    assert np.abs(ds.data[i, ..., 0]).sum(axis=(0, 2)).min() > 0  # both people in every frame
    assert np.abs(ds.data[i, ..., 1]).sum(axis=(0, 2)).min() > 0
    # centred on the first body's spine shoulder in every frame; its shoulders parallel to x in the first frame
    assert np.abs(ds.data[:, :, :, NTU.centre, 0]).max() < 1e-6
    left, right = NTU.shoulders
    shoulder_line = ds.data[:, :, 0, right, 0] - ds.data[:, :, 0, left, 0]  # (N, 3)
    assert np.abs(shoulder_line[:, 2]).max() < 1e-5 and (shoulder_line[:, 0] > 0).all()
    # the second person keeps their place relative to the first: shaking hands, 0.3-1.5 m apart
    gap = np.linalg.norm(ds.data[i, :, :, NTU.centre, 1], axis=0)
    assert 0.3 < gap.mean() < 1.5


def test_ntu_splits_follow_the_file_names(ntu_dir, tmp_path):
    ntu60 = PreparedDataset(prepare_ntu(ntu_dir / "skeletons", tmp_path / "a", "ntu60").path)
    ntu120 = PreparedDataset(prepare_ntu(ntu_dir / "skeletons", tmp_path / "b", "ntu120").path)
    assert len(ntu120.class_names) == 120 and ntu120.class_names[119].startswith("finger-guessing")
    for ds, rules in ((ntu60, {"xsub": lambda s, c, p: p in TRAIN_PERFORMERS_60, "xview": lambda s, c, p: c in (2, 3)}),
                      (ntu120, {"xset": lambda s, c, p: s % 2 == 0})):
        for benchmark, rule in rules.items():
            train = {ds.samples[i].name for i in ds.split(benchmark)["train"]}
            for sample in ds.samples:
                s, c, p = int(sample.name[1:4]), int(sample.name[5:8]), int(sample.name[9:12])
                assert (sample.name in train) == rule(s, c, p), (benchmark, sample.name)
    # by hand: performer 3 tests in xsub, performer 8 trains; camera 1 tests in xview; setup 4 trains in xset
    names = {s.name: i for i, s in enumerate(ntu60.samples)}
    assert names["S004C002P003R001A017"] in ntu60.split("xsub")["test"]
    assert names["S001C003P008R002A058"] in ntu60.split("xsub")["train"]
    assert names["S001C001P001R001A001"] in ntu60.split("xview")["test"]
    assert names["S004C002P003R001A017"] in ntu120.split("xset")["train"]


def test_exclude_lists_and_the_other_versions_files_are_left_out_and_counted(ntu_dir, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for path in (ntu_dir / "skeletons").glob("*.skeleton"):
        os.symlink(path, raw / path.name)
    os.symlink(ntu_dir / "skeletons" / "S001C001P001R001A001.skeleton", raw / "S018C001P001R001A061.skeleton")
    listed = tmp_path / "missing.txt"
    listed.write_text("2 samples have missing skeletons.\n\nS001C001P001R001A002\nS001C001P001R001A003\n")
    report = prepare_ntu(raw, tmp_path / "ntu60", "ntu60", exclude=listed)
    assert report.samples == 4 and report.info == {"excluded_by_list": 2, "outside_version": 1}
    assert "S001C001P001R001A002" not in {s.name for s in PreparedDataset(report.path).samples}
    assert prepare_ntu(raw, tmp_path / "ntu120", "ntu120", exclude=listed).samples == 5
    official = NTU_DIR / "missing-skeleton-lists" / "NTU_RGBD_samples_with_missing_skeletons.txt"
    from skelemix.data.ntu import read_exclude_list
    assert len(read_exclude_list(official)) == 302


def synthetic_bodies(frames=20, persons=1, seed=0):
    rng = np.random.default_rng(seed)
    bodies = np.zeros((persons, frames, 25, 3))
    base = rng.uniform(-0.3, 0.3, (25, 3)) + [0, 0, 3]
    base[:, 1] = np.linspace(-0.8, 0.8, 25)  # taller than wide: a person
    for m in range(persons):
        bodies[m] = base + [m * 0.8, 0, 0] + rng.normal(0, 0.02, (frames, 25, 3))
    return bodies


def test_bad_ntu_files_are_named_skipped_and_counted_or_fail_in_strict_mode(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    write_skeleton_file(raw / "S001C001P001R001A001.skeleton", synthetic_bodies())
    good_text = (raw / "S001C001P001R001A001.skeleton").read_text()
    lines = good_text.split("\n")
    bad = {
        "S001C001P002R001A001": (good_text[:len(good_text) // 2], "truncated"),
        "S001C001P003R001A001": ("\n".join(lines[:3] + ["20"] + lines[4:]), "body with 20 joints, expected 25"),
        "S001C001P004R001A001": (good_text.replace(lines[5].split()[0], "nan", 1), "NaN"),
        "S001C001P005R001A001": ("0\n", "no skeleton in any frame"),
        "S001C001P006R001A001": (good_text.replace(lines[5].split()[1], "abc", 1), "malformed"),
        "S001C001P007R001A001": (good_text + "5\n", "values after the last"),
        "not_an_ntu_name": (good_text, "file name is not"),
    }
    for name, (text, _) in bad.items():
        (raw / f"{name}.skeleton").write_text(text)
    report = prepare_ntu(raw, tmp_path / "out", "ntu60", workers=2)
    assert report.samples == 1 and len(report.skipped) == len(bad)
    for (source, problem), (name, (_, message)) in zip(sorted(report.skipped), sorted(bad.items())):
        assert name in source and name in problem and message in problem, problem
    with pytest.raises(DatasetError, match="truncated"):
        prepare_ntu(raw, tmp_path / "strict", "ntu60", strict=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "raw"]  # nothing half-written
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="no .skeleton files"):
        prepare_ntu(empty, tmp_path / "x", "ntu60")


def test_body_selection_drops_short_and_flat_bodies_and_keeps_the_two_that_move_most(tmp_path):
    people = synthetic_bodies(frames=30, persons=2)
    people[1] += np.sin(np.linspace(0, 6, 30))[:, None, None] * 0.2  # the second person moves more
    chair = np.zeros((1, 30, 25, 3))
    chair[0] = np.column_stack([np.linspace(-1, 1, 25), np.full(25, 0.2), np.full(25, 3.0)])  # wide and flat
    chair[0] += np.random.default_rng(1).normal(0, 0.3, (30, 25, 3)) * [1, 0.01, 1]  # and it "moves" a lot
    flicker = synthetic_bodies(frames=30, seed=2)
    flicker[:, 5:] = 0  # seen in 5 frames only
    write_skeleton_file(tmp_path / "S001C001P001R001A050.skeleton", np.concatenate([people, chair, flicker]))
    from skelemix.data.ntu import read_ntu_file
    [(sample, bodies)] = read_ntu_file(tmp_path / "S001C001P001R001A050.skeleton")
    assert bodies.shape == (2, 30, 25, 3) and sample.frames == 30
    assert np.allclose(bodies[0], people[1], atol=1e-5) and np.allclose(bodies[1], people[0], atol=1e-5)


def test_a_tracking_id_change_stays_one_person(tmp_path):
    person = synthetic_bodies(frames=40)
    first, second = person.copy(), person.copy()
    first[:, 20:] = 0
    second[:, :20] = 0  # the same person, re-detected under a new id at frame 20
    write_skeleton_file(tmp_path / "S001C001P001R001A001.skeleton", np.concatenate([first, second]))
    from skelemix.data.ntu import read_ntu_file
    [(_, bodies)] = read_ntu_file(tmp_path / "S001C001P001R001A001.skeleton")
    assert np.allclose(bodies[0], person[0], atol=1e-5) and not bodies[1].any()


@pytest.fixture
def pku_file():
    if not PKU_FILE.is_file():
        pytest.skip(f"real PKU-MMD file not found at {PKU_FILE} (only the project's own checkout has ../shared)")
    return PKU_FILE


def test_pku_mmd_gives_one_sample_per_interval_with_its_frames(pku_file, tmp_path):
    skeletons, labels = tmp_path / "skeleton", tmp_path / "label"
    skeletons.mkdir(), labels.mkdir()
    os.symlink(pku_file, skeletons / pku_file.name)
    (labels / pku_file.name).write_text("3,10,50,1\n51,200,240,2\n\n7,1000,1040,1\n")
    split = tmp_path / "cross-view.txt"
    split.write_text("Training videos: \nA01N01-M, A10N08-L, \nValidataion videos: \nA01N01-L, \n")
    report = prepare_pku_mmd(skeletons, labels, tmp_path / "pku", part=2, splits={"xview": split},
                             preprocessing=Preprocessing(40, "none", False, 2))
    ds = PreparedDataset(report.path)
    assert [s.name for s in ds.samples] == ["A10N08-L_001", "A10N08-L_002", "A10N08-L_003"]
    assert [s.label for s in ds.samples] == [2, 50, 6] and [s.frames for s in ds.samples] == [40, 40, 40]
    assert ds.num_classes == 51 and ds.samples[0].view == 1  # L
    rows = np.loadtxt(pku_file)
    assert rows.shape == (1040, 150)
    for i, start in enumerate((10, 200, 1000)):
        expected = rows[start:start + 40].reshape(40, 2, 25, 3)  # (T, M, V, C)
        assert np.allclose(ds.data[i], expected.transpose(3, 0, 2, 1), atol=1e-6)
    assert ds.split("xview") == {"train": [0, 1, 2], "test": []}
    assert read_split_file(split) == {"A01N01-M": "train", "A10N08-L": "train", "A01N01-L": "test"}


def test_bad_pku_mmd_labels_are_named(pku_file, tmp_path):
    skeletons, labels = tmp_path / "skeleton", tmp_path / "label"
    skeletons.mkdir(), labels.mkdir()
    cases = {"5,1000,1100,1": "outside the file's 1040 frames", "x,1,2": "expected action_id", "52,1,20": "action 52"}
    for k, text in enumerate(cases):
        os.symlink(pku_file, skeletons / f"V{k}-L.txt")
        (labels / f"V{k}-L.txt").write_text(text + "\n")
    (skeletons / "V9-L.txt").write_text("1 2 3\n")
    (labels / "V9-L.txt").write_text("1,0,1\n")
    with pytest.raises(DatasetError, match="no usable samples"):
        prepare_pku_mmd(skeletons, labels, tmp_path / "out")
    os.symlink(pku_file, skeletons / "good-L.txt")
    (labels / "good-L.txt").write_text("1,0,30\n")
    report = prepare_pku_mmd(skeletons, labels, tmp_path / "out")
    problems = [p for _, p in sorted(report.skipped)]
    assert report.samples == 1 and len(problems) == 4
    for problem, message in zip(problems, [*cases.values(), "row 1 has 3 values, expected 150"]):
        assert message in problem and "V" in problem, problem


def test_pyskl_round_trip_is_lossless_for_3d_and_2d(ntu_dir, tmp_path):
    original = PreparedDataset(prepare_ntu(ntu_dir / "skeletons", tmp_path / "ntu", "ntu60").path)
    again = PreparedDataset(prepare_pyskl(export_pyskl(original.path, tmp_path / "ntu.pkl"), tmp_path / "back",
                                          preprocessing=RAW).path)
    assert_same_dataset(original, again)
    with open(tmp_path / "ntu.pkl", "rb") as f:
        content = pickle.load(f)
    assert content["split"]["xsub_train"] == [original.samples[i].name for i in original.split("xsub")["train"]]
    assert content["annotations"][0]["keypoint"].shape == (2, 64, 25, 3)

    rng = np.random.default_rng(0)
    names = ["a1_s7_t1", "a2_s7_t1", "a3_s2_t1", "a1_s10_t2"]  # UTD-MHAD style: action, subject, take
    annotations = [{"frame_dir": name, "label": i % 3, "keypoint": rng.uniform(1, 500, (1, 10 + i, 17, 2)),
                    "keypoint_score": rng.uniform(0, 1, (1, 10 + i, 17))} for i, name in enumerate(names)]
    with open(tmp_path / "pose2d.pkl", "wb") as f:
        pickle.dump({"split": {"train": names[:3], "val": names[3:]}, "annotations": annotations}, f)
    pose = PreparedDataset(prepare_pyskl(tmp_path / "pose2d.pkl", tmp_path / "pose",
                                         preprocessing=Preprocessing(10, "frame", True, 1)).path)
    assert pose.layout.name == "coco17" and pose.split("default") == {"train": [0, 1, 2], "test": [3]}
    assert [sample.subject for sample in pose.samples] == [7, 7, 2, 10]  # from the names: cv leaves one out
    assert np.allclose(pose.data[0, 2, ..., 0], annotations[0]["keypoint_score"][0].astype(np.float32))  # scores untouched
    assert np.allclose(pose.data[0, :2, :, 5, 0].T,
                       annotations[0]["keypoint"][0, :, 5] - annotations[0]["keypoint"][0, :, 0], atol=1e-3)
    back = PreparedDataset(prepare_pyskl(export_pyskl(pose.path, tmp_path / "pose_again.pkl"), tmp_path / "pose2",
                                         preprocessing=Preprocessing(10, "none", False, 1)).path)
    assert_same_dataset(pose, back)


def assert_same_dataset(a, b):
    assert np.array_equal(np.asarray(a.data), np.asarray(b.data))
    assert a.samples == b.samples and a.splits == b.splits
    assert a.class_names == b.class_names and a.layout == b.layout


def test_crossclr_and_numpy_round_trips_are_lossless(ntu_dir, tmp_path):
    original = PreparedDataset(prepare_ntu(ntu_dir / "skeletons", tmp_path / "ntu", "ntu60").path)
    train, test = original.split("xsub")["train"], original.split("xsub")["test"]
    for part, indices in (("train", train), ("val", test)):
        np.save(tmp_path / f"{part}_data_joint.npy", np.asarray(original.data)[indices])
        with open(tmp_path / f"{part}_label.pkl", "wb") as f:
            pickle.dump(([original.samples[i].name + ".skeleton" for i in indices],
                         [original.samples[i].label for i in indices]), f)
    crossclr = PreparedDataset(prepare_crossclr(
        tmp_path / "train_data_joint.npy", tmp_path / "train_label.pkl", tmp_path / "crossclr",
        test_data=tmp_path / "val_data_joint.npy", test_labels=tmp_path / "val_label.pkl", preprocessing=RAW).path)
    order = train + test
    assert np.array_equal(np.asarray(crossclr.data), np.asarray(original.data)[order])
    assert [s.name for s in crossclr.samples] == [original.samples[i].name for i in order]
    assert [s.subject for s in crossclr.samples] == [original.samples[i].subject for i in order]
    assert crossclr.split("xsub") == {"train": list(range(len(train))), "test": list(range(len(train), 6))}
    assert crossclr.class_names == original.class_names

    synthetic = PreparedDataset(prepare_synthetic(tmp_path / "syn", performers=2, repetitions=1, frames=16).path)
    again = PreparedDataset(prepare_numpy(export_numpy(synthetic.path, tmp_path / "syn.npz"), tmp_path / "syn2",
                                          preprocessing=Preprocessing(16, "none", False, 1)).path)
    assert_same_dataset(synthetic, again)


def test_numpy_input_options_and_bad_samples(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(5, 12, 25, 3))
    data[2, 4, 3, 1] = np.nan
    data[3] = 0.0
    data = np.concatenate([data, data[:1]])
    data[5, 0, 0, 0] = np.inf
    np.savez(tmp_path / "mine.npz", data=data, labels=np.array([0, 1, 0, 7, 1, 0]),
             subjects=np.array([1, 2, 3, 1, 2, 1]), names=np.array(["a", "b", "c", "d", "a", "e"]),
             class_names=np.array(["wave", "clap"]))
    report = prepare_numpy(tmp_path / "mine.npz", tmp_path / "out", train_subjects=[1, 3],
                           preprocessing=Preprocessing(12, "frame", True, 1))
    problems = [p for _, p in report.skipped]
    assert report.samples == 2 and len(problems) == 4
    assert "[sample 2: c]" in problems[0] and "NaN or infinite" in problems[0]
    assert "[sample 3: d]" in problems[1] and "no frames with a skeleton" in problems[1]
    assert "a: duplicate sample name" in problems[2]
    assert "[sample 5: e]" in problems[3] and "NaN or infinite" in problems[3]
    assert PreparedDataset(report.path).split("xsub") == {"train": [0], "test": [1]}
    np.savez(tmp_path / "labels.npz", data=data[:2], labels=np.array([0, 5]), class_names=np.array(["wave", "clap"]))
    assert "label 5 outside 0..1" in prepare_numpy(tmp_path / "labels.npz", tmp_path / "l").skipped[0][1]
    np.savez(tmp_path / "joints.npz", data=data[:2, :, :20], labels=np.array([0, 1]))
    with pytest.raises(DatasetError, match=r"joints.npz \[sample 0: sample000000\]: 20 joints, but layout ntu25"):
        prepare_numpy(tmp_path / "joints.npz", tmp_path / "j", strict=True)
    (tmp_path / "broken.npz").write_bytes((tmp_path / "mine.npz").read_bytes()[:300])
    with pytest.raises(DatasetError, match="broken.npz: not a readable"):
        prepare_numpy(tmp_path / "broken.npz", tmp_path / "b")
    np.savez(tmp_path / "nolabels.npz", data=data)
    with pytest.raises(DatasetError, match="missing array 'labels'"):
        prepare_numpy(tmp_path / "nolabels.npz", tmp_path / "n")


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_pickles_asking_for_other_classes_are_refused_without_running_them(tmp_path):
    marker = tmp_path / "was-executed"
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump({"annotations": [Payload(marker)]}, f)
    with pytest.raises(DatasetError, match=r"evil.pkl: the pickle asks for posix.mkdir"):
        prepare_pyskl(tmp_path / "evil.pkl", tmp_path / "out")
    assert not marker.exists()
    (tmp_path / "cut.pkl").write_bytes(pickle.dumps({"annotations": list(range(100))})[:50])
    with pytest.raises(DatasetError, match="cut.pkl: not a valid pickle"):
        prepare_pyskl(tmp_path / "cut.pkl", tmp_path / "out")
    with open(tmp_path / "list.pkl", "wb") as f:
        pickle.dump([1, 2], f)
    with pytest.raises(DatasetError, match="not a pyskl annotation file"):
        prepare_pyskl(tmp_path / "list.pkl", tmp_path / "out")


def test_cli_reports_skipped_files_and_strict_mode_fails_in_one_line(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    write_skeleton_file(raw / "S001C001P001R001A001.skeleton", synthetic_bodies())
    (raw / "S001C001P002R001A001.skeleton").write_text("3\n1\n")
    run = [sys.executable, "-m", "skelemix", "prepare", "ntu60", str(raw)]
    result = subprocess.run(run + [str(tmp_path / "out"), "--no-progress"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "wrote 1 samples" in result.stdout
    assert "S001C001P002R001A001.skeleton: truncated" in result.stderr and "skipped 1 bad samples" in result.stderr
    result = subprocess.run(run + [str(tmp_path / "strict"), "--strict", "--no-progress"], capture_output=True,
                            text=True)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "S001C001P002R001A001.skeleton: truncated" in result.stderr
    assert not (tmp_path / "strict").exists()


def test_a_preparation_killed_mid_run_leaves_nothing_that_looks_finished(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    bodies = synthetic_bodies(frames=150)
    write_skeleton_file(raw / "S001C001P001R001A001.skeleton", bodies, np.random.default_rng(0))
    text = (raw / "S001C001P001R001A001.skeleton").read_bytes()
    for performer in range(2, 41):
        for action in range(1, 16):
            (raw / f"S001C001P{performer:03d}R001A{action:03d}.skeleton").write_bytes(text)
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "skelemix", "prepare", "ntu60", str(raw), str(out),
                                "--workers", "1", "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import time
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until rows are being written, then kill -9
        partial = list(tmp_path.glob(".out.partial-*/data.npy"))
        if partial and partial[0].stat().st_size > 200_000:
            break
        time.sleep(0.02)
    process.kill()
    process.wait()
    assert partial and not out.exists()
    report = prepare_ntu(raw, out, "ntu60")  # a rerun clears the leftovers and finishes
    assert report.samples == 586 and sorted(p.name for p in tmp_path.iterdir()) == ["out", "raw"]
