"""Checkpoints outlive a version: runs of every earlier format load, evaluate and resume.

tests/data/format1/ holds a tiny run's last.ckpt written by commit 52d071b (format 1: skelemix's own names, the graph
convolution as a 1x1 convolution), tests/data/format2/ one written by commit c643ff1 (format 2: the graph convolution
per partition); both hidden 4, out 16, projection 8, queue 32, 1 epoch on synthetic data, with their encoder's
features and projections on a fixed input, computed by the commit that wrote them.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from skelemix.checkpoints import FORMAT_VERSION, read_checkpoint
from skelemix.config import load_config
from skelemix.data import prepare_synthetic
from skelemix.evaluation.features import load_pretrained
from skelemix.training import pretrain

DATA = Path(__file__).parent / "data"
FORMAT1 = DATA / "format1"


def test_the_stored_file_is_format_1_with_the_old_shapes():
    raw = torch.load(FORMAT1 / "last.ckpt", weights_only=True)
    assert raw["skelemix"]["format_version"] == 1
    assert raw["state_dict"]["encoder.blocks.4.graph_conv.weight"].shape == (3 * 8, 4, 1, 1)
    assert "encoder.blocks.4.edge_importance" in raw["state_dict"]


def test_the_stored_format_2_file_has_the_per_partition_shapes():
    raw = torch.load(DATA / "format2" / "last.ckpt", weights_only=True)
    assert raw["skelemix"]["format_version"] == 2
    assert raw["state_dict"]["encoder.blocks.4.graph_conv.weight"].shape == (3, 8, 4)
    assert raw["state_dict"]["encoder.blocks.4.residual.0.weight"].shape == (8, 4)


@pytest.mark.parametrize("version", [1, 2])
def test_an_old_checkpoint_gives_the_features_its_version_computed(version):
    folder = DATA / f"format{version}"
    state = read_checkpoint(folder / "last.ckpt")
    assert state["skelemix"]["format_version"] == FORMAT_VERSION and state["skelemix"]["upgraded_from"] == version
    assert list(state["state_dict"]) == list(load_pretrained(folder / "last.ckpt").state_dict())  # names and order
    model = load_pretrained(folder / "last.ckpt")
    outputs = np.load(folder / "outputs.npz")
    with torch.no_grad():
        features = model.encoder(torch.from_numpy(outputs["x"]))
        projection = model.projector(features)
    torch.testing.assert_close(features, torch.from_numpy(outputs["features"]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(projection, torch.from_numpy(outputs["projection"]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("version", [1, 2])
def test_an_old_run_resumes_with_its_optimizer_state(version, tmp_path):
    folder = DATA / f"format{version}"
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(folder / "last.ckpt", run / "checkpoints" / "last.ckpt")
    data = prepare_synthetic(tmp_path / "data", performers=2, repetitions=2, frames=16).path
    config = load_config([], [f"data.path={data}", "train.epochs=2"],
                         base=load_pretrained(folder / "last.ckpt").config)
    pretrain(config, run, progress=False, resume=True)
    before = torch.load(folder / "last.ckpt", weights_only=True)["global_step"]
    state = read_checkpoint(run)
    assert (state["epoch"], state["global_step"]) == (1, 2 * before)  # a second epoch of the same length ran
    assert state["skelemix"]["format_version"] == FORMAT_VERSION
    momentum = state["optimizer_states"][0]["state"]
    # the graph convolution of block 4 (C_in 4, C_out 8, K 3): its momentum in the convolution layout of format 3
    assert any(buffer["momentum_buffer"].shape == (3 * 8, 4, 1, 1) for buffer in momentum.values())


@pytest.mark.parametrize("version", [1, 2])
def test_upgrading_moves_each_momentum_buffer_to_its_parameter(version):
    """The optimizer state is indexed by parameter position, which changed with the names: block 4's graph
    convolution weight keeps its own momentum, reshaped like the parameter."""
    raw = torch.load(DATA / f"format{version}" / "last.ckpt", weights_only=True)
    old_names = [k for k in raw["state_dict"] if k.startswith(("encoder.", "projector."))
                 and not k.endswith(("running_mean", "running_var", "num_batches_tracked", "adjacency"))]
    old = raw["optimizer_states"][0]["state"][old_names.index("encoder.blocks.4.graph_conv.weight")]["momentum_buffer"]
    state = read_checkpoint(DATA / f"format{version}" / "last.ckpt")
    model = load_pretrained(DATA / f"format{version}" / "last.ckpt")
    new_names = [name for name, p in model.named_parameters() if p.requires_grad]
    position = new_names.index("encoder.st_gcn_networks.4.gcn.conv.weight")
    new = state["optimizer_states"][0]["state"][position]["momentum_buffer"]
    assert new.shape == (3 * 8, 4, 1, 1) and torch.equal(new.flatten(), old.flatten())
    for index, name in enumerate(new_names):
        assert state["optimizer_states"][0]["state"][index]["momentum_buffer"].shape == dict(
            model.named_parameters())[name].shape


def test_a_format_3_queue_counts_as_filled_and_a_classifier_is_left_alone():
    """Format 3 had no record of which queue slots hold keys; its random start was used as negatives like keys, so
    every slot reads as filled (and ``method.queue_start=empty`` then changes nothing for an old run)."""
    from skelemix.checkpoints import upgrade_state_dict

    queue = {"queue.keys": torch.zeros(5, 3), "queue.pointer": torch.tensor(2),
             "queue.owners": torch.full((5,), -1)}
    assert upgrade_state_dict(queue, 3)["queue.filled"].tolist() == [True] * 5
    classifier = {"head.weight": torch.zeros(2, 3)}
    assert upgrade_state_dict(classifier, 3) == classifier
