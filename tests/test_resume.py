"""Never losing work: exact resume after kill -9, damaged checkpoints, non-finite losses, Ctrl-C, a full disk."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from skelemix.checkpoints import CheckpointError, read_checkpoint, resume_checkpoint
from skelemix.config import load_config
from skelemix.data import prepare_synthetic
from skelemix.training import pretrain

SMALL = ["encoder.hidden_channels=8", "method.queue_size=40", "method.mix.min_frames=1", "method.mix.max_frames=2",
         "train.batch_size=8", "train.knn_every=0", "train.precision=32", "train.deterministic=true"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return prepare_synthetic(tmp_path_factory.mktemp("resume") / "data", performers=8, repetitions=2, frames=16).path


def small(data, *overrides):
    return SMALL + [f"data.path={data}", *overrides]


def cli(*args):
    return [sys.executable, "-m", "skelemix", *args]


def assert_same_state(a, b):
    a, b = a["state_dict"], b["state_dict"]
    assert a.keys() == b.keys()
    for key in a:  # query and key encoders, projection heads, the queue and its pointer
        assert torch.equal(a[key], b[key]), key


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights_queue_and_pointer(data, tmp_path):
    pretrain(load_config(["synthetic", "skelemixclr"], small(data, "train.epochs=5")), tmp_path / "whole",
             progress=False)
    killed = tmp_path / "killed"
    process = subprocess.Popen(cli("pretrain", "synthetic", "skelemixclr", *small(data, "train.epochs=5"),
                                   "--run-dir", str(killed), "--no-progress"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (last.exists() and read_checkpoint(last)["epoch"] >= 1):
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert read_checkpoint(last)["epoch"] < 4, "the run finished before it could be killed"
    result = subprocess.run(cli("pretrain", "--resume", str(killed), "--no-progress"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    whole, resumed = read_checkpoint(tmp_path / "whole"), read_checkpoint(killed)
    assert resumed["global_step"] == whole["global_step"] == 5 * 12
    assert_same_state(whole, resumed)
    assert (killed / "logs" / "resumed-1" / "metrics.csv").is_file() and (killed / "logs" / "metrics.csv").is_file()


def test_a_run_stopped_by_ctrl_c_mid_epoch_resumes_on_the_same_batches(data, tmp_path):
    """interrupted.ckpt is written in the middle of an epoch: resuming continues that epoch's order after the batches
    it had done (the loader's state), so the run ends where an uninterrupted one does."""

    class CtrlC(Callback):  # Ctrl-C during step 17, the 6th batch of the second epoch
        def on_train_batch_start(self, trainer, module, batch, batch_index):
            if trainer.global_step == 17:
                os.kill(os.getpid(), signal.SIGINT)

    config = load_config(["synthetic", "skelemixclr"], small(data, "train.epochs=3"))
    pretrain(config, tmp_path / "whole", progress=False)
    with pytest.raises(KeyboardInterrupt, match="interrupted at step 18"):
        pretrain(config, tmp_path / "stopped", progress=False, callbacks=(CtrlC(),))
    assert read_checkpoint(tmp_path / "stopped" / "checkpoints" / "interrupted.ckpt")["global_step"] == 18
    pretrain(config, tmp_path / "stopped", progress=False, resume=True)
    whole, resumed = read_checkpoint(tmp_path / "whole"), read_checkpoint(tmp_path / "stopped")
    assert resumed["global_step"] == whole["global_step"] == 3 * 12
    assert_same_state(whole, resumed)


def test_a_damaged_latest_checkpoint_is_named_and_the_previous_one_used(data, tmp_path):
    run = tmp_path / "run"
    pretrain(load_config(["synthetic", "skelemixclr"], small(data, "train.epochs=2")), run, progress=False)
    last, previous = run / "checkpoints" / "last.ckpt", run / "checkpoints" / "last.previous.ckpt"
    assert read_checkpoint(previous)["epoch"] == 0 and read_checkpoint(last)["epoch"] == 1
    last.write_bytes(last.read_bytes()[:len(last.read_bytes()) // 2])  # a write cut short
    with pytest.raises(CheckpointError, match="last.ckpt: not a readable checkpoint"):
        read_checkpoint(last)
    path, notes = resume_checkpoint(run)
    assert path == previous and len(notes) == 1 and "last.ckpt" in notes[0]
    result = subprocess.run(cli("pretrain", "--resume", str(run), "train.epochs=3", "--no-progress"),
                            capture_output=True, text=True)
    assert result.returncode == 0 and "skipping" in result.stdout + result.stderr, result.stderr[-2000:]
    assert read_checkpoint(last)["global_step"] == 3 * 12  # epochs 2 and 3 trained again from epoch 1's end


def test_foreign_and_incompatible_checkpoints_are_refused(tmp_path, data):
    torch.save({"state_dict": {}}, tmp_path / "foreign.ckpt")
    with pytest.raises(CheckpointError, match="foreign.ckpt: not a skelemix pretraining checkpoint"):
        read_checkpoint(tmp_path / "foreign.ckpt")
    torch.save({"hyper_parameters": {}, "skelemix": {"format_version": 99}}, tmp_path / "future.ckpt")
    with pytest.raises(CheckpointError, match="future.ckpt: written by an incompatible skelemix"):
        read_checkpoint(tmp_path / "future.ckpt")
    torch.save({"hyper_parameters": {}, "code": CheckpointError("runs code")}, tmp_path / "object.ckpt")
    with pytest.raises(CheckpointError, match="object.ckpt: not a readable checkpoint"):
        read_checkpoint(tmp_path / "object.ckpt")  # weights_only=True refuses arbitrary objects
    with pytest.raises(CheckpointError, match="no readable checkpoint to resume from"):
        resume_checkpoint(tmp_path)


class BreakWeights(Callback):
    """Puts a NaN into the encoder before step ``at``."""

    def __init__(self, at):
        self.at = at

    def on_train_batch_start(self, trainer, module, batch, batch_index):
        if trainer.global_step == self.at:
            with torch.no_grad():
                next(module.encoder.parameters()).fill_(float("nan"))


def test_a_non_finite_loss_stops_with_the_step_and_the_last_good_checkpoint(data, tmp_path):
    config = load_config(["synthetic", "skelemixclr"], small(data, "train.epochs=3"))
    with pytest.raises(FloatingPointError, match=r"at step 15 \(epoch 1\); last good checkpoint: .*last.ckpt") as error:
        pretrain(config, tmp_path / "stop", progress=False, callbacks=(BreakWeights(15),))
    assert "train.non_finite=skip" in str(error.value)
    assert read_checkpoint(tmp_path / "stop")["global_step"] == 12  # epoch 0's, untouched


def test_non_finite_steps_can_be_skipped(data, tmp_path):
    class BreakOnce(Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_index):
            self.saved = {k: v.clone() for k, v in module.state_dict().items()} if batch_index == 3 else None
            if batch_index == 3:
                module.queue.keys[0, 0] = float("nan")  # one bad negative makes the loss NaN

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_index):
            if self.saved is not None:
                assert not outputs  # the step was skipped: no backward, no queue update
                module.queue.keys[0, 0] = self.saved["queue.keys"][0, 0]

    config = load_config(["synthetic", "skelemixclr"], small(data, "train.epochs=1", "train.non_finite=skip"))
    run = pretrain(config, tmp_path / "skip", progress=False, callbacks=(BreakOnce(),))
    saved = read_checkpoint(run)
    assert int(saved["state_dict"]["queue.pointer"]) == 11 * 8 % 40  # 12 batches, one skipped; a queue of 40
    assert torch.isfinite(saved["state_dict"]["encoder.data_bn.weight"]).all()


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(data, tmp_path):
    run = tmp_path / "run"
    process = subprocess.Popen(cli("pretrain", "synthetic", "skelemixclr", *small(data, "train.epochs=50"),
                                   "--run-dir", str(run), "--no-progress"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (run / "checkpoints" / "last.ckpt").exists():
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted at step" in stderr and "interrupted.ckpt" in stderr and "--resume" in stderr
    saved = read_checkpoint(run / "checkpoints" / "interrupted.ckpt")
    assert 12 <= saved["global_step"] < 50 * 12
    assert resume_checkpoint(run)[0].name == "interrupted.ckpt"  # the newest state is what resuming takes


def test_a_full_disk_or_an_unwritable_run_directory_fails_before_training(data, tmp_path, monkeypatch):
    import shutil

    from skelemix import training

    monkeypatch.setattr(training.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 10**6))
    with pytest.raises(OSError, match="only 1 MiB free; checkpoints need about"):
        pretrain(load_config(["synthetic", "skelemixclr"], small(data, "train.epochs=1")), tmp_path / "full",
                 progress=False)
    assert not (tmp_path / "full" / "checkpoints").exists() and not (tmp_path / "full" / "logs").exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OSError, match="cannot write the run directory"):
        pretrain(load_config(["synthetic", "skelemixclr"], small(data, "train.epochs=1")), blocker / "run",
                 progress=False)
