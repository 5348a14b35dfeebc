"""ST-GCN encoder at a quarter of the usual width, as in SkeletonCLR / SkeleMixCLR.

Input x: (N, C=3, T, V, M). ``forward`` returns pooled features (N, out_channels); ``feature_map``
returns (N, M, out_channels, T', V) with T' = T / 4 (temporal stride 2 at the 5th and 8th block),
the map SkeleMixCLR's mask pooling needs. Defaults: 16 hidden channels, blocks
16,16,16,16,32,32,32,64,64,256, temporal kernel 9, spatial partitions, learnable edge importance,
data BatchNorm over V*C channels, dropout 0.5 in blocks 2-10 (the reference configuration). ``graph`` picks the
graph normalisation (``stgcn`` or the reference code's, see :mod:`skelemix.graph`); ``init="reference"`` draws the
weights as the reference code does (:func:`reference_init_`) instead of PyTorch's defaults.

Example:
    >>> import torch
    >>> from skelemix.layouts import get_layout
    >>> encoder = STGCN(get_layout("ntu25"))
    >>> encoder(torch.randn(2, 3, 64, 25, 2)).shape
    torch.Size([2, 256])
    >>> encoder.feature_map(torch.randn(2, 3, 64, 25, 2)).shape
    torch.Size([2, 2, 256, 16, 25])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..graph import adjacency as graph_adjacency
from ..layouts import SkeletonLayout

TEMPORAL_DOWNSAMPLING = 4


def fan_in_uniform(*shape: int, fan_in: int) -> nn.Parameter:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): nn.Conv2d's default initialisation of its weight and bias."""
    bound = fan_in ** -0.5
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


class _AggregateThenMix(torch.autograd.Function):
    """y[b, o, t, w] = bias[o, w] + sum_k sum_c weight[k, o, c] sum_v x[b, c, t, v] graph[k, v, w].

    x (B, C_in, T, V), graph (K, V, W), weight (K, C_out, C_in), bias (C_out, W) -> y (B, C_out, T, W). Partition by
    partition, so that each aggregated tensor (B, C_in, T W) is already laid out for a batched matmul with the
    weight (no permuted copy) and the products accumulate in place. Only x is kept for backward, which aggregates
    again: the aggregated tensors were the largest activations an ST-GCN block kept (0.7 of 2.5 GB in a batch of
    128 two-person sequences) and recomputing them costs about 1.5% of a training step's FLOPs.
    """

    @staticmethod
    def forward(ctx, x, graph, weight, bias):
        b, c, t, v = x.shape
        out_channels = weight.shape[1]
        rows = x.reshape(-1, v)
        y = bias[:, None].expand(out_channels, t, v).reshape(1, out_channels, t * v)  # broadcast over the batch
        for k in range(len(graph)):
            aggregated = (rows @ graph[k]).view(b, c, t * v)
            mixing = weight[k].expand(b, out_channels, c)
            y = torch.baddbmm(y, mixing, aggregated) if k == 0 else y.baddbmm_(mixing, aggregated)
        ctx.save_for_backward(x, graph, weight)
        return y.view(b, out_channels, t, v)

    @staticmethod
    def backward(ctx, grad):
        x, graph, weight = ctx.saved_tensors
        b, c, t, v = x.shape
        out_channels = weight.shape[1]
        rows = x.reshape(-1, v)
        grad = grad.contiguous().view(b, out_channels, t * v)
        grad_rows = torch.zeros_like(rows) if ctx.needs_input_grad[0] else None
        grad_graph, grad_weight = torch.empty_like(graph), torch.empty_like(weight)
        for k in range(len(graph)):
            aggregated = (rows @ graph[k]).view(b, c, t * v)
            grad_weight[k] = torch.bmm(grad, aggregated.transpose(1, 2)).sum(0)
            grad_aggregated = torch.bmm(weight[k].t().expand(b, c, out_channels), grad).view(-1, v)
            if grad_rows is not None:
                grad_rows.addmm_(grad_aggregated, graph[k].t())
            grad_graph[k] = rows.t() @ grad_aggregated
        grad_x = None if grad_rows is None else grad_rows.view_as(x)
        return grad_x, grad_graph, grad_weight, grad.view(b, out_channels, t, v).sum(dim=(0, 2))


class GraphConvolution(nn.Module):
    """Spatial graph convolution over K partitions with learnable edge importance M (Yan et al., Eq. 10).

    y[o, t, w] = sum_k sum_v (A_k * M_k)[v, w] (W_k x[:, t, v] + b_k)[o], for x (B, C_in, T, V) -> (B, C_out, T, V).
    The reference computes W_k x for every partition first (a 1x1 convolution to K C_out channels) and then
    aggregates; aggregating first is the same function with intermediates of C_in channels (C_in <= C_out in every
    block of the encoder); ``_AggregateThenMix`` says how it is computed.
    """

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int, num_joints: int):
        super().__init__()
        self.weight = fan_in_uniform(num_partitions, out_channels, in_channels, fan_in=in_channels)
        self.bias = fan_in_uniform(num_partitions, out_channels, fan_in=in_channels)
        self.edge_importance = nn.Parameter(torch.ones(num_partitions, num_joints, num_joints))

    def repeated_flops(self, x: torch.Tensor) -> int:
        """FLOPs of the aggregation that backward computes again for input x (B, C_in, T, V)."""
        k, v = self.edge_importance.shape[:2]
        return 2 * x.numel() * k * v

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        graph = adjacency * self.edge_importance  # (K, V, W)
        bias = torch.einsum("ko,kw->ow", self.bias, graph.sum(dim=1))  # b_k summed over each partition's edges
        device = x.device.type
        # autocast does not reach into a custom Function, so its precision is applied here
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
        with torch.autocast(device, enabled=False):
            return _AggregateThenMix.apply(x.to(dtype), graph.to(dtype), self.weight.to(dtype), bias.to(dtype))


class PointwiseConvolution(nn.Module):
    """A 1x1 convolution with a temporal stride, (B, C_in, T, V) -> (B, C_out, T / stride, V), as one batched
    matmul that adds the bias as it writes: in a profile (batch 128, the 64 -> 256 block) oneDNN's 1x1 convolution
    on this layout ran at 8 GFLOP/s, a matmul of the same shape at about 100."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.weight = fan_in_uniform(out_channels, in_channels, fan_in=in_channels)
        self.bias = fan_in_uniform(out_channels, fan_in=in_channels)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride]
        b, c, t, v = x.shape
        y = torch.baddbmm(self.bias[:, None], self.weight.expand(b, -1, -1), x.reshape(b, c, t * v))
        return y.view(b, -1, t, v)


class Dropout(nn.Module):
    """Inverted dropout. On a CPU the mask compares 16 random bits per element with p, drawn 64 bits at a time:
    torch's CPU generator is serial, and drawing a uniform float per element took 6% of a float32 SkeleMixCLR+
    step. At the last block's size (batch 128) this dropout ran about 2x faster than one with uniform draws and
    3-5x faster than ``nn.Dropout``. Elements are kept with probability q = 1 - round(p 2^16) / 2^16 (exactly
    1 - p for the default 0.5, within 2^-16 otherwise) and scaled by 1 / q, so the expectation is exact.
    Elsewhere ``nn.Dropout``'s kernel."""

    def __init__(self, p: float):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {p}")
        self.p = p
        self.dropped = min(round(p * 2**16), 2**16 - 1)  # of the 2^16 values of a random int16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        words = torch.empty(-(-x.numel() // 4), dtype=torch.int64).random_(-2**63, None)  # all 64 bits random
        keep = words.view(torch.int16)[:x.numel()].view(x.shape) >= self.dropped - 2**15
        return (x * keep).mul_(2**16 / (2**16 - self.dropped))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class GraphTemporalBlock(nn.Module):
    """One ST-GCN block: graph convolution over the partitions, then a temporal convolution."""

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int, num_joints: int,
                 temporal_kernel: int, stride: int, dropout: float, residual: bool):
        super().__init__()
        self.out_channels = out_channels
        self.graph_conv = GraphConvolution(in_channels, out_channels, num_partitions, num_joints)
        self.temporal = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (temporal_kernel, 1), (stride, 1), ((temporal_kernel - 1) // 2, 0)),
            nn.BatchNorm2d(out_channels),
            Dropout(dropout),
        )
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(PointwiseConvolution(in_channels, out_channels, stride),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        # x: (B, C_in, T, V) -> (B, C_out, T / stride, V)
        y = self.temporal(self.graph_conv(x, adjacency))
        if self.residual is not None:
            y += self.residual(x)  # in place: nothing keeps y for backward, and a new tensor would fault its pages in
        return y.relu_()


INITS = ("pytorch", "reference")


@torch.no_grad()
def reference_init_(module: nn.Module) -> nn.Module:
    """The reference code's ``weights_init``, in place: convolution and linear weights ~ N(0, 0.02), their biases 0;
    BatchNorm weights ~ N(1, 0.02), biases 0. Edge importances keep their ones. Returns the module."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear, GraphConvolution, PointwiseConvolution)):
            layer.weight.normal_(0.0, 0.02)
            if layer.bias is not None:
                layer.bias.zero_()
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.weight.normal_(1.0, 0.02)
            layer.bias.zero_()
    return module


class STGCN(nn.Module):
    """Spatial-temporal graph convolutional encoder (Yan et al., 2018) for one skeleton layout."""

    def __init__(self, layout: SkeletonLayout, in_channels: int = 3, hidden_channels: int = 16,
                 out_channels: int = 256, temporal_kernel: int = 9, dropout: float = 0.5, graph: str = "stgcn",
                 init: str = "pytorch"):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
        adjacency = torch.from_numpy(graph_adjacency(layout, graph))
        self.register_buffer("adjacency", adjacency)
        k, v = adjacency.shape[0], adjacency.shape[1]
        self.data_bn = nn.BatchNorm1d(in_channels * v)
        h = hidden_channels
        # (in, out, stride) of the ten blocks
        plan = [(in_channels, h, 1), (h, h, 1), (h, h, 1), (h, h, 1), (h, 2 * h, 2), (2 * h, 2 * h, 1),
                (2 * h, 2 * h, 1), (2 * h, 4 * h, 2), (4 * h, 4 * h, 1), (4 * h, out_channels, 1)]
        self.blocks = nn.ModuleList(
            GraphTemporalBlock(c_in, c_out, k, v, temporal_kernel, stride,
                               dropout=0.0 if i == 0 else dropout, residual=i > 0)
            for i, (c_in, c_out, stride) in enumerate(plan)
        )
        self.out_channels = out_channels
        if init == "reference":
            reference_init_(self)

    @classmethod
    def from_config(cls, layout: SkeletonLayout, encoder) -> STGCN:
        """From a config's ``encoder`` section (hidden_channels, out_channels, temporal_kernel, dropout, graph,
        init)."""
        return cls(layout, hidden_channels=encoder.hidden_channels, out_channels=encoder.out_channels,
                   temporal_kernel=encoder.temporal_kernel, dropout=encoder.dropout, graph=encoder.graph,
                   init=encoder.init)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V, M) -> (N, M, out_channels, T / 4, V)."""
        n, c, t, v, m = x.shape
        if t % TEMPORAL_DOWNSAMPLING:
            raise ValueError(f"the number of frames must be a multiple of {TEMPORAL_DOWNSAMPLING}, got {t}")
        x = x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t)
        x = self.data_bn(x)
        x = x.view(n * m, v, c, t).permute(0, 2, 3, 1).contiguous()  # (N*M, C, T, V)
        for block in self.blocks:
            x = block(x, self.adjacency)
        return x.view(n, m, *x.shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V, M) -> (N, out_channels): average over T', V and persons."""
        return self.feature_map(x).mean(dim=(1, 3, 4))
