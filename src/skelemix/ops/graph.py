"""The graph convolution and the strided 1x1 convolution as batched matmuls, for CPUs.

The field's graph convolution (ST-GCN's ``ConvTemporalGraphical``) is a 1x1 convolution from C_in to K C_out
channels followed by a sum over the K partitions of the graph: y[b, o, t, w] = sum_k sum_v (W_k x[b, :, t, v] +
b_k)[o] A_k[v, w]. ``aggregate_then_mix`` computes the same function the other way round, aggregating over the
joints first (intermediates of C_in <= C_out channels), partition by partition into one accumulating ``baddbmm``,
with no permuted copy. Backward recomputes the aggregation instead of keeping it: the aggregated tensors were the
largest activations a block kept, and recomputing them is a small share of a training step's FLOPs
(``repeated_flops``, which the benchmark subtracts).

oneDNN's 1x1 convolution ran an order of magnitude slower on the encoder's layout than a matmul of the same shape,
hence ``PointwiseConv2d`` (benchmarks/pretrain.md has both measurements).

Example:
    >>> import torch
    >>> x, graph = torch.randn(2, 4, 8, 5), torch.rand(3, 5, 5)
    >>> weight, bias = torch.randn(3, 6, 4), torch.randn(6, 5)    # (K, C_out, C_in), (C_out, W)
    >>> aggregate_then_mix(x, graph, weight, bias).shape
    torch.Size([2, 6, 8, 5])
"""

from __future__ import annotations

import torch
from torch import nn


class _AggregateThenMix(torch.autograd.Function):
    """y[b, o, t, w] = bias[o, w] + sum_k sum_c weight[k, o, c] sum_v x[b, c, t, v] graph[k, v, w].

    x (B, C_in, T, V), graph (K, V, W), weight (K, C_out, C_in), bias (C_out, W) -> y (B, C_out, T, W)."""

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


def aggregate_then_mix(x: torch.Tensor, graph: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
                       ) -> torch.Tensor:
    """x (B, C_in, T, V), graph (K, V, W), weight (K, C_out, C_in), bias (C_out, W) -> (B, C_out, T, W), in
    autocast's precision where autocast is on (it does not reach into a custom Function)."""
    device = x.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
    with torch.autocast(device, enabled=False):
        return _AggregateThenMix.apply(x.to(dtype), graph.to(dtype), weight.to(dtype), bias.to(dtype))


def graph_convolution(x: torch.Tensor, graph: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """The graph convolution of a 1x1 ``conv`` from C_in to K C_out channels: (x (B, C_in, T, V), graph (K, V, W))
    -> (B, C_out, T, W), the same function as ``conv`` followed by the sum over partitions."""
    k = len(graph)
    weight = conv.weight.view(k, -1, conv.in_channels)  # (K, C_out, C_in), a view of the parameter
    bias = torch.einsum("ko,kw->ow", conv.bias.view(k, -1), graph.sum(dim=1))  # b_k summed over each partition
    return aggregate_then_mix(x, graph, weight, bias)


def repeated_flops(x: torch.Tensor, graph: torch.Tensor) -> int:
    """FLOPs of the aggregation that ``graph_convolution``'s backward computes again for input x (B, C_in, T, V)."""
    return 2 * x.numel() * graph.shape[0] * graph.shape[1]


class PointwiseConv2d(nn.Conv2d):
    """``nn.Conv2d(in, out, 1, stride=(s, 1))`` computed on a CPU as one batched matmul that adds the bias as it
    writes; (B, C_in, T, V) -> (B, C_out, T / s, V). Elsewhere the convolution itself."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__(in_channels, out_channels, kernel_size=1, stride=(stride, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return super().forward(x)
        return pointwise_conv(x, self.weight, self.bias, self.stride[0])


def pointwise_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int) -> torch.Tensor:
    """x (B, C_in, T, V), weight (C_out, C_in, 1, 1), bias (C_out,) -> (B, C_out, T / stride, V), one batched
    matmul that adds the bias as it writes."""
    x = x[:, :, ::stride]
    b, c, t, v = x.shape
    y = torch.baddbmm(bias[:, None], weight.view(-1, c).expand(b, -1, -1), x.reshape(b, c, t * v))
    return y.view(b, -1, t, v)
