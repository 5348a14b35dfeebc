"""Preprocessing, the prepared format, the NW-UCLA reader on the real files, and the synthetic generator."""

import json
import pickle

import numpy as np
import pytest

from skelemix.data import DatasetError, PreparedDataset, prepare_nw_ucla, prepare_synthetic
from skelemix.data.nw_ucla import read_nw_ucla_file
from skelemix.data.preprocess import Preprocessing, preprocess, resize_frames
from skelemix.layouts import get_layout

NTU = get_layout("ntu25")


def test_resize_interpolates_linearly_and_keeps_the_ends():
    seq = np.array([0.0, 10.0, 40.0])[:, None]
    # 5 frames sample positions 0, 0.5, 1, 1.5, 2
    assert resize_frames(seq, 5)[:, 0].tolist() == [0.0, 5.0, 10.0, 25.0, 40.0]
    assert resize_frames(np.array([[7.0]]), 4)[:, 0].tolist() == [7.0] * 4
    with pytest.raises(ValueError, match="no frames"):
        resize_frames(np.zeros((0, 3)), 4)


def test_preprocess_centres_every_frame_and_leaves_absent_bodies_zero():
    bodies = np.zeros((2, 2, 25, 3))  # M=2, T=2
    bodies[0, :, NTU.centre] = [[1, 2, 3], [2, 2, 2]]  # the centre joint moves
    bodies[0, :, 0] = [[2, 2, 3], [2, 3, 2]]
    plain = Preprocessing(frames=2, rotate=False, persons=2)
    out = preprocess(bodies, NTU, plain)
    assert out.shape == (3, 2, 25, 2)
    assert out[:, 0, 0, 0].tolist() == [1, 0, 0] and out[:, 1, 0, 0].tolist() == [0, 1, 0]
    assert not out[..., 1].any()  # the second body is absent
    first = preprocess(bodies, NTU, Preprocessing(frames=2, centring="first_frame", rotate=False, persons=1))
    assert first[:, 1, NTU.centre, 0].tolist() == [1, 0, -1]  # the centre's own motion stays
    with pytest.raises(ValueError, match="NaN"):
        preprocess(np.full((1, 2, 25, 3), np.nan), NTU, plain)
    with pytest.raises(ValueError, match="20 joints, but layout ntu25 has 25"):
        preprocess(np.ones((1, 2, 20, 3)), NTU, plain)
    with pytest.raises(ValueError, match="no frames with a skeleton"):
        preprocess(np.zeros((1, 3, 25, 3)), NTU, plain)


def test_centring_follows_the_second_body_where_the_first_is_absent_and_empty_frames_go():
    bodies = np.zeros((2, 4, 25, 3))
    bodies[0, 0] = 1.0
    bodies[1, 0] = 5.0
    bodies[1, 3] = 7.0  # frame 3: only the second body; frames 1, 2: nobody
    bodies[1, 3, NTU.centre] = 6.0
    out = preprocess(bodies, NTU, Preprocessing(frames=2, rotate=False, persons=2))
    assert out[:, 0, 3, 1].tolist() == [4, 4, 4]  # frame 0 is centred on body 0's centre (1, 1, 1)
    assert out[:, 1, 3, 1].tolist() == [1, 1, 1]  # the last valid frame on body 1's own centre (6, 6, 6)
    assert not out[:, 1, :, 0].any()  # body 0 is absent in the last valid frame and stays zero


def test_rotation_turns_the_shoulders_parallel_to_x_about_the_vertical_axis():
    left, right = NTU.shoulders
    body = np.zeros((1, 2, 25, 3))
    body[0, :] = [5.0, 1.0, 3.0]  # every joint at the centre ...
    body[0, :, left] += [0, 0, -1]  # ... but the shoulders, which lie along z
    body[0, :, right] += [0, 0, 1]
    body[0, :, 3] += [1, 2, 0]  # the head is 1 along x and 2 up from the centre
    out = preprocess(body, NTU, Preprocessing(frames=2, rotate=True, persons=1))
    # a 90-degree turn about y: z -> x, x -> -z; y never changes
    assert np.allclose(out[:, 0, right, 0] - out[:, 0, left, 0], [2, 0, 0])
    assert np.allclose(out[:, 0, 3, 0], [0, 2, -1])
    assert np.allclose(out[:, :, NTU.centre], 0)


def test_two_dimensional_layouts_keep_their_scores_and_are_never_rotated():
    coco = get_layout("coco17")
    body = np.zeros((1, 2, 17, 3))
    body[0, :, :, :2] = [[10.0, 20.0]]
    body[0, :, 0, :2] = [4.0, 5.0]  # the nose, coco17's centre
    body[0, :, :, 2] = 0.5
    out = preprocess(body, coco, Preprocessing(frames=2, rotate=True, persons=1))
    assert np.allclose(out[:2, :, 1, 0], [[6, 6], [15, 15]]) and np.allclose(out[2], 0.5)
    assert Preprocessing(rotate=True).for_layout(coco).rotate is False


def test_nw_ucla_real_files(nw_ucla_dir, tmp_path):
    per_frame = Preprocessing(frames=64, centring="frame", rotate=False, persons=1)  # checkable by hand
    report = prepare_nw_ucla(nw_ucla_dir / "all_sqe", tmp_path / "ucla", preprocessing=per_frame, workers=2)
    assert report.samples == 1484 and not report.skipped
    ds = PreparedDataset(report.path)
    assert ds.data.shape == (1484, 3, 64, 20, 1) and ds.layout.name == "kinect_v1" and ds.num_classes == 10
    xview = ds.split("xview")
    assert (len(xview["train"]), len(xview["test"])) == (1020, 464)
    with open(nw_ucla_dir / "val_label.pkl", "rb") as f:  # the CTR-GCN test list, trusted test data
        official_test = {entry["file_name"] for entry in pickle.load(f)}
    assert {ds.samples[i].name for i in xview["test"]} == official_test
    # spot-check one sample against its raw json, read independently
    i = next(i for i, s in enumerate(ds.samples) if s.name == "a01_s01_e00_v01")
    raw = np.array(json.loads((nw_ucla_dir / "all_sqe" / "a01_s01_e00_v01.json").read_text())["skeletons"])
    assert ds.samples[i].frames == len(raw) and ds.samples[i].label == 0
    centre = 2  # shoulder centre (1-based 3)
    assert np.allclose(ds.data[i, :, 0, 7, 0], raw[0, 7] - raw[0, centre], atol=1e-6)
    assert np.allclose(ds.data[i, :, -1, 7, 0], raw[-1, 7] - raw[-1, centre], atol=1e-6)
    # the one-frame sequence is repeated, not crashed on
    one = next(i for i, s in enumerate(ds.samples) if s.name == "a02_s09_e04_v02")
    assert ds.samples[one].frames == 1
    assert np.allclose(ds.data[one], ds.data[one][:, :1])


def test_nw_ucla_defaults_are_the_fields_normalisation_facing_the_camera(nw_ucla_dir, tmp_path):
    ds = PreparedDataset(prepare_nw_ucla(nw_ucla_dir / "all_sqe", tmp_path / "ucla", workers=2).path)
    assert ds.info["preprocessing"]["centring"] == "first_frame" and ds.info["preprocessing"]["scale"] == "minmax"
    i = next(i for i, s in enumerate(ds.samples) if s.name == "a01_s01_e00_v01")
    x = ds.data[i, :, :, :, 0]  # (3, T, 20)
    # each axis of the sequence spans [-1, 1] (scaled before resizing to 64 frames, which may miss an extreme frame)
    np.testing.assert_allclose(x.min(axis=(1, 2)), -1, atol=0.01)
    np.testing.assert_allclose(x.max(axis=(1, 2)), 1, atol=0.01)
    left, right = ds.layout.shoulders
    assert x[2, 0, left] == pytest.approx(x[2, 0, right], abs=1e-5)  # turned: first-frame shoulders level in depth
    raw = np.array(json.loads((nw_ucla_dir / "all_sqe" / "a01_s01_e00_v01.json").read_text())["skeletons"])
    assert abs(raw[0, left, 2] - raw[0, right, 2]) > 0.01  # they were not in the recording


def test_nw_ucla_bad_files_name_the_file(tmp_path):
    good = {"file_name": "a01_s01_e00_v01", "skeletons": [[[0.1, 0.2, 0.3]] * 20] * 3, "label": 1}
    cases = {
        "a01_s01_e00_v01.json": ("{not json", "not valid JSON"),
        "a01_s01_e00_v02.json": (json.dumps({**good, "skeletons": [[[0.0] * 3] * 25] * 3}), r"\(T, 20, 3\)"),
        "a01_s01_e00_v03.json": (json.dumps({**good, "skeletons": []}), "shape|no frames"),
        "a01_s02_e00_v01.json": (json.dumps({**good, "label": 11}), "label 11"),
        "a01_s03_e00_v01.json": (json.dumps({**good, "skeletons": [[[float("nan")] * 3] * 20]}), "NaN"),
        "a01_s04_e00_v01.json": (json.dumps({"skeletons": good["skeletons"]}), "missing key 'label'"),
        "bad_name.json": (json.dumps(good), "file name"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(DatasetError, match=message) as error:
            read_nw_ucla_file(path)
        assert name in str(error.value)
    (tmp_path / "a05_s01_e00_v01.json").write_text(json.dumps(good))
    report = prepare_nw_ucla(tmp_path, tmp_path / "out")  # the default skips and counts them
    assert report.samples == 1 and len(report.skipped) == len(cases)
    assert (report.path / "skipped.csv").read_text().count("\n") == len(cases) + 1
    with pytest.raises(DatasetError, match="not valid JSON") as error:
        prepare_nw_ucla(tmp_path, tmp_path / "strict", strict=True)
    assert "a01_s01_e00_v01.json" in str(error.value)  # the first bad file in name order
    assert not (tmp_path / "strict").exists()


def test_a_failed_preparation_leaves_nothing_that_looks_finished(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "a01_s01_e00_v01.json").write_text("[]")
    with pytest.raises(DatasetError):
        prepare_nw_ucla(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in"]  # no staging directory left behind
    with pytest.raises(DatasetError, match="no such directory"):
        prepare_nw_ucla(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(DatasetError, match="not a prepared dataset"):
        PreparedDataset(source)


def test_synthetic_dataset_is_seeded_and_split_by_performer(tmp_path):
    a = PreparedDataset(prepare_synthetic(tmp_path / "a", performers=4, repetitions=2, frames=32, seed=3).path)
    b = PreparedDataset(prepare_synthetic(tmp_path / "b", performers=4, repetitions=2, frames=32, seed=3).path)
    assert a.data.shape == (12 * 4 * 2, 3, 32, 25, 1) and a.num_classes == 12
    assert np.array_equal(a.data, b.data)
    xsub = a.split("xsub")
    assert {a.samples[i].subject for i in xsub["train"]} == {1, 2}
    assert {a.samples[i].subject for i in xsub["test"]} == {3, 4}
    assert np.isfinite(a.data).all()
    # every frame is centred on the spine-shoulder joint
    assert np.abs(a.data[:, :, :, get_layout("ntu25").centre]).max() == 0
