"""ST-GCN shapes, the spatial-partition graph, streams and augmentations."""

import copy

import pytest
import torch

from skelemix.augmentations import Rotation, Shear, TemporalCrop
from skelemix.data.streams import to_stream
from skelemix.graph import spatial_adjacency
from skelemix.layouts import LAYOUTS, get_layout
from skelemix.models import STGCN, ProjectionHead

NTU = get_layout("ntu25")


@pytest.mark.parametrize("persons", [1, 2])
def test_encoder_output_shapes(persons):
    encoder = STGCN(NTU)
    x = torch.randn(3, 3, 64, 25, persons)
    assert encoder(x).shape == (3, 256)
    assert encoder.feature_map(x).shape == (3, persons, 256, 16, 25)
    assert ProjectionHead()(encoder(x)).shape == (3, 128)


def test_encoder_pools_over_time_joints_and_persons():
    encoder = STGCN(get_layout("kinect_v1")).eval()
    x = torch.randn(2, 3, 32, 20, 2)
    assert torch.allclose(encoder(x), encoder.feature_map(x).mean(dim=(1, 3, 4)))


def test_encoder_has_the_quarter_width_block_plan():
    encoder = STGCN(NTU)
    widths = [block.out_channels for block in encoder.st_gcn_networks]
    strides = [block.tcn.conv.stride[0] for block in encoder.st_gcn_networks]
    assert widths == [16, 16, 16, 16, 32, 32, 32, 64, 64, 256]
    assert strides == [1, 1, 1, 1, 2, 1, 1, 2, 1, 1]
    assert all(block.tcn.conv.kernel_size == (9, 1) for block in encoder.st_gcn_networks)


def test_frames_must_divide_by_four():
    with pytest.raises(ValueError, match="multiple of 4"):
        STGCN(NTU).feature_map(torch.randn(2, 3, 30, 25, 1))


def test_spatial_partitions_by_hand_for_the_left_elbow():
    a = spatial_adjacency(NTU)
    shoulder, elbow, wrist = 4, 5, 6  # 0-based NTU joints 5, 6, 7
    # the elbow has two neighbours plus itself: every entry of its column is 1/3
    assert a[0, elbow, elbow] == pytest.approx(1 / 3)
    assert a[1, wrist, elbow] == pytest.approx(1 / 3)  # from the wrist, farther from the centre: inward
    assert a[2, shoulder, elbow] == pytest.approx(1 / 3)  # from the shoulder, closer: outward
    assert a[:, :, elbow].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_column_of_the_graph_sums_to_one(name):
    layout = LAYOUTS[name]
    a = spatial_adjacency(layout)
    assert a.shape == (3, layout.num_joints, layout.num_joints)
    assert torch.allclose(torch.from_numpy(a.sum(axis=(0, 1))), torch.ones(layout.num_joints))


def test_layouts_match_the_issue_body_parts():
    one_based = {part: sorted(j + 1 for j in joints) for part, joints in NTU.parts.items()}
    assert one_based["trunk"] == [1, 2, 3, 4, 21]
    assert sorted([one_based["left_arm"], one_based["right_arm"]]) == [[5, 6, 7, 8, 22, 23], [9, 10, 11, 12, 24, 25]]
    assert sorted([one_based["left_leg"], one_based["right_leg"]]) == [[13, 14, 15, 16], [17, 18, 19, 20]]
    assert NTU.centre == 20 and get_layout("kinect_v1").num_joints == 20


def test_unknown_layout_names_the_known_ones():
    with pytest.raises(ValueError, match="body25, body25b, coco17, coco18, kinect_v1, mediapipe33, mediapipe33_world, ntu25"):
        get_layout("openpose18")


def test_coco17_layout_is_a_tree_from_the_nose_with_limbs_as_parts():
    coco = get_layout("coco17")
    names = coco.joint_names
    assert len(coco.edges) == 16 and coco.spatial_channels == 2
    assert names[coco.parents[names.index("left_wrist")]] == "left_elbow"
    assert names[coco.parents[names.index("right_hip")]] == "right_shoulder"
    assert [names[j] for j in coco.parts["left_leg"]] == ["left_hip", "left_knee", "left_ankle"]
    assert [names[j] for j in coco.shoulders] == ["left_shoulder", "right_shoulder"]


def test_motion_and_bone_streams_by_hand():
    x = torch.zeros(1, 3, 3, 25, 1)
    x[0, 0, :, 4, 0] = torch.tensor([1.0, 3.0, 6.0])  # left shoulder x over three frames
    x[0, 0, :, 20, 0] = 0.5  # spine shoulder, the shoulder's parent and the centre
    motion = to_stream(x, "motion", NTU)
    assert motion[0, 0, :, 4, 0].tolist() == [2.0, 3.0, 0.0]
    bone = to_stream(x, "bone", NTU)
    assert bone[0, 0, :, 4, 0].tolist() == [0.5, 2.5, 5.5]
    assert bone[0, :, :, 20].abs().sum() == 0  # the centre's bone is zero
    assert torch.equal(to_stream(x, "joint", NTU), x)
    with pytest.raises(ValueError, match="stream"):
        to_stream(x, "velocity", NTU)


def test_shear_is_a_per_sample_linear_map_with_unit_diagonal():
    x = torch.zeros(4, 3, 2, 1, 1)
    x[:, 0] = 1.0  # the unit x vector: its image is the first column of the shear matrix
    y = Shear(0.5)(x)[:, :, 0, 0, 0]
    assert torch.allclose(y[:, 0], torch.ones(4))
    assert (y[:, 1:].abs() <= 0.5).all() and not torch.allclose(y[0], y[1])
    scored = torch.rand(4, 3, 2, 1, 1)  # 2D: x, y and a score
    sheared = Shear(0.5, coordinates=2)(scored)
    assert torch.equal(sheared[:, 2], scored[:, 2])  # the score is not a coordinate and never mixes in
    assert not torch.allclose(sheared[:, :2], scored[:, :2])


def test_rotation_turns_about_the_vertical_axis_within_its_limit():
    x = torch.zeros(64, 3, 1, 2, 1)
    x[:, 0, 0, 0], x[:, 1, 0, 1] = 1.0, 1.0  # joint 0 the unit x vector, joint 1 the unit y (vertical) vector
    y = Rotation(30.0)(x)[:, :, 0, :, 0]  # (N, 3, joints)
    assert torch.allclose(y[:, :, 1], x[:, :, 0, 1, 0])  # the vertical axis stays
    assert torch.allclose(y[:, 1, 0], torch.zeros(64))  # x stays horizontal, turned by the angle in [-30, 30]
    angle = torch.rad2deg(torch.atan2(-y[:, 2, 0], y[:, 0, 0]))
    assert angle.abs().max() <= 30.0 + 1e-4 and angle.std() > 5.0 and angle.min() < 0 < angle.max()
    tilted = Rotation(0.0, tilt=20.0)(x)[:, :, 0, :, 0]
    assert torch.allclose(tilted[:, :, 0], x[:, :, 0, 0, 0]) and torch.allclose(tilted.norm(dim=1), torch.ones(64, 2))
    scored = torch.rand(8, 3, 2, 1, 1)
    turned = Rotation(90.0, coordinates=2)(scored)
    assert torch.equal(turned[:, 2], scored[:, 2])
    assert torch.allclose(turned[:, :2].norm(dim=1), scored[:, :2].norm(dim=1))
    with pytest.raises(ValueError, match="rotation angles must be >= 0"):
        Rotation(-1.0)


def test_2d_streams_carry_the_mean_score():
    coco = get_layout("coco17")
    x = torch.zeros(1, 3, 2, 17, 1)
    x[0, :, :, 7, 0] = torch.tensor([[4.0, 7.0], [1.0, 1.0], [0.2, 0.6]])  # left elbow: x, y, score over 2 frames
    x[0, :, :, 5, 0] = torch.tensor([[1.0, 1.0], [0.0, 0.0], [0.8, 0.8]])  # left shoulder, its parent
    bone = to_stream(x, "bone", coco)[0, :, :, 7, 0]
    assert torch.allclose(bone, torch.tensor([[3.0, 6.0], [1.0, 1.0], [0.5, 0.7]]))
    motion = to_stream(x, "motion", coco)[0, :, :, 7, 0]
    assert torch.allclose(motion, torch.tensor([[3.0, 0.0], [0.0, 0.0], [0.4, 0.0]]))


def test_temporal_crop_takes_a_window_of_the_mirror_padded_sequence():
    t = 12  # pad 2 frames: [1, 0, 0..11, 11, 10]
    x = torch.arange(t, dtype=torch.float32).view(1, 1, t, 1, 1).repeat(50, 3, 1, 2, 1)
    y = TemporalCrop(6)(x)[:, 0, :, 0, 0]
    padded = torch.tensor([1.0, 0.0, *range(t), 11.0, 10.0])
    starts = set()
    for row in y:
        start = [s for s in range(5) if torch.equal(row, padded[s:s + t])]
        assert len(start) == 1
        starts.add(start[0])
    assert starts == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("fast", [True, False])
def test_graph_convolution_is_the_partitioned_formula_computed_joint_by_joint(fast):
    """y[o,t,w] = sum_k sum_v G_k[v,w] (W_k x[:,t,v] + b_k)[o], summed here with explicit loops, for both kernels."""
    from skelemix.models.stgcn import FastGraphConvolution, GraphConvolution

    torch.manual_seed(0)
    k, v, c_in, c_out = 3, 4, 2, 3
    conv = (FastGraphConvolution if fast else GraphConvolution)(c_in, c_out, k)
    graph = torch.rand(k, v, v)
    x = torch.randn(2, c_in, 5, v)
    expected = torch.zeros(2, c_out, 5, v)
    weight, bias = conv.conv.weight.detach().view(k, c_out, c_in), conv.conv.bias.detach().view(k, c_out)
    for part in range(k):
        transformed = torch.einsum("oc,bctv->botv", weight[part], x) + bias[part, :, None, None]
        for source in range(v):
            for target in range(v):
                expected[..., target] += graph[part, source, target] * transformed[..., source]
    assert torch.allclose(conv(x, graph), expected, atol=1e-5)


def test_graph_convolution_gradients_match_finite_differences():
    """The hand-written backward (which aggregates again instead of keeping the aggregated tensor) against
    numerical derivatives, for every input."""
    from skelemix.ops.graph import _AggregateThenMix

    torch.manual_seed(0)
    k, v, c_in, c_out = 3, 4, 2, 3
    inputs = (torch.randn(2, c_in, 5, v), torch.rand(k, v, v), torch.randn(k, c_out, c_in), torch.randn(c_out, v))
    inputs = tuple(tensor.double().requires_grad_() for tensor in inputs)
    assert torch.autograd.gradcheck(_AggregateThenMix.apply, inputs)


def test_dropout_keeps_a_fraction_one_minus_p_and_scales_it_up():
    from skelemix.ops import Dropout

    torch.manual_seed(0)
    dropout = Dropout(0.3)
    y = dropout(torch.ones(200_000))
    kept = y != 0
    assert kept.float().mean().item() == pytest.approx(0.7, abs=0.005)
    # p = 0.3 drops round(0.3 * 65536) = 19661 of the 65536 values of the random int16s; the rest are scaled up
    assert torch.equal(y[kept], torch.full((int(kept.sum()),), 65536 / (65536 - 19661)))
    assert torch.equal(dropout.eval()(torch.ones(5)), torch.ones(5))
    with pytest.raises(ValueError, match="dropout"):
        Dropout(1.0)


def test_pointwise_convolution_equals_a_strided_1x1_convolution():
    from skelemix.ops import PointwiseConv2d

    conv = PointwiseConv2d(4, 6, stride=2)
    x = torch.randn(2, 4, 10, 5)
    expected = torch.nn.functional.conv2d(x, conv.weight, conv.bias, stride=(2, 1))
    assert torch.allclose(conv(x), expected, atol=1e-6)


def _twin_encoders():
    """The same weights in a fast-kernel and a reference-kernel encoder (no dropout, so training is deterministic)."""
    torch.manual_seed(0)
    fast = STGCN(get_layout("kinect_v1"), hidden_channels=8, out_channels=32, dropout=0.0, kernels="fast")
    reference = STGCN(get_layout("kinect_v1"), hidden_channels=8, out_channels=32, dropout=0.0, kernels="reference")
    with torch.no_grad():
        for importance in fast.edge_importance:
            importance.uniform_(0.5, 1.5)
    reference.load_state_dict(fast.state_dict())  # strict: both have the same names and shapes
    return fast, reference


def _assert_same_squared_norm_gradients(encoders, outputs, atol):
    """The gradients of each output's squared norm with respect to its encoder's parameters agree (|grad| up to
    ~15 here)."""
    grads = []
    for encoder, output in zip(encoders, outputs):
        output.pow(2).sum().backward()
        grads.append({name: p.grad for name, p in encoder.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=atol)


def test_fast_and_reference_kernels_compute_the_same_encoder_in_float32():
    fast, reference = _twin_encoders()
    x = torch.randn(3, 3, 32, 20, 1)
    outputs = [encoder(x) for encoder in (fast, reference)]  # train mode: batch statistics
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-5, atol=1e-5)
    _assert_same_squared_norm_gradients((fast, reference), outputs, atol=2e-4)
    fast.eval(), reference.eval()
    torch.testing.assert_close(fast(x), reference(x), rtol=1e-5, atol=1e-5)


def test_fast_kernels_in_bf16_stay_within_two_percent_of_float32():
    """bf16 keeps 8 bits of mantissa; through ten blocks the features of the fast and the reference kernels under
    autocast differ from the float32 features by about 0.5% of their norm (measured); the bound is 2%."""
    fast, reference = _twin_encoders()
    fast.eval(), reference.eval()
    x = torch.randn(4, 3, 32, 20, 1)
    exact = reference(x)
    for encoder in (fast, reference):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            approximate = encoder(x).float()
        assert ((approximate - exact).norm() / exact.norm()).item() < 0.02




def _normalize_rectify_convolve(dtype=torch.float64):
    """A BatchNorm with non-trivial affine parameters and a strided temporal convolution, and copies of both."""
    torch.manual_seed(0)
    norm, conv = torch.nn.BatchNorm2d(4).to(dtype), torch.nn.Conv2d(4, 3, (9, 1), (2, 1), (4, 0)).to(dtype)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5), norm.bias.uniform_(-0.5, 0.5)
    return norm, conv, copy.deepcopy(norm), copy.deepcopy(conv)


def _saved_tensors(compute):
    """(data pointer, number of elements) of each distinct tensor autograd keeps while ``compute()`` runs."""
    saved = {}

    def pack(tensor):
        saved[tensor.data_ptr()] = tensor.numel()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        compute()
    return sorted(saved.items())


def _assert_same_outputs_and_input_gradients(y, expected, x, x_copy):
    """float64: y and expected agree to 1e-12, and so do x's and x_copy's gradients of one upstream gradient."""
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-12)
    upstream = torch.randn_like(y)
    y.backward(upstream), expected.backward(upstream)
    torch.testing.assert_close(x.grad, x_copy.grad, rtol=0, atol=1e-12)


def _assert_same_parameter_gradients(ours, theirs):
    for mine, other in zip([p for m in ours for p in m.parameters()], [p for m in theirs for p in m.parameters()]):
        torch.testing.assert_close(mine.grad, other.grad, rtol=0, atol=1e-12)


def test_batchnorm_relu_conv_is_the_modules_function_with_their_running_statistics():
    from skelemix.ops import batchnorm_relu_conv

    norm, conv, module_norm, module_conv = _normalize_rectify_convolve()
    for step in range(2):  # the second step averages into running statistics the first one moved
        x = torch.randn(3, 4, 16, 5, dtype=torch.float64, requires_grad=True)
        x_copy = x.detach().clone().requires_grad_()
        y, expected = batchnorm_relu_conv(x, norm, conv), module_conv(torch.relu(module_norm(x_copy)))
        _assert_same_outputs_and_input_gradients(y, expected, x, x_copy)
    _assert_same_parameter_gradients((norm, conv), (module_norm, module_conv))
    for name, buffer in norm.named_buffers():
        assert torch.equal(buffer, dict(module_norm.named_buffers())[name]), name
    assert norm.num_batches_tracked.item() == 2


def test_batchnorm_relu_conv_gradients_match_finite_differences():
    from skelemix.ops.recompute import _BatchNormReLUConv

    norm, conv, _, _ = _normalize_rectify_convolve()
    x = torch.randn(2, 4, 6, 3, dtype=torch.float64, requires_grad=True)
    parameters = [p.detach().clone().requires_grad_() for p in (norm.weight, norm.bias, conv.weight, conv.bias)]

    def function(x, norm_weight, norm_bias, conv_weight, conv_bias):
        return _BatchNormReLUConv.apply(x, norm_weight, norm_bias, None, None, 0.1, 1e-5, conv_weight, conv_bias,
                                        (2, 1), (4, 0))

    assert torch.autograd.gradcheck(function, (x, *parameters))


def test_batchnorm_relu_conv_keeps_one_activation_for_backward_instead_of_two():
    """What autograd saves, in elements of the input's size: the modules keep the BatchNorm's input and the ReLU's
    output (2); the function keeps the input alone (1), plus per-channel statistics and weights."""
    from skelemix.ops import batchnorm_relu_conv

    norm, conv, module_norm, module_conv = _normalize_rectify_convolve(torch.float32)
    x = torch.randn(4, 4, 32, 25, requires_grad=True)
    for compute, expected in ((lambda: batchnorm_relu_conv(x, norm, conv), 1),
                              (lambda: module_conv(torch.relu(module_norm(x))), 2)):
        assert [n for _, n in _saved_tensors(compute) if n >= x.numel()] == [x.numel()] * expected


def test_batchnorm_relu_conv_under_bf16_autocast_matches_the_modules():
    """Under autocast both run the BatchNorm on the bf16 input and the convolution in bf16; the recomputed ReLU
    input is rounded to bf16 as the forward's was, so the results agree to bf16 rounding (measured: exactly)."""
    from skelemix.ops import batchnorm_relu_conv

    norm, conv, module_norm, module_conv = _normalize_rectify_convolve(torch.float32)
    x = torch.randn(4, 4, 32, 25).bfloat16().requires_grad_()
    x_copy = x.detach().clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, expected = batchnorm_relu_conv(x, norm, conv), module_conv(torch.relu(module_norm(x_copy)))
    assert y.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(y, expected, rtol=1e-2, atol=1e-2)
    upstream = torch.randn_like(y)
    y.backward(upstream), expected.backward(upstream)
    torch.testing.assert_close(x.grad, x_copy.grad, rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(conv.weight.grad, module_conv.weight.grad, rtol=1e-2, atol=1e-2)
    assert conv.weight.grad.dtype == torch.float32


def test_pointwise_conv_batchnorm_is_the_modules_function_and_keeps_no_activation_of_its_own():
    from skelemix.ops import PointwiseConv2d, pointwise_conv_batchnorm
    from skelemix.ops.recompute import _PointwiseConvBatchNorm

    torch.manual_seed(0)
    conv, norm = PointwiseConv2d(4, 6, stride=2).double(), torch.nn.BatchNorm2d(6).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5), norm.bias.uniform_(-0.5, 0.5)
    module_conv, module_norm = copy.deepcopy(conv), copy.deepcopy(norm)
    x = torch.randn(3, 4, 10, 5, dtype=torch.float64, requires_grad=True)
    x_copy = x.detach().clone().requires_grad_()
    # what the block's graph convolution keeps anyway (x) is all it keeps; the modules also keep the 1x1 output
    output_size = 3 * 6 * 5 * 5
    kept = lambda compute: [ptr for ptr, n in _saved_tensors(compute) if n >= output_size]  # noqa: E731
    assert kept(lambda: pointwise_conv_batchnorm(x, copy.deepcopy(conv), copy.deepcopy(norm))) == [x.data_ptr()]
    modules_keep = kept(lambda: copy.deepcopy(module_norm)(module_conv(x.detach().requires_grad_())))
    assert len(modules_keep) == 1 and modules_keep != [x.data_ptr()]  # the 1x1 output, BatchNorm's input
    y, expected = pointwise_conv_batchnorm(x, conv, norm), module_norm(module_conv(x_copy))
    _assert_same_outputs_and_input_gradients(y, expected, x, x_copy)
    _assert_same_parameter_gradients((conv, norm), (module_conv, module_norm))
    assert torch.equal(norm.running_var, module_norm.running_var) and norm.num_batches_tracked.item() == 1

    parameters = [p.detach().clone().requires_grad_() for p in (conv.weight, conv.bias, norm.weight, norm.bias)]
    assert torch.autograd.gradcheck(
        lambda x, w, b, gamma, beta: _PointwiseConvBatchNorm.apply(x, w, b, 2, gamma, beta, None, None, 0.1, 1e-5),
        (x.detach().requires_grad_(), *parameters))


def test_recomputing_encoder_keeps_two_activations_fewer_per_block_and_computes_the_same():
    """kinect_v1 (20 joints), 8 hidden channels: blocks (C_out, T of the graph convolution's output) (8, 32) x 4,
    (16, 32), (16, 16) x 2, (32, 16), (32, 8) x 2, residual 1x1 convolutions in blocks 5 (16 x 16 frames out) and
    8 (32 x 8), each reading every second frame of its input (8 x 16 and 16 x 8). Without recomputing, autograd also
    keeps each block's ReLU(BatchNorm) output (C_out x T per sample and joint: 3072 in all), the residual
    convolutions' outputs (512) and their strided inputs (256): 3 samples x 20 joints x 3840 elements more. (The count
    takes the tensors of at least 7680 elements, the smallest activation; three 9216-element weights, kept by both,
    cancel.)"""
    torch.manual_seed(0)
    kwargs = dict(layout=get_layout("kinect_v1"), hidden_channels=8, out_channels=32, dropout=0.0)
    recomputing, keeping = STGCN(**kwargs, recompute=True), STGCN(**kwargs, recompute=False)
    keeping.load_state_dict(recomputing.state_dict())
    x = torch.randn(3, 3, 32, 20, 1)
    outputs, kept = [], []
    for encoder in (recomputing, keeping):
        kept.append(sum(n for _, n in _saved_tensors(lambda: outputs.append(encoder(x))) if n >= 7680))
    assert kept[1] - kept[0] == 3 * 20 * 3840
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-6, atol=1e-6)
    _assert_same_squared_norm_gradients((recomputing, keeping), outputs, atol=1e-4)
