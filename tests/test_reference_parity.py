"""The switches that reproduce the authors' code (issue: parity with the reference), each pinned on a hand-worked case.

The reference behaviours: its graph (``net/utils/ntu_rgb_d.py``), its ``weights_init``, NW-UCLA min-max scaling (the
field's NW-UCLA loaders), its linear probe (raw features, N(0, 0.02) head) and finetuning (Nesterov, eval mode).
"""

import numpy as np
import pytest
import torch
from torch import nn

from skelemix.config import ConfigError, load_config
from skelemix.data.preprocess import Preprocessing, preprocess, resize_frames
from skelemix.evaluation.finetune import Finetuner
from skelemix.config import FinetuneEval, LinearEval
from skelemix.evaluation.linear import linear_probe
from skelemix.graph import adjacency
from skelemix.layouts import SkeletonLayout, get_layout
from skelemix.methods import SkeleMixCLR
from skelemix.models import STGCN
from skelemix.schedule import lr_factor

# a 5-joint star: joint 0 the centre with children 1 and 2; 3 hangs from 1, 4 from 3
STAR = SkeletonLayout("star", ("c", "a", "b", "a2", "a3"), parents=(0, 0, 0, 1, 3), centre=0,
                      parts={"trunk": (0,), "left_arm": (1,), "right_arm": (2,), "left_leg": (3,),
                             "right_leg": (4,)}, shoulders=(1, 2), hips=(3, 4))


def test_reference_graph_by_hand_on_a_tiny_tree():
    a = adjacency(STAR, "reference")
    np.testing.assert_array_equal(a[0], np.eye(5))
    parent_to_child = np.zeros((5, 5))
    parent_to_child[0, 1] = parent_to_child[0, 2] = parent_to_child[1, 3] = parent_to_child[3, 4] = 1
    np.testing.assert_array_equal(a[1], parent_to_child)
    child_to_parent = np.zeros((5, 5))
    child_to_parent[1, 0] = child_to_parent[2, 0] = 0.5  # the centre has two children
    child_to_parent[3, 1] = child_to_parent[4, 3] = 1.0
    np.testing.assert_array_equal(a[2], child_to_parent)


def test_reference_graph_of_ntu_equals_the_reference_codes_own_edge_list():
    # the 24 (child, parent) bones as the reference code lists them, 1-based; its graph normalises each partition's
    # columns: A[j, i] = 1 for a bone (i, j), then every column divided by its sum
    bones = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9), (11, 10), (12, 11),
             (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19), (22, 23), (23, 8),
             (24, 25), (25, 12)]

    def column_normalised(links):
        m = np.zeros((25, 25))
        for i, j in links:
            m[j - 1, i - 1] = 1
        sums = m.sum(axis=0)
        return m / np.where(sums > 0, sums, 1)

    expected = np.stack([np.eye(25), column_normalised(bones), column_normalised([(j, i) for i, j in bones])])
    np.testing.assert_allclose(adjacency(get_layout("ntu25"), "reference"), expected, rtol=0, atol=1e-7)
    # spine shoulder (21) has four children (spine mid, neck, both shoulders): each sends it 1/4
    assert adjacency(get_layout("ntu25"), "reference")[2, 4, 20] == pytest.approx(0.25)


def test_unknown_graph_normalisation_is_named():
    with pytest.raises(ValueError, match="stgcn, reference"):
        adjacency(STAR, "symmetric")
    with pytest.raises(ConfigError, match="encoder.graph"):
        load_config([], ["encoder.graph=symmetric"])


def test_reference_init_draws_weights_from_n_0_002_and_zero_biases():
    torch.manual_seed(0)
    encoder = STGCN(get_layout("ntu25"), init="reference")
    temporal = encoder.st_gcn_networks[9].tcn.conv  # 256 x 256 x 9 weights
    assert temporal.weight.std().item() == pytest.approx(0.02, rel=0.01)
    assert temporal.weight.mean().abs().item() < 0.001
    assert torch.all(temporal.bias == 0)
    graph = encoder.st_gcn_networks[9].gcn.conv
    assert graph.weight.std().item() == pytest.approx(0.02, rel=0.05) and torch.all(graph.bias == 0)
    assert all(torch.all(importance == 1) for importance in encoder.edge_importance)
    norms = [m for m in encoder.modules() if isinstance(m, nn.BatchNorm2d)]
    weights = torch.cat([m.weight for m in norms])
    assert weights.mean().item() == pytest.approx(1.0, abs=0.005)
    assert weights.std().item() == pytest.approx(0.02, rel=0.2)
    assert all(torch.all(m.bias == 0) for m in norms)
    # PyTorch's default for the same layer: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), std 1/sqrt(3 * 2304) = 0.012
    default = STGCN(get_layout("ntu25")).st_gcn_networks[9].tcn.conv.weight
    assert default.std().item() == pytest.approx((3 * 256 * 9) ** -0.5, rel=0.01)


def test_reference_init_reaches_the_projection_head_and_the_key_side_starts_as_an_exact_copy():
    config = load_config("synthetic", ["encoder.init=reference", "method.queue_size=64"])
    model = SkeleMixCLR(config, get_layout("ntu25"))
    assert model.projector[0].weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.all(model.projector[0].bias == 0)
    for (name, q), (_, k) in zip(model.encoder.state_dict().items(), model.key_encoder.state_dict().items()):
        assert torch.equal(q, k), name
    for q, k in zip(model.projector.parameters(), model.key_projector.parameters()):
        assert torch.equal(q, k)


def test_minmax_scaling_maps_each_axis_of_the_sequence_to_minus_one_one():
    layout = get_layout("kinect_v1")
    bodies = np.zeros((1, 2, 20, 3))
    bodies[0, 0, :, 0] = np.linspace(0.0, 1.0, 20)  # x from 0 to 1 in frame 0
    bodies[0, 1, :, 0] = np.linspace(1.0, 3.0, 20)  # and 1 to 3 in frame 1: the sequence's x range is [0, 3]
    bodies[0, :, :, 1] = 5.0  # y constant: a zero range maps to -1
    bodies[0, 0, 0, 2], bodies[0, 1, 0, 2] = -2.0, 2.0  # z in [-2, 2]
    out = preprocess(bodies, layout, Preprocessing(frames=2, centring="none", rotate=False, persons=1,
                                                   scale="minmax"))
    np.testing.assert_allclose(out[0, 0, :, 0], 2 * np.linspace(0, 1, 20) / 3 - 1, atol=1e-6)
    np.testing.assert_allclose(out[0, 1, :, 0], 2 * np.linspace(1, 3, 20) / 3 - 1, atol=1e-6)
    np.testing.assert_allclose(out[1], -1.0)
    assert out[2, 0, 0, 0] == pytest.approx(-1.0) and out[2, 1, 0, 0] == pytest.approx(1.0)
    assert out[2, 0, 5, 0] == pytest.approx(0.0)  # z = 0 lies mid-range


def test_minmax_scaling_ignores_absent_bodies_and_keeps_them_zero():
    layout = get_layout("ntu25")
    bodies = np.zeros((2, 3, 25, 3))
    bodies[0] = np.random.default_rng(0).normal(size=(3, 25, 3))
    out = preprocess(bodies, layout, Preprocessing(frames=3, centring="first_frame", rotate=False, persons=2,
                                                   scale="minmax"))
    assert np.all(out[..., 1] == 0)
    assert out[..., 0].min() == pytest.approx(-1.0) and out[..., 0].max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="scale must be one of none, minmax"):
        Preprocessing(scale="unit")


def test_warm_up_runs_the_first_epochs_at_a_fraction_of_the_rate():
    config = load_config("synthetic", ["train.warmup_epochs=4", "train.lr_milestones=[6]", "method.queue_size=64"])
    model = SkeleMixCLR(config, get_layout("ntu25"))
    schedule = model.configure_optimizers()["lr_scheduler"]
    rates = []
    for _ in range(8):
        rates.append(schedule.optimizer.param_groups[0]["lr"])
        schedule.step()
    np.testing.assert_allclose(rates, [0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.01, 0.01])
    assert [lr_factor(e, 0, [2]) for e in range(3)] == [1.0, 1.0, 0.1]


def test_linear_probe_on_raw_features_with_the_reference_head():
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[50.0, 0.0], [0.0, 50.0]])
    labels = torch.arange(40) % 2
    features = centres[labels] + torch.randn(40, 2, generator=generator)
    scores, head, mean, std = linear_probe(features, labels, features, 2, LinearEval(
        epochs=3, lr=0.01, standardize=False, head_init="reference"))
    assert torch.equal(mean, torch.zeros(2)) and torch.equal(std, torch.ones(2))
    assert (scores.argmax(dim=1) == labels).float().mean() == 1.0
    _, _, mean, std = linear_probe(features, labels, features, 2, LinearEval(epochs=1))
    torch.testing.assert_close(mean, features.mean(dim=0))
    with pytest.raises(ValueError, match="head_init"):
        linear_probe(features, labels, features, 2, LinearEval(epochs=1, head_init="xavier"))


@pytest.mark.parametrize("mode, changes", [("train", True), ("eval", False)])
def test_finetuning_in_eval_mode_keeps_the_batchnorm_statistics(mode, changes):
    layout = get_layout("ntu25")
    encoder = STGCN(layout, dropout=0.0).eval()
    finetuner = Finetuner(encoder, layout, "joint", 3, FinetuneEval(lr=0.1, momentum=0.9, weight_decay=0.0,
                                                                   milestones=[], warmup=0, nesterov=True,
                                                                   encoder_mode=mode))
    optimizer = finetuner.configure_optimizers()[0][0]
    assert optimizer.param_groups[0]["nesterov"] is True
    before = finetuner.classifier.encoder.data_bn.running_mean.clone()
    finetuner.train()
    finetuner.on_train_epoch_start()
    x = torch.randn(4, 3, 16, 25, 1) + 3.0
    finetuner.classifier(x)
    assert (not torch.equal(finetuner.classifier.encoder.data_bn.running_mean, before)) == changes


def test_half_pixel_resizing_samples_at_pixel_centres_like_opencv():
    seq = np.array([0.0, 10.0, 40.0])[:, None]
    # 3 -> 2 frames: positions (i + 0.5) * 1.5 - 0.5 = 0.25 and 1.75
    assert resize_frames(seq, 2, "half_pixel")[:, 0].tolist() == [2.5, 32.5]
    # 2 -> 4 frames: positions -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1)
    assert resize_frames(np.array([[0.0], [4.0]]), 4, "half_pixel")[:, 0].tolist() == [0.0, 1.0, 3.0, 4.0]


def test_body_centring_puts_each_body_on_its_own_centre_joint():
    ntu = get_layout("ntu25")
    bodies = np.zeros((2, 1, 25, 3))
    bodies[0] = 1.0
    bodies[0, 0, ntu.centre] = [1.0, 2.0, 3.0]
    bodies[1] = 5.0
    out = preprocess(bodies, ntu, Preprocessing(frames=1, centring="body", rotate=False, persons=2))
    assert out[:, 0, 0, 0].tolist() == [0, -1, -2] and out[:, 0, 0, 1].tolist() == [0, 0, 0]
    assert not out[:, 0, ntu.centre].any()


def test_every_frame_rotation_keeps_the_reference_codes_single_sign():
    ntu = get_layout("ntu25")
    left, right = ntu.shoulders
    bodies = np.zeros((1, 2, 25, 3))
    bodies[0, 0, right] = [0.0, 0.0, 2.0]  # frame 0: shoulders along +z
    bodies[0, 1, right] = [1.0, 0.0, -1.0]  # frame 1: along (1, -1); the z offsets sum to +1
    bodies[0, :, 0] = [0.0, 1.0, 0.0]  # a joint on the vertical axis never moves
    options = Preprocessing(frames=2, centring="none", rotate=True, persons=1, rotation="every_frame")
    out = preprocess(bodies, ntu, options)
    # frame 0 turns by -90 degrees: (0, 0, 2) -> (2, 0, 0), within the reference's 1e-4 guard
    np.testing.assert_allclose(out[:, 0, right, 0], [2.0, 0.0, 0.0], atol=1e-4)
    # frame 1 turns by -45 degrees as well (the sign is the sequence's), which sends (1, -1) to (0, -sqrt 2)
    np.testing.assert_allclose(out[:, 1, right, 0], [0.0, 0.0, -2 ** 0.5], atol=1e-4)
    np.testing.assert_allclose(out[:, :, 0, 0], [[0, 0], [1, 1], [0, 0]], atol=1e-7)
    assert Preprocessing.reference_ntu() == Preprocessing(64, "body", True, 2, "none", "every_frame", "half_pixel")
