"""ST-GCN encoder (Yan et al., 2018) at a quarter of the usual width, as in SkeletonCLR / SkeleMixCLR.

Input x: (N, C=3, T, V, M). ``forward`` returns pooled features (N, out_channels); ``feature_map`` returns
(N, M, out_channels, T', V) with T' = T / 4 (temporal stride 2 at the 5th and 8th block), the map SkeleMixCLR's
mask pooling needs. Defaults: 16 hidden channels, blocks 16,16,16,16,32,32,32,64,64,256, temporal kernel 9,
spatial partitions, learnable edge importance, data BatchNorm over V*C channels, dropout 0.5 in blocks 2-10 (the
reference configuration). Parameter names and shapes are the field's (``data_bn``, ``st_gcn_networks.N.gcn.conv``,
``st_gcn_networks.N.tcn.*``, ``st_gcn_networks.N.residual.*``, ``edge_importance.N``, the graph ``A``).

``graph`` picks the graph normalisation (``stgcn`` or the reference code's, :mod:`skelemix.graph`); ``init=
"reference"`` draws the weights as the reference code does (:func:`reference_init_`). Each block is built from
three units, chosen once when it is built (``VARIANTS``): the same functions and parameters, computed differently.
``kernels="fast"`` computes the graph convolution, the residual 1x1 convolution and dropout with
:mod:`skelemix.ops`, ``"reference"`` with the standard modules alone; with the fast kernels, ``recompute=True``
(the default) also has the temporal unit recompute its BatchNorm-ReLU input in backward and the residual unit its
1x1 convolution instead of keeping them (:mod:`skelemix.ops.recompute`): less memory, a little slower. Each unit
reports the FLOPs one call executes (``flops``), which ``skelemix benchmark`` adds up.

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

from functools import partial

import torch
from torch import nn

from .. import ops
from ..graph import adjacency as graph_adjacency
from ..layouts import SkeletonLayout

TEMPORAL_DOWNSAMPLING = 4
INITS = ("pytorch", "reference")
KERNELS = ("fast", "reference")


Flops = tuple[dict[str, int], int]  # FLOPs executed by category, and how many of them repeat forward work in backward


def with_backward(forward: int, differentiated: bool) -> int:
    """The FLOPs of a convolution's forward, and of its backward when ``differentiated``: twice the forward (the
    input's and the weight's gradients)."""
    return (3 if differentiated else 1) * forward


class GraphConvolution(nn.Module):
    """Spatial graph convolution over K partitions: y[o, t, w] = sum_k sum_v (W_k x[:, t, v] + b_k)[o] G_k[v, w],
    (B, C_in, T, V) -> (B, C_out, T, V), with ``conv`` the 1x1 convolution to K C_out channels (W_k, b_k) and G the
    graph times its edge importance: the 1x1 convolution, then the partition sum."""

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels * num_partitions, kernel_size=1)

    def forward(self, x: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        b, _, t, v = y.shape
        return torch.einsum("nkctv,kvw->nctw", y.view(b, len(graph), -1, t, v), graph)

    def flops(self, x: torch.Tensor, graph: torch.Tensor, y: torch.Tensor, differentiated: bool) -> Flops:
        """What one call on x with output y executes."""
        k, v = graph.shape[:2]
        return {"graph convolution": with_backward(2 * y.numel() * k * x.shape[1] + 2 * y.numel() * k * v,
                                                   differentiated)}, 0


class FastGraphConvolution(GraphConvolution):
    """The same function and parameters, computed by ``ops.graph_convolution``: aggregation over joints first (fewer
    FLOPs), recomputed in backward instead of kept."""

    def forward(self, x: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        return ops.graph_convolution(x, graph, self.conv)

    def flops(self, x, graph, y, differentiated):
        """Aggregation four times when differentiated (forward, backward's recomputation, its two gradients), the
        mixing three times."""
        k, v = graph.shape[:2]
        aggregation, mixing = 2 * x.numel() * k * v, 2 * y.numel() * x.shape[1] * k
        if not differentiated:
            return {"graph convolution": aggregation + mixing}, 0
        return {"graph convolution": 4 * aggregation + 3 * mixing}, ops.repeated_flops(x, graph)


class TemporalConvolution(nn.Sequential):
    """BatchNorm-ReLU-temporal convolution-BatchNorm-dropout, (B, C, T, V) -> (B, C, T / stride, V); the layers keep
    the field's positions (``tcn.0`` ... ``tcn.4``)."""

    def __init__(self, channels: int, kernel: int, stride: int, dropout: nn.Module):
        super().__init__(nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
                         nn.Conv2d(channels, channels, (kernel, 1), (stride, 1), ((kernel - 1) // 2, 0)),
                         nn.BatchNorm2d(channels), dropout)

    @property
    def conv(self) -> nn.Conv2d:
        return self[2]

    def flops(self, x: torch.Tensor, y: torch.Tensor, differentiated: bool) -> Flops:
        return {"temporal convolution": with_backward(2 * y.numel() * self.conv.in_channels * self.conv.kernel_size[0],
                                                      differentiated)}, 0


class RecomputedTemporalConvolution(TemporalConvolution):
    """The same layers; the BatchNorm-ReLU input of the convolution recomputed in backward instead of kept
    (``ops.batchnorm_relu_conv``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm, conv, output_norm, dropout = self[0], self.conv, self[3], self[4]
        return dropout(output_norm(ops.batchnorm_relu_conv(x, norm, conv)))


class ResidualProjection(nn.Sequential):
    """The residual branch where the shape changes: a (strided) 1x1 convolution and BatchNorm (``residual.0``,
    ``residual.1``)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, conv: type[nn.Module] | None = None):
        conv = conv(in_channels, out_channels, stride) if conv else nn.Conv2d(in_channels, out_channels, 1, (stride, 1))
        super().__init__(conv, nn.BatchNorm2d(out_channels))

    def flops(self, x: torch.Tensor, y: torch.Tensor, differentiated: bool) -> Flops:
        return {"1x1 residual convolution": with_backward(2 * y.numel() * x.shape[1], differentiated)}, 0


class RecomputedResidualProjection(ResidualProjection):
    """The same layers computed by ``ops.pointwise_conv_batchnorm``: the convolution's output recomputed in backward
    instead of kept (one more forward of the 1x1 convolution)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__(in_channels, out_channels, stride, conv=ops.PointwiseConv2d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ops.pointwise_conv_batchnorm(x, self[0], self[1])

    def flops(self, x, y, differentiated):
        executed, _ = super().flops(x, y, differentiated)
        repeated = 2 * y.numel() * x.shape[1] if ops.recomputes(x, self[1]) else 0
        executed["1x1 residual convolution"] += repeated
        return executed, repeated


# (graph convolution, temporal convolution, residual projection, dropout) of each encoder.kernels / recompute choice
VARIANTS = {
    ("reference", False): (GraphConvolution, TemporalConvolution, ResidualProjection, nn.Dropout),
    ("fast", False): (FastGraphConvolution, TemporalConvolution, partial(ResidualProjection, conv=ops.PointwiseConv2d),
                      ops.Dropout),
    ("fast", True): (FastGraphConvolution, RecomputedTemporalConvolution, RecomputedResidualProjection, ops.Dropout),
}


class STGCNBlock(nn.Module):
    """Graph convolution, then the temporal convolution, plus a residual; ReLU. ``kernels`` and ``recompute`` choose
    the units (``VARIANTS``: the same functions and parameters, computed differently)."""

    def __init__(self, in_channels: int, out_channels: int, num_partitions: int, temporal_kernel: int, stride: int,
                 dropout: float, residual: bool, kernels: str = "fast", recompute: bool = True):
        super().__init__()
        graph_convolution, temporal, projection, dropout_layer = VARIANTS[kernels, kernels == "fast" and recompute]
        self.out_channels = out_channels
        self.gcn = graph_convolution(in_channels, out_channels, num_partitions)
        self.tcn = temporal(out_channels, temporal_kernel, stride, dropout_layer(dropout))
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = projection(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        # x: (B, C_in, T, V) -> (B, C_out, T / stride, V)
        y = self.tcn(self.gcn(x, graph))
        if self.residual is not None:
            y += self.residual(x)  # in place: nothing keeps y for backward, and a new tensor would fault its pages in
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
                       kernels=kernels, recompute=recompute)
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
