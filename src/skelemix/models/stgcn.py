"""ST-GCN encoder (Yan et al., 2018) at a quarter of the usual width, as in SkeletonCLR / SkeleMixCLR.

Input x: (N, C=3, T, V, M). ``forward`` returns pooled features (N, out_channels); ``feature_map`` returns
(N, M, out_channels, T', V) with T' = T / 4 (temporal stride 2 at the 5th and 8th block), the map SkeleMixCLR's
mask pooling needs. Defaults: 16 hidden channels, blocks 16,16,16,16,32,32,32,64,64,256, temporal kernel 9,
spatial partitions, learnable edge importance, data BatchNorm over V*C channels, dropout 0.5 in blocks 2-10 (the
reference configuration). Parameter names and shapes are the field's (``data_bn``, ``st_gcn_networks.N.gcn.conv``,
``st_gcn_networks.N.tcn.*``, ``st_gcn_networks.N.residual.*``, ``edge_importance.N``, the graph ``A``).

``graph`` picks the graph normalisation (``stgcn`` or the reference code's, :mod:`skelemix.graph`); ``init=
"reference"`` draws the weights as the reference code does (:func:`reference_init_`); ``kernels="fast"`` computes
the graph convolution, the residual 1x1 convolution and dropout with :mod:`skelemix.ops` (the same function, same
parameters), ``"reference"`` with the standard modules alone. With the fast kernels, ``recompute=True`` (the
default) also has each block recompute in backward the temporal convolution's BatchNorm-ReLU input and the residual
branch's 1x1 convolution instead of keeping them (:mod:`skelemix.ops.recompute`): less memory, a little slower.

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
from torch import nn

from .. import ops
from ..graph import adjacency as graph_adjacency
from ..layouts import SkeletonLayout

TEMPORAL_DOWNSAMPLING = 4
INITS = ("pytorch", "reference")
KERNELS = ("fast", "reference")


class GraphConvolution(nn.Module):
    """Spatial graph convolution over K partitions: y[o, t, w] = sum_k sum_v (W_k x[:, t, v] + b_k)[o] G_k[v, w],
    (B, C_in, T, V) -> (B, C_out, T, V), with ``conv`` the 1x1 convolution to K C_out channels (W_k, b_k) and G the
    graph times its edge importance."""

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int, fast: bool):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels * num_partitions, kernel_size=1)
        self.fast = fast

    def forward(self, x: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        if self.fast:
            return ops.graph_convolution(x, graph, self.conv)
        y = self.conv(x)
        b, _, t, v = y.shape
        return torch.einsum("nkctv,kvw->nctw", y.view(b, len(graph), -1, t, v), graph)


class STGCNBlock(nn.Module):
    """Graph convolution, then BatchNorm-ReLU-temporal convolution-BatchNorm-dropout, plus a residual; ReLU."""

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int, temporal_kernel: int, stride: int,
                 dropout: float, residual: bool, fast: bool, recompute: bool):
        super().__init__()
        self.out_channels = out_channels
        self.recompute = fast and recompute
        self.gcn = GraphConvolution(in_channels, out_channels, num_partitions, fast)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (temporal_kernel, 1), (stride, 1), ((temporal_kernel - 1) // 2, 0)),
            nn.BatchNorm2d(out_channels),
            ops.Dropout(dropout) if fast else nn.Dropout(dropout),
        )
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            conv = ops.PointwiseConv2d if fast else lambda c_in, c_out, s: nn.Conv2d(c_in, c_out, 1, (s, 1))
            self.residual = nn.Sequential(conv(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        # x: (B, C_in, T, V) -> (B, C_out, T / stride, V)
        y = self.gcn(x, graph)
        if self.recompute:
            norm, _, conv, output_norm, dropout = self.tcn
            y = dropout(output_norm(ops.batchnorm_relu_conv(y, norm, conv)))
        else:
            y = self.tcn(y)
        # in place: nothing keeps y for backward, and a new tensor would fault its pages in
        if self.recompute and isinstance(self.residual, nn.Sequential):
            y += ops.pointwise_conv_batchnorm(x, *self.residual)
        elif self.residual is not None:
            y += self.residual(x)
        return y.relu_()


@torch.no_grad()
def reference_init_(module: nn.Module) -> nn.Module:
    """The reference code's ``weights_init``, in place: convolution and linear weights ~ N(0, 0.02), their biases 0;
    BatchNorm weights ~ N(1, 0.02), biases 0. Edge importances keep their ones. Returns the module."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            layer.weight.normal_(0.0, 0.02)
            if layer.bias is not None:
                layer.bias.zero_()
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.weight.normal_(1.0, 0.02)
            layer.bias.zero_()
    return module


class STGCN(nn.Module):
    """Spatial-temporal graph convolutional encoder for one skeleton layout."""

    def __init__(self, layout: SkeletonLayout, in_channels: int = 3, hidden_channels: int = 16,
                 out_channels: int = 256, temporal_kernel: int = 9, dropout: float = 0.5, graph: str = "stgcn",
                 init: str = "pytorch", kernels: str = "fast", recompute: bool = True):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
        if kernels not in KERNELS:
            raise ValueError(f"kernels must be one of {', '.join(KERNELS)}, got {kernels!r}")
        self.register_buffer("A", torch.from_numpy(graph_adjacency(layout, graph)))  # (K, V, V)
        k, v = self.A.shape[:2]
        self.data_bn = nn.BatchNorm1d(in_channels * v)
        h = hidden_channels
        # (in, out, stride) of the ten blocks
        plan = [(in_channels, h, 1), (h, h, 1), (h, h, 1), (h, h, 1), (h, 2 * h, 2), (2 * h, 2 * h, 1),
                (2 * h, 2 * h, 1), (2 * h, 4 * h, 2), (4 * h, 4 * h, 1), (4 * h, out_channels, 1)]
        self.st_gcn_networks = nn.ModuleList(
            STGCNBlock(c_in, c_out, k, temporal_kernel, stride, dropout=0.0 if i == 0 else dropout, residual=i > 0,
                       fast=kernels == "fast", recompute=recompute)
            for i, (c_in, c_out, stride) in enumerate(plan))
        self.edge_importance = nn.ParameterList(nn.Parameter(torch.ones(k, v, v)) for _ in plan)
        self.out_channels = out_channels
        if init == "reference":
            reference_init_(self)

    @classmethod
    def from_config(cls, layout: SkeletonLayout, encoder) -> STGCN:
        """From a config's ``encoder`` section."""
        return cls(layout, hidden_channels=encoder.hidden_channels, out_channels=encoder.out_channels,
                   temporal_kernel=encoder.temporal_kernel, dropout=encoder.dropout, graph=encoder.graph,
                   init=encoder.init, kernels=encoder.kernels, recompute=encoder.recompute)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V, M) -> (N, M, out_channels, T / 4, V)."""
        n, c, t, v, m = x.shape
        if t % TEMPORAL_DOWNSAMPLING:
            raise ValueError(f"the number of frames must be a multiple of {TEMPORAL_DOWNSAMPLING}, got {t}")
        x = self.data_bn(x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t))
        x = x.view(n * m, v, c, t).permute(0, 2, 3, 1).contiguous()  # (N*M, C, T, V)
        for block, importance in zip(self.st_gcn_networks, self.edge_importance):
            x = block(x, self.A * importance)
        return x.view(n, m, *x.shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V, M) -> (N, out_channels): average over T', V and persons."""
        return self.feature_map(x).mean(dim=(1, 3, 4))
