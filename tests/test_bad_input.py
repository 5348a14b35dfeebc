"""The bad-input catalogue (docs/BAD_INPUT.md): every row's message and exit code, through the command line in this
process and through the installed executable."""

import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from skelemix.data import prepare_synthetic

from conftest import run_skelemix as run

CATALOGUE = Path(__file__).resolve().parents[1] / "docs" / "BAD_INPUT.md"
TINY = ["encoder.hidden_channels=8", "method.queue_size=32", "method.mix.min_frames=1", "method.mix.max_frames=2",
        "train.batch_size=8", "train.knn_every=0", "train.precision=32", "train.epochs=1"]
# rows checked in tests/test_resume.py and tests/test_model_folder.py, where the situation is made through the Python
# API, and in tests/test_allocator.py (an environment variable that only the executable reads)
CHECKED_ELSEWHERE = {"skipping", "checkpoints need about", "non-finite loss", "cannot write the run directory",
                     "must be one of mimalloc, system", "in use by another skelemix process (pid",
                     "no longer the dataset the run was pretrained on", "is fewer than the",
                     "the folder's files disagree", "reading the Hugging Face Hub needs huggingface_hub"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A prepared dataset, damaged copies of it, a trained run and odd files, shared by the cases."""
    root = tmp_path_factory.mktemp("bad")
    data = prepare_synthetic(root / "data", performers=4, repetitions=2, frames=16).path
    damaged = {}
    for name, damage in {
        "npy": lambda d: (d / "data.npy").write_bytes(b"\x93NUMPY garbage"),
        "shape": lambda d: np.save(d / "data.npy", np.zeros((96, 3, 16, 20, 1), np.float32)),
        "rows": lambda d: (d / "samples.csv").write_text("\n".join((d / "samples.csv").read_text().split("\n")[:4])),
        "json": lambda d: (d / "dataset.json").write_text("{broken"),
        "nan": lambda d: _poke(d, 3, np.nan),
        "inf": lambda d: _poke(d, 5, np.inf),
        "label": lambda d: _relabel(d, 2, 12),
        "negative": lambda d: _relabel(d, 0, -1),
        "minus": lambda d: _resplit(d, lambda s: {**s, "train": [-1, *s["train"]]}),
        "strindex": lambda d: _resplit(d, lambda s: {**s, "train": ["3", *s["train"]]}),
        "overlap": lambda d: _resplit(d, lambda s: {**s, "test": [*s["test"], s["train"][0]]}),
        "twice": lambda d: _resplit(d, lambda s: {**s, "train": [s["train"][0], *s["train"]]}),
    }.items():
        shutil.copytree(data, root / name)
        damage(root / name)
        damaged[name] = root / name
    (root / "notdata").mkdir()
    (root / "broken.yaml").write_text("train: [unclosed\n")
    (root / "fake.ckpt").write_bytes(b"\x00not a checkpoint" * 8)
    torch.save({"state_dict": {}}, root / "foreign.ckpt")
    torch.save({"hyper_parameters": {}, "skelemix": {"format_version": 99}}, root / "future.ckpt")
    torch.save({"hyper_parameters": {}, "code": ValueError("an object")}, root / "object.ckpt")
    (root / "nonempty").mkdir()
    (root / "nonempty" / "file").write_text("x")
    np.savez(root / "all.npz", data=np.random.default_rng(0).normal(size=(12, 16, 25, 3)), labels=np.arange(12) % 2)
    run(["prepare", "numpy", str(root / "all.npz"), str(root / "alldata"), "--no-progress"], root)
    run(["pretrain", "synthetic", "skelemixclr", f"data.path={data}", *TINY, "--run-dir", str(root / "run"),
         "--no-progress"], root)
    run(["pretrain", "synthetic", "skelemixclr", f"data.path={root / 'alldata'}", "data.benchmark=all", *TINY,
         "--run-dir", str(root / "allrun"), "--no-progress"], root)
    run(["evaluate", "knn", str(root / "run")], root)
    run(["evaluate", "linear", str(root / "run"), "--epochs", "1"], root)
    kinect, landmarks = "1," + "0.1,0.2,2.5,2," * 25, json.dumps([[0.5, 0.5, 0.0]] * 33)
    for name, lines in {"short": [kinect] * 3, "brokenline": [kinect, "{broken"], "mixed": [kinect, landmarks],
                        "mediapipe": [landmarks] * 64}.items():
        (root / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    run(["evaluate", "knn", str(root / "run"), "--benchmark", "xview", "--out-dir", str(root / "xview-eval")], root)
    (root / "emptyrun").mkdir()
    shutil.copy(root / "run" / "config.yaml", root / "emptyrun")
    run(["export", "reference", str(root / "run"), str(root / "authors.pt")], root)
    partial = torch.load(root / "authors.pt", weights_only=True)
    del partial["encoder_q.data_bn.weight"]
    torch.save(partial, root / "partial.pt")
    twenty = [{"pose_keypoints_2d": [1.0, 2.0, 0.9] * 20}]
    for clip, people in {"nobody": [], "foreign": None, "twenty": twenty}.items():
        (root / clip).mkdir()
        for t in range(3):
            frame = {"people": people} if people is not None else {"nose": {"x": 1, "y": 2}}
            (root / clip / f"{t:03d}.json").write_text(json.dumps(frame))
    (root / "labels.csv").write_text("nobody\n")
    (root / "clips").mkdir()
    for clip in ("a", "b"):
        shutil.copytree(root / "twenty", root / "clips" / clip)
    (root / "movenet.json").write_text(json.dumps([{"nose": {"x": 1.0, "y": 2.0}}] * 3))
    (root / "mmpose20.json").write_text(json.dumps([{"frame_id": 0, "instances": [
        {"keypoints": [[1.0, 2.0]] * 20, "keypoint_scores": [0.9] * 20}]}]))
    frame = "1," + "0.1,0.2,2.5,0," * 25
    (root / "untracked.csv").write_text(f"{frame}\n{frame}\n")
    (root / "cut.csv").write_text(f"{frame}\n{frame[:40]}\n")
    (root / "notes.txt").write_text("not a recording")
    header = "frame," + ",".join(f"L{j}_{a}" for j in range(33) for a in ("x", "y", "z", "visibility"))
    (root / "shifted.csv").write_text(f"{header}\n0," + "0.5," * 131 + "0.5,0.9\n")  # 134 cells
    (root / "msr").mkdir()
    (root / "msr" / "a01_s01_e01_skeleton3D.txt").write_text("0.1 0.2 2.5 1\n" * 19 + "0.1 0.2 2.5\n")
    (root / "utk").mkdir()
    (root / "utk" / "joints_s01_e01.txt").write_text("1 " + "0.1 " * 60 + "\n")
    (root / "utk" / "labels.txt").write_text("s01_e01\njump: 1 2\n")
    (root / "utk" / "late.txt").write_text("s01_e01\nwalk: 5 9\n")
    shutil.copytree(root / "run", root / "badresult")
    result = json.loads((root / "run" / "evaluation" / "knn.json").read_text())
    del result["top1"]
    (root / "badresult" / "evaluation" / "knn.json").write_text(json.dumps(result))
    np.savez(root / "v1.npz", data=np.random.default_rng(0).normal(size=(24, 16, 20, 3)), labels=np.arange(24) % 2,
             subjects=np.arange(24) % 2 + 1)
    run(["prepare", "numpy", str(root / "v1.npz"), str(root / "msrdata"), "--layout", "kinect_v1", "--frames", "16",
         "--train-subjects", "1", "--no-progress"], root)
    return {"root": root, "data": data, **damaged}


def _poke(prepared, sample, value):
    data = np.load(prepared / "data.npy", mmap_mode="r+")
    data[sample, 1, 2, 3, 0] = value
    data.flush()


def _relabel(prepared, row, label):
    lines = (prepared / "samples.csv").read_text().split("\n")
    cells = lines[row + 1].split(",")
    cells[2] = str(label)
    lines[row + 1] = ",".join(cells)
    (prepared / "samples.csv").write_text("\n".join(lines))


def _resplit(prepared, change):
    splits = json.loads((prepared / "splits.json").read_text())
    splits["xsub"] = change(splits["xsub"])
    (prepared / "splits.json").write_text(json.dumps(splits))


def stream(w, lines):
    return ["predict", str(w["root"] / "run" / "evaluation" / "linear-classifier.pt"), "--stream",
            str(w["root"] / f"{lines}.jsonl")]


def pretrain(w, *overrides):
    return ["pretrain", "synthetic", "skelemixclr", f"data.path={w['data']}", *TINY, *overrides, "--no-progress",
            "--run-dir", str(w["root"] / "new-run")]


CASES = {
    # config files and overrides
    "unknown key 'train.epohcs'": (lambda w: pretrain(w, "train.epohcs=3"), 1),
    "train.epochs must be int": (lambda w: pretrain(w, "train.epochs=ten"), 1),
    "data.stream must be one of joint, motion, bone": (lambda w: pretrain(w, "data.stream=velocity"), 1),
    "method.mix needs 1 <= min_parts <= max_parts <= 5":
        (lambda w: pretrain(w, "method.mix.min_parts=4", "method.mix.max_parts=3"), 1),
    "does not split evenly over 2 devices": (lambda w: pretrain(w, "train.batch_size=9", "train.devices=2"), 1),
    "invalid YAML": (lambda w: ["pretrain", str(w["root"] / "broken.yaml")], 1),
    "no such config file or built-in config": (lambda w: ["pretrain", "ntu61_xsub"], 1),
    "give at least one config": (lambda w: ["pretrain"], 1),
    # prepared datasets
    "no such prepared dataset directory": (lambda w: pretrain(w, f"data.path={w['root'] / 'nowhere'}"), 1),
    "not a prepared dataset (missing": (lambda w: pretrain(w, f"data.path={w['root'] / 'notdata'}"), 1),
    "no benchmark 'xsubb'": (lambda w: pretrain(w, "data.benchmark=xsubb"), 1),
    "data.npy: unreadable": (lambda w: pretrain(w, f"data.path={w['npy']}"), 1),
    "is not (N, 3, T, 25, M) for layout ntu25": (lambda w: pretrain(w, f"data.path={w['shape']}"), 1),
    "samples.csv has 3 rows, data.npy 96": (lambda w: pretrain(w, f"data.path={w['rows']}"), 1),
    "dataset.json: invalid JSON": (lambda w: pretrain(w, f"data.path={w['json']}"), 1),
    "fewer training samples than one batch": (lambda w: pretrain(w, "train.batch_size=64"), 1),
    "has no test samples": (lambda w: ["evaluate", "knn", str(w["root"] / "allrun")], 1),
    "sample 3 (": (lambda w: pretrain(w, f"data.path={w['nan']}"), 1),
    "sample 5 (": (lambda w: ["evaluate", "knn", str(w["root"] / "run"), "--data", str(w["inf"])], 1),
    "has NaN or infinite coordinates": (lambda w: ["check", str(w["nan"]), "--no-progress"], 1),
    "has label 12, outside 0..11": (lambda w: pretrain(w, f"data.path={w['label']}"), 1),
    "has label -1, outside 0..11": (lambda w: ["embed", str(w["root"] / "run"), str(w["negative"]), "--out",
                                               str(w["root"] / "neg.npy")], 1),
    "index -1 outside": (lambda w: pretrain(w, f"data.path={w['minus']}"), 1),
    "indices must be a list of integers": (lambda w: pretrain(w, f"data.path={w['strindex']}"), 1),
    "is in both train and test": (lambda w: ["evaluate", "linear", str(w["root"] / "run"), "--data",
                                             str(w["overlap"])], 1),
    "listed twice": (lambda w: pretrain(w, f"data.path={w['twice']}"), 1),
    "data.path must name at least one prepared dataset": (lambda w: pretrain(w, "data.path=[]"), 1),
    "data.path must be str or list of str": (lambda w: pretrain(w, "data.path={a: 1}"), 1),
    "data.preprocessing.centring must be one of frame, body, first_frame, none": (
        lambda w: pretrain(w, "data.preprocessing.centring=middle"), 1),
    "train.steps must be >= 0": (lambda w: pretrain(w, "train.steps=-1"), 1),
    "method.mix.max_frames=11 is more than the 4 feature frames": (
        lambda w: pretrain(w, "method.mix.min_frames=7", "method.mix.max_frames=11"), 1),
    "encoder.dropout must be in [0, 1)": (lambda w: pretrain(w, "encoder.dropout=1.5"), 1),
    "no joint mapping from kinect_v1 to ntu25": (
        lambda w: pretrain(w, f"data.path=[{w['data']}, {w['root'] / 'msrdata'}]"), 1),
    # checkpoints and run directories
    "no such checkpoint": (lambda w: ["evaluate", "knn", str(w["root"] / "nothing.ckpt")], 1),
    "not a readable checkpoint": (lambda w: ["evaluate", "linear", str(w["root"] / "fake.ckpt")], 1),
    "not a skelemix pretraining checkpoint": (lambda w: ["evaluate", "knn", str(w["root"] / "foreign.ckpt")], 1),
    "written by an incompatible skelemix": (lambda w: ["evaluate", "knn", str(w["root"] / "future.ckpt")], 1),
    "object.ckpt: not a readable checkpoint": (lambda w: ["evaluate", "knn", str(w["root"] / "object.ckpt")], 1),
    "no readable checkpoint to resume from": (lambda w: ["pretrain", "--resume", str(w["root"] / "emptyrun")], 1),
    "not a skelemix run directory (no config.yaml)": (lambda w: ["pretrain", "--resume", str(w["root"] / "notdata")],
                                                      1),
    "--resume continues a run with its own config.yaml": (lambda w: ["pretrain", "demo", "--resume",
                                                                     str(w["root"] / "run")], 1),
    "already holds a pretraining run": (lambda w: [*pretrain(w)[:-1], str(w["root"] / "run")], 1),
    "encoder.hidden_channels=32 differs from the run's 8": (
        lambda w: ["pretrain", "--resume", str(w["root"] / "run"), "encoder.hidden_channels=32"], 1),
    "method.name=skeletonclr differs from the run's skelemixclr": (
        lambda w: ["pretrain", "--resume", str(w["root"] / "run"), "method.name=skeletonclr"], 1),
    "has layout kinect_v1, the run's encoder ntu25": (
        lambda w: ["pretrain", "--resume", str(w["root"] / "run"), f"data.path={w['root'] / 'msrdata'}"], 1),
    # evaluation, fusion, prediction
    "evaluation may change only eval.* settings": (lambda w: ["evaluate", "knn", str(w["root"] / "run"), "--set",
                                                              "encoder.dropout=0.1"], 1),
    "pretrained on the joint stream, not bone; add --force-stream": (lambda w: ["evaluate", "knn", str(w["root"] / "run"),
                                                                                "--stream", "bone"], 1),
    "semi needs --fraction in (0, 1]": (lambda w: ["evaluate", "semi", str(w["root"] / "run"), "--fraction", "0"], 1),
    "no such evaluation result": (lambda w: ["ensemble", str(w["root"] / "run"), str(w["root"] / "allrun"),
                                             "--protocol", "linear"], 1),
    "scored other test samples, or in another order": (lambda w: ["ensemble", str(w["root"] / "run"),
                                                                  str(w["root"] / "xview-eval"), "--protocol", "knn"], 1),
    "fusion needs at least two runs": (lambda w: ["ensemble", str(w["root"] / "run"), "--protocol", "knn"], 1),
    "fusion weights must be finite, >= 0 and not all zero": (
        lambda w: ["ensemble", str(w["root"] / "run"), str(w["root"] / "run"), "--protocol", "knn", "--weights",
                   "0,0"], 1),
    "fusion weights must be finite": (
        lambda w: ["ensemble", str(w["root"] / "run"), str(w["root"] / "run"), "--protocol", "knn", "--weights",
                   "1,nan"], 1),
    "missing key 'top1'": (lambda w: ["report", str(w["root"] / "badresult")], 1),
    "eval.knn.temperature must be > 0": (lambda w: ["evaluate", "knn", str(w["root"] / "run"), "--set",
                                                    "eval.knn.temperature=0"], 1),
    "eval.knn.k must be >= 1": (lambda w: ["evaluate", "knn", str(w["root"] / "run"), "--set", "eval.knn.k=0"], 1),
    "eval.linear needs epochs >= 1": (lambda w: ["evaluate", "linear", str(w["root"] / "run"), "--set",
                                                 "eval.linear.epochs=0"], 1),
    "eval.cv.folds must be >= 2": (lambda w: ["evaluate", "cv", str(w["root"] / "run"), "--set", "eval.cv.folds=1"], 1),
    "Invalid value for '--epochs'": (lambda w: ["evaluate", "linear", str(w["root"] / "run"), "--epochs", "0"], 2),
    "Invalid value for '--top-k'": (lambda w: ["predict", str(w["root"] / "run"), str(w["data"]), "--top-k", "-3"], 2),
    "Invalid value for '--stride'": (lambda w: ["embed", str(w["root"] / "run"), str(w["data"]), "--stride", "0"], 2),
    "no such classifier file": (lambda w: ["predict", str(w["root"] / "missing.pt"), str(w["data"])], 1),
    "not a skelemix classifier": (lambda w: ["predict", str(w["root"] / "run" / "checkpoints" / "last.ckpt"),
                                             str(w["data"])], 1),
    # the authors' checkpoints, pose-estimator output
    "missing: encoder_q.data_bn.weight": (lambda w: ["import", str(w["root"] / "partial.pt"),
                                                     str(w["root"] / "imported")], 1),
    "--layout ntu26: unknown layout": (lambda w: ["import", str(w["root"] / "authors.pt"), str(w["root"] / "imp2"),
                                                  "--layout", "ntu26"], 1),
    "line 2: 134 cells, the header has 133": (lambda w: ["prepare", "mediapipe", str(w["root"] / "shifted.csv"),
                                                         str(w["root"] / "out-mpcsv"), "--no-progress"], 1),
    "line 20 has 3 values, expected 4": (lambda w: ["prepare", "msr-action3d", str(w["root"] / "msr"),
                                                    str(w["root"] / "out-msr"), "--no-progress", "--strict"], 1),
    "no _skeleton3D.txt files": (lambda w: ["prepare", "msr-action3d", str(w["root"] / "utk"), str(w["root"] / "o-m"),
                                            "--no-progress"], 1),
    "labels.txt: no such label file": (lambda w: ["prepare", "utkinect", str(w["root"] / "utk"),
                                                  str(w["root"] / "labels.txt"), str(w["root"] / "o-u"), "--no-progress"],
                                       1),
    "(walk): no frame numbered 5..9 in the recording": (
        lambda w: ["prepare", "utkinect", str(w["root"] / "utk"), str(w["root"] / "utk" / "late.txt"),
                   str(w["root"] / "o-u2"), "--no-progress", "--strict"], 1),
    "expected sSS_eEE or 'action: first last'": (lambda w: ["prepare", "utkinect", str(w["root"] / "utk"),
                                                            str(w["root"] / "utk" / "labels.txt"),
                                                            str(w["root"] / "out-utk"), "--no-progress"], 1),
    "no person detected in any of its 3 frames": (lambda w: ["prepare", "openpose", str(w["root"] / "nobody"),
                                                             str(w["root"] / "out-nobody"), "--no-progress"], 1),
    "not OpenPose output": (lambda w: ["prepare", "openpose", str(w["root"] / "foreign"), str(w["root"] / "out-foreign"),
                                       "--no-progress"], 1),
    "20 keypoints per person match no OpenPose model": (lambda w: ["prepare", "openpose", str(w["root"] / "twenty"),
                                                                   str(w["root"] / "out-20"), "--no-progress"], 1),
    "not a list of 33 [x, y, z] landmarks": (lambda w: ["prepare", "mediapipe", str(w["root"] / "movenet.json"),
                                                        str(w["root"] / "out-mp"), "--no-progress"], 1),
    "20 keypoints match no layout": (lambda w: ["prepare", "keypoints-json", str(w["root"] / "mmpose20.json"),
                                                str(w["root"] / "out-kp"), "--no-progress"], 1),
    "the camera tracked no joint": (lambda w: ["prepare", "kinect-csv", str(w["root"] / "untracked.csv"),
                                               str(w["root"] / "out-k1"), "--no-progress"], 1),
    "line 2: 12 values, a Kinect v2 frame has 101": (lambda w: ["prepare", "kinect-csv", str(w["root"] / "cut.csv"),
                                                                str(w["root"] / "out-k2"), "--no-progress"], 1),
    # live recognition
    "3 frames, fewer than the window of 64: no prediction": (lambda w: stream(w, "short"), 1),
    "brokenline.jsonl: line 2: not valid JSON": (lambda w: stream(w, "brokenline"), 1),
    "line 2: not in the format of the lines before it (kinect-csv)": (lambda w: stream(w, "mixed"), 1),
    "line 64: no joint mapping from mediapipe33 to ntu25": (lambda w: stream(w, "mediapipe"), 1),
    "give either INPUTS or --stream, not both": (lambda w: [*stream(w, "short"), str(w["data"])], 2),
    "2 clips; name one of them": (lambda w: ["replay", str(w["root"] / "clips")], 1),
    "Invalid value for '--fps'": (lambda w: ["replay", str(w["root"] / "short.jsonl"), "--fps", "-1"], 2),
    "notes.txt: not a clip skelemix can read": (lambda w: ["embed", str(w["root"] / "run"), str(w["root"] / "notes.txt"),
                                                           "--out", str(w["root"] / "f.npy")], 1),
    "windows apply to raw files": (lambda w: ["embed", str(w["root"] / "run"), str(w["data"]), "--window", "8",
                                              "--out", str(w["root"] / "f.npy")], 1),
    "expected clip,action[,split[,subject]]": (lambda w: ["prepare", "openpose", str(w["root"] / "nobody"),
                                                          str(w["root"] / "o"), "--labels",
                                                          str(w["root"] / "labels.csv")], 1),
    # command-line arguments
    "Missing argument": (lambda w: ["prepare", "ntu60"], 2),
    "Invalid value for '--frames'": (lambda w: ["prepare", "nw-ucla", "x", "y", "--frames", "many"], 2),
    "Invalid value for '--epochs': Input should be greater than or equal to 1": (lambda w: ["demo", "--epochs", "0"],
                                                                                   2),
    "encoder.hidden_channels, out_channels and projection_dim must be >= 1": (
        lambda w: pretrain(w, "encoder.hidden_channels=0"), 1),
    "encoder.temporal_kernel must be odd": (lambda w: pretrain(w, "encoder.temporal_kernel=4"), 1),
    "expected comma-separated integers": (lambda w: ["prepare", "numpy", "x.npz", "y", "--train-subjects", "1,x"], 2),
    "output directory exists and is not empty": (lambda w: ["prepare", "synthetic", str(w["root"] / "nonempty")], 1),
}


@pytest.mark.parametrize("message", list(CASES))
def test_catalogue_entry(message, world, capsys):
    make_args, expected_code = CASES[message]
    code, stderr = run(make_args(world), world["root"], capsys)
    assert code == expected_code, stderr
    assert message in stderr, stderr
    if expected_code == 1:
        assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("skelemix: error: "), stderr
    assert "Traceback" not in stderr
    assert not (world["root"] / "new-run" / "checkpoints").exists()  # nothing half-made by a failed pretrain


# through the executable: at least one row of each section of the catalogue (every row costs a process start, and
# those that reach torch and Lightning take seconds each)
SHELL_ROWS = ["unknown key 'train.epohcs'", "no such prepared dataset directory", "no such checkpoint",
              "not a skelemix classifier", "missing: encoder_q.data_bn.weight", "not OpenPose output",
              "not a list of 33 [x, y, z] landmarks", "20 keypoints match no layout", "the camera tracked no joint",
              "expected clip,action[,split[,subject]]", "Missing argument", "output directory exists and is not empty",
              "brokenline.jsonl: line 2: not valid JSON", "Invalid value for '--fps'"]
# run directories: every row that resumes, reuses or replaces one; these share one run directory, whose lock would
# turn all but one of them into "in use by another skelemix process" if they ran side by side
RUN_DIRECTORY_ROWS = ["already holds a pretraining run", "encoder.hidden_channels=32 differs from the run's 8",
                      "method.name=skeletonclr differs from the run's skelemixclr",
                      "has layout kinect_v1, the run's encoder ntu25", "no readable checkpoint to resume from",
                      "not a skelemix run directory (no config.yaml)", "--resume continues a run with its own config.yaml"]


def test_the_catalogue_through_the_installed_executable(world):
    """Rows again through the real ``skelemix`` executable, as a user's shell runs it: exit code and stderr."""
    executable = shutil.which("skelemix")
    if executable is None:
        pytest.skip("the skelemix executable is not on PATH (install the package)")
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}

    def shell(message):
        make_args, expected_code = CASES[message]
        done = subprocess.run([executable, *make_args(world)], cwd=world["root"], env=environment, text=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
        return message, expected_code, done.returncode, done.stderr

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(shell, SHELL_ROWS))
    for message, expected_code, code, stderr in outcomes + [shell(message) for message in RUN_DIRECTORY_ROWS]:
        assert code == expected_code and message in stderr, (message, code, stderr)
        if expected_code == 1:
            assert stderr.startswith("skelemix: error: ") and len(stderr.strip().splitlines()) == 1, stderr


def test_the_catalogue_lists_exactly_what_is_tested():
    text = CATALOGUE.read_text()
    rows = [line.split("|") for line in text.splitlines() if line.startswith("| ") and not line.startswith("| bad")]
    documented = {re.findall(r"`([^`]+)`", row[2])[0] for row in rows if re.findall(r"`([^`]+)`", row[2])}
    tested = set(CASES) | CHECKED_ELSEWHERE
    assert {d for d in documented if not any(d in t or t in d for t in tested)} == set()
    assert {t for t in tested if not any(t in d or d in t for d in documented)} == set()
