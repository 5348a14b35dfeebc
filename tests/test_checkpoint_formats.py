"""Checkpoints outlive a version: a format-1 run (written by skelemix before the graph convolution stored its weights
per partition) loads, evaluates and resumes.

tests/data/format1/ holds a tiny run's last.ckpt written by commit 52d071b (hidden 4, out 16, projection 8, queue 32,
1 epoch on synthetic data) and its encoder's features and projections on a fixed input, computed by that commit.
"""

import shutil
from pathlib import Path

import numpy as np
import torch

from skelemix.checkpoints import FORMAT_VERSION, read_checkpoint
from skelemix.config import load_config
from skelemix.data import prepare_synthetic
from skelemix.evaluation.features import load_pretrained
from skelemix.training import pretrain

FORMAT1 = Path(__file__).parent / "data" / "format1"


def test_the_stored_file_is_format_1_with_the_old_shapes():
    raw = torch.load(FORMAT1 / "last.ckpt", weights_only=True)
    assert raw["skelemix"]["format_version"] == 1
    assert raw["state_dict"]["encoder.blocks.4.graph_conv.weight"].shape == (3 * 8, 4, 1, 1)
    assert "encoder.blocks.4.edge_importance" in raw["state_dict"]


def test_a_format_1_checkpoint_gives_the_features_its_version_computed():
    state = read_checkpoint(FORMAT1 / "last.ckpt")
    assert state["skelemix"]["format_version"] == FORMAT_VERSION and state["skelemix"]["upgraded_from"] == 1
    model = load_pretrained(FORMAT1 / "last.ckpt")
    outputs = np.load(FORMAT1 / "outputs.npz")
    with torch.no_grad():
        features = model.encoder(torch.from_numpy(outputs["x"]))
        projection = model.projector(features)
    torch.testing.assert_close(features, torch.from_numpy(outputs["features"]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(projection, torch.from_numpy(outputs["projection"]), rtol=1e-5, atol=1e-6)


def test_a_format_1_run_resumes_with_its_optimizer_state(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(FORMAT1 / "last.ckpt", run / "checkpoints" / "last.ckpt")
    data = prepare_synthetic(tmp_path / "data", performers=2, repetitions=2, frames=16).path
    config = load_config([], [f"data.path={data}", "train.epochs=2"],
                         base=load_pretrained(FORMAT1 / "last.ckpt").config)
    pretrain(config, run, progress=False, resume=True)
    before = torch.load(FORMAT1 / "last.ckpt", weights_only=True)["global_step"]
    state = read_checkpoint(run)
    assert (state["epoch"], state["global_step"]) == (1, 2 * before)  # a second epoch of the same length ran
    assert state["skelemix"]["format_version"] == FORMAT_VERSION
    momentum = state["optimizer_states"][0]["state"]
    assert any(buffer["momentum_buffer"].shape == (3, 8, 4) for buffer in momentum.values())
