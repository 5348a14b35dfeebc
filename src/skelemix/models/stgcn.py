"""ST-GCN encoder at a quarter of the usual width, as in SkeletonCLR / SkeleMixCLR.

Input x: (N, C=3, T, V, M). ``forward`` returns pooled features (N, out_channels); ``feature_map``
returns (N, M, out_channels, T', V) with T' = T / 4 (temporal stride 2 at the 5th and 8th block),
the map SkeleMixCLR's mask pooling needs. Defaults: 16 hidden channels, blocks
16,16,16,16,32,32,32,64,64,256, temporal kernel 9, spatial partitions, learnable edge importance,
data BatchNorm over V*C channels, dropout 0.5 in blocks 2-10 (the reference configuration).

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

from ..graph import spatial_adjacency
from ..layouts import SkeletonLayout

TEMPORAL_DOWNSAMPLING = 4


def fan_in_uniform(*shape: int, fan_in: int) -> nn.Parameter:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): nn.Conv2d's default initialisation of its weight and bias."""
    bound = fan_in ** -0.5
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


class GraphConvolution(nn.Module):
    """Spatial graph convolution over K partitions with learnable edge importance M (Yan et al., Eq. 10).

    y[o, t, w] = sum_k sum_v (A_k * M_k)[v, w] (W_k x[:, t, v] + b_k)[o], for x (B, C_in, T, V) -> (B, C_out, T, V).
    The reference computes W_k x for every partition first (a 1x1 convolution to K C_out channels) and then
    aggregates; aggregating first is the same function with an intermediate of K C_in channels (C_in <= C_out
    in every block of the encoder), one matmul for all partitions and no transposed copy: 1.4x faster
    forward+backward for the whole encoder on a CPU (benchmarks/pretrain.md).
    """

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int, num_joints: int):
        super().__init__()
        self.weight = fan_in_uniform(num_partitions, out_channels, in_channels, fan_in=in_channels)
        self.bias = fan_in_uniform(num_partitions, out_channels, fan_in=in_channels)
        self.edge_importance = nn.Parameter(torch.ones(num_partitions, num_joints, num_joints))

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        b, c, t, v = x.shape
        graph = adjacency * self.edge_importance  # (K, V, W)
        k = len(graph)
        aggregated = x.reshape(-1, v) @ graph.transpose(0, 1).reshape(v, k * v)  # (B C T, K W)
        y = torch.einsum("koc,bctkw->botw", self.weight, aggregated.view(b, c, t, k, v))
        return y + torch.einsum("ko,kw->ow", self.bias, graph.sum(dim=1)).unsqueeze(1)


class PointwiseConvolution(nn.Module):
    """A 1x1 convolution with a temporal stride, (B, C_in, T, V) -> (B, C_out, T / stride, V), as one matmul:
    in a profile (batch 128, the 64 -> 256 block) oneDNN's 1x1 convolution on this layout ran at 8 GFLOP/s, a
    matmul of the same shape at about 100."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.weight = fan_in_uniform(out_channels, in_channels, fan_in=in_channels)
        self.bias = fan_in_uniform(out_channels, fan_in=in_channels)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("oc,bctv->botv", self.weight, x[:, :, ::self.stride]) + self.bias[:, None, None]


class Dropout(nn.Module):
    """Inverted dropout, its mask drawn as (uniform >= p) on a CPU: the distribution of ``nn.Dropout``, whose CPU
    Bernoulli sampler took 2.5x longer to draw (13% of a bfloat16 encoder step); elsewhere ``nn.Dropout``'s kernel."""

    def __init__(self, p: float):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        keep = torch.rand(x.shape) >= self.p
        return (x * keep).mul_(1 / (1 - self.p))

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
            y = y + self.residual(x)
        return torch.relu(y)


class STGCN(nn.Module):
    """Spatial-temporal graph convolutional encoder (Yan et al., 2018) for one skeleton layout."""

    def __init__(self, layout: SkeletonLayout, in_channels: int = 3, hidden_channels: int = 16,
                 out_channels: int = 256, temporal_kernel: int = 9, dropout: float = 0.5):
        super().__init__()
        adjacency = torch.from_numpy(spatial_adjacency(layout))
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

    @classmethod
    def from_config(cls, layout: SkeletonLayout, encoder) -> STGCN:
        """From a config's ``encoder`` section (hidden_channels, out_channels, temporal_kernel, dropout)."""
        return cls(layout, hidden_channels=encoder.hidden_channels, out_channels=encoder.out_channels,
                   temporal_kernel=encoder.temporal_kernel, dropout=encoder.dropout)

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
