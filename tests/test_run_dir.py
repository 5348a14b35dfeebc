"""Run directories belong to one process, failed checks leave nothing written, evaluations read the data the run
recorded, and an internal fault is one line with a log: through the installed executable where processes matter."""

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml

from skelemix import rundir
from skelemix.cli import main
from skelemix.data import prepare_synthetic

from conftest import run_skelemix

TINY = ["encoder.hidden_channels=8", "method.queue_size=32", "method.mix.min_frames=1", "method.mix.max_frames=2",
        "train.batch_size=8", "train.knn_every=0", "train.precision=32", "train.epochs=3", "train.deterministic=true"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return prepare_synthetic(tmp_path_factory.mktemp("rundir") / "data", performers=4, repetitions=2, frames=16).path


def executable():
    path = shutil.which("skelemix")
    if path is None:
        pytest.skip("the skelemix executable is not on PATH (install the package)")
    return path


def pretrain_command(data, run_dir):
    return [executable(), "pretrain", "synthetic", "skelemixclr", f"data.path={data}", *TINY, "--run-dir",
            str(run_dir), "--no-progress"]


def run_files(run_dir: Path) -> dict[str, bytes]:
    """The files a run's result is made of (TensorBoard's event files carry wall-clock times, so they are left out)."""
    names = ["config.yaml", "datasets.json", "checkpoints/last.ckpt", "checkpoints/last.previous.ckpt",
             "logs/metrics.csv", "logs/hparams.yaml"]
    found = {}
    for name in names:
        matches = sorted(run_dir.glob(name)) or sorted(run_dir.glob(name.replace("logs/", "logs/*/")))
        found[name] = matches[0].read_bytes() if matches else None
    return found


def test_two_pretrainings_on_one_directory_one_trains_the_other_exits_at_once(data, tmp_path):
    alone = tmp_path / "run"
    subprocess.run(pretrain_command(data, alone), env=ENV, check=True, capture_output=True, timeout=600)
    expected = run_files(alone)
    assert expected["checkpoints/last.ckpt"] is not None and expected["logs/metrics.csv"] is not None
    shutil.rmtree(alone)

    started = time.monotonic()
    processes = [subprocess.Popen(pretrain_command(data, alone), env=ENV, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    ended = {}
    while len(ended) < 2:
        for i, process in enumerate(processes):
            if i not in ended and process.poll() is not None:
                ended[i] = time.monotonic() - started
        time.sleep(0.05)
    codes = sorted(p.returncode for p in processes)
    assert codes == [0, 1], [p.stderr.read() for p in processes]
    loser = next(i for i, p in enumerate(processes) if p.returncode == 1)
    winner = 1 - loser
    message = processes[loser].stderr.read()
    assert f"in use by another skelemix process (pid {processes[winner].pid})" in message
    assert len(message.strip().splitlines()) == 1 and "Traceback" not in message
    assert ended[loser] < ended[winner]  # it did not wait for the training to end
    assert run_files(alone) == expected  # the survivor's files, byte for byte, as a run made alone


def test_a_claim_that_loses_the_race_names_the_winner_and_leaves_its_directory(tmp_path, monkeypatch):
    # The race the test above provokes, in order: this claim creates the directory, the other process locks it
    # before this one does and writes its pid a moment later.
    run_dir = tmp_path / "run"
    winner = []

    def other_process_locks_first(path):
        handle = open(path / rundir.LOCK, "a+")
        rundir.fcntl.flock(handle, rundir.fcntl.LOCK_EX | rundir.fcntl.LOCK_NB)
        threading.Timer(0.3, lambda: (handle.write("4242"), handle.flush())).start()
        winner.append(handle)
        return real_lock(path)

    real_lock = rundir._lock
    monkeypatch.setattr(rundir, "_lock", other_process_locks_first)
    with pytest.raises(rundir.RunDirError, match=r"in use by another skelemix process \(pid 4242\)"):
        with rundir.claim_run_dir(run_dir, resume=False):
            pass
    assert (run_dir / rundir.LOCK).read_text() == "4242"  # the winner's directory is still there
    winner[0].close()


def test_the_lock_is_released_when_its_holder_is_killed(data, tmp_path):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(pretrain_command(data, run_dir) + ["train.epochs=500"], env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (run_dir / "checkpoints" / "last.ckpt").is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    blocked = subprocess.run([executable(), "pretrain", "--resume", str(run_dir), "--no-progress"], env=ENV,
                             capture_output=True, text=True, timeout=120)
    assert blocked.returncode == 1 and f"(pid {holder.pid})" in blocked.stderr, blocked.stderr
    holder.kill()  # SIGKILL: no handler of skelemix runs, only the OS releases the lock
    holder.wait()
    (run_dir / "checkpoints" / ".last.ckpt.partial-x1y2").write_bytes(b"cut short by a kill")
    done = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"]
    if done:
        fewer = subprocess.run([executable(), "pretrain", "--resume", str(run_dir), f"train.epochs={done - 1}"],
                               env=ENV, capture_output=True, text=True, timeout=120)
        assert fewer.returncode == 1 and f"is fewer than the {done} epochs the run has done" in fewer.stderr
    resumed = subprocess.run([executable(), "pretrain", "--resume", str(run_dir), f"train.epochs={done + 1}",
                              "--no-progress"], env=ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert not list((run_dir / "checkpoints").glob(".*.partial-*"))  # litter of the killed save, removed


def test_a_refused_resume_leaves_config_yaml_as_it_was(data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert run_skelemix(["pretrain", "synthetic", "skelemixclr", f"data.path={data}", *TINY, "train.epochs=1",
                       "--run-dir", str(run_dir), "--no-progress"], tmp_path, capsys)[0] == 0
    before = (run_dir / "config.yaml").read_bytes()
    code, err = run_skelemix(["pretrain", "--resume", str(run_dir), "encoder.hidden_channels=32"], tmp_path, capsys)
    assert code == 1 and "encoder.hidden_channels=32 differs from the run's 8" in err
    assert (run_dir / "config.yaml").read_bytes() == before
    code, err = run_skelemix(["pretrain", "--resume", str(run_dir), "train.epochs=2", "--no-progress"], tmp_path, capsys)
    assert code == 0, err  # and the run still resumes


def test_a_run_that_fails_its_checks_leaves_no_directory(data, tmp_path, capsys):
    code, err = run_skelemix(["pretrain", "synthetic", "skelemixclr", f"data.path={data}", *TINY,
                            "train.batch_size=4096", "--run-dir", str(tmp_path / "new"), "--no-progress"],
                           tmp_path, capsys)
    assert code == 1 and "fewer training samples" in err
    assert not (tmp_path / "new").exists()


def test_relative_paths_are_recorded_absolute_and_a_replaced_dataset_is_refused(data, tmp_path, capsys):
    shutil.copytree(data, tmp_path / "prepared" / "d")
    code, _ = run_skelemix(["pretrain", "synthetic", "skelemixclr", "data.path=prepared/d", *TINY, "train.epochs=1",
                          "--run-dir", "run", "--no-progress"], tmp_path, capsys)
    assert code == 0
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["data"]["path"] == str((tmp_path / "prepared" / "d").resolve())
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(data, elsewhere / "prepared" / "d")  # another dataset under the same relative name
    (elsewhere / "prepared" / "d" / "samples.csv").write_text("garbage")
    code, err = run_skelemix(["evaluate", "knn", str(tmp_path / "run")], elsewhere, capsys)
    assert code == 0, err  # the run's own dataset, not the one the relative name finds here
    shutil.rmtree(tmp_path / "prepared" / "d")
    prepare_synthetic(tmp_path / "prepared" / "d", performers=4, repetitions=3, frames=16)  # replaced: more samples
    code, err = run_skelemix(["evaluate", "knn", str(tmp_path / "run")], tmp_path, capsys)
    assert code == 1 and "no longer the dataset the run was pretrained on (samples: 96 then, 144 now)" in err


def test_an_internal_fault_is_one_line_with_the_traceback_in_a_log(tmp_path, capsys, monkeypatch):
    import skelemix.config

    def broken(*args, **kwargs):
        raise RuntimeError("a fault inside skelemix")

    monkeypatch.setattr(skelemix.config, "load_config", broken)
    code, err = run_skelemix(["config", "demo"], tmp_path, capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith("skelemix: internal error: RuntimeError: a fault inside skelemix (traceback in ")
    log = Path(err.split("traceback in ")[1].split(";")[0])
    text = log.read_text()
    assert "Traceback" in text and "a fault inside skelemix" in text and text.startswith("skelemix config demo")
    log.unlink()


def test_the_mix_figure_of_an_unlabelled_dataset_mixes_its_first_two_clips(tmp_path, capsys):
    import numpy as np

    np.savez(tmp_path / "clips.npz", data=np.random.default_rng(0).normal(size=(3, 32, 25, 3)), labels=np.zeros(3))
    assert run_skelemix(["prepare", "numpy", str(tmp_path / "clips.npz"), str(tmp_path / "p"), "--no-progress"],
                      tmp_path, capsys)[0] == 0
    code, err = run_skelemix(["visualize", "mix", str(tmp_path / "p"), "--out", str(tmp_path / "mix.png")], tmp_path,
                           capsys)
    assert code == 0, err
    assert (tmp_path / "mix.png").read_bytes()[:4] == b"\x89PNG"


def test_check_reads_a_whole_dataset_and_says_what_it_found(data, capsys):
    sys.argv = ["skelemix", "check", str(data), "--no-progress"]
    with pytest.raises(SystemExit) as exit:
        main()
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert "96 samples of 12 classes, layout ntu25, benchmarks xsub, xview: labels, splits and coordinates are valid" in out
