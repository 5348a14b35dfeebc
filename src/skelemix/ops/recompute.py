"""Two pieces of an ST-GCN block as autograd functions that recompute an activation in backward instead of keeping
it, each the same function as the modules it stands for.

- ``batchnorm_relu_conv(x, norm, conv)``: the temporal convolution of ReLU(BatchNorm(x)). Autograd would keep the
  BatchNorm's input and the ReLU's output, two tensors of the block's full size; this keeps x and the batch
  statistics and recomputes the ReLU's output in backward (one multiply-add and a ReLU per element, against the
  convolution's 9 multiply-adds per element and output channel).
- ``pointwise_conv_batchnorm(x, conv, norm)``: the residual branch BatchNorm(1x1 convolution of x). Autograd would
  keep the convolution's output and its strided input; this keeps x, which the block's graph convolution keeps
  anyway, and recomputes the 1x1 convolution in backward (a small share of a step's FLOPs).

A training pass thus holds one activation fewer per block, and two more fewer in the three blocks with a residual
convolution: less peak memory for some speed, a trade that depends on the batch (benchmarks/pretrain.md), hence
``encoder.recompute``. Forward and backward call the ATen kernels autograd would
(``native_batch_norm``, the convolutions and their backwards), running statistics are updated once, as
``nn.BatchNorm2d`` does, and only the recomputed ReLU input may differ from the forward's by a rounding (its affine
map is evaluated as x * (weight * invstd) + (bias - mean * weight * invstd), as the CPU kernel does). Under autocast
the convolutions run in autocast's precision, as the modules would, and the BatchNorm in its input's.

Used on the CPU in training with gradients on; elsewhere (a GPU, evaluation, the key encoder's no-grad pass) the
modules themselves run.

Example:
    >>> import torch
    >>> from torch import nn
    >>> norm, conv = nn.BatchNorm2d(4), nn.Conv2d(4, 4, (9, 1), padding=(4, 0))
    >>> batchnorm_relu_conv(torch.randn(2, 4, 16, 5, requires_grad=True), norm, conv).shape
    torch.Size([2, 4, 16, 5])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .graph import PointwiseConv2d, pointwise_conv


def _rectified(x, weight, bias, mean, invstd):
    """ReLU(BatchNorm(x)) from the batch statistics of x (B, C, ...), in x's dtype: computed in the statistics'
    precision and rounded once as it is written, as the forward's BatchNorm does, with no temporary of x's size."""
    scale = weight * invstd
    shift = bias - mean * scale
    view = (-1,) + (1,) * (x.dim() - 2)
    return torch.addcmul(shift.view(view), x, scale.view(view), out=torch.empty_like(x)).relu_()


class _BatchNormReLUConv(torch.autograd.Function):
    """x (B, C, T, V) -> conv(relu(batchnorm(x))) (B, C_out, T', V), updating the running statistics in place."""

    @staticmethod
    def forward(ctx, x, norm_weight, norm_bias, running_mean, running_var, momentum, eps, conv_weight, conv_bias,
                stride, padding):
        normalized, mean, invstd = torch.ops.aten.native_batch_norm(x, norm_weight, norm_bias, running_mean,
                                                                    running_var, True, momentum, eps)
        rectified = normalized.relu_().to(conv_weight.dtype)
        ctx.save_for_backward(x, norm_weight, norm_bias, mean, invstd, conv_weight)
        ctx.options = eps, stride, padding, conv_bias is not None
        return F.conv2d(rectified, conv_weight, conv_bias, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        x, norm_weight, norm_bias, mean, invstd, conv_weight = ctx.saved_tensors
        eps, stride, padding, has_bias = ctx.options
        rectified = _rectified(x, norm_weight, norm_bias, mean, invstd).to(conv_weight.dtype)
        grad_rectified, grad_conv_weight, grad_conv_bias = torch.ops.aten.convolution_backward(
            grad, rectified, conv_weight, [conv_weight.shape[0]] if has_bias else None, stride, padding, [1, 1],
            False, [0, 0], 1, [True, True, has_bias])
        grad_normalized = torch.ops.aten.threshold_backward(grad_rectified, rectified, 0).to(x.dtype)  # ReLU's
        del rectified, grad_rectified
        grad_x, grad_norm_weight, grad_norm_bias = torch.ops.aten.native_batch_norm_backward(
            grad_normalized, x, norm_weight, None, None, mean, invstd, True, eps, [True, True, True])
        return (grad_x, grad_norm_weight, grad_norm_bias, None, None, None, None, grad_conv_weight,
                grad_conv_bias, None, None)


class _PointwiseConvBatchNorm(torch.autograd.Function):
    """x (B, C_in, T, V) -> batchnorm(pointwise_conv(x)) (B, C_out, T / stride, V), updating the running statistics
    in place."""

    @staticmethod
    def forward(ctx, x, conv_weight, conv_bias, stride, norm_weight, norm_bias, running_mean, running_var, momentum,
                eps):
        convolved = pointwise_conv(x, conv_weight, conv_bias, stride)
        normalized, mean, invstd = torch.ops.aten.native_batch_norm(convolved, norm_weight, norm_bias, running_mean,
                                                                    running_var, True, momentum, eps)
        ctx.save_for_backward(x, conv_weight, conv_bias, norm_weight, mean, invstd)
        ctx.options = stride, eps
        return normalized

    @staticmethod
    def backward(ctx, grad):
        x, conv_weight, conv_bias, norm_weight, mean, invstd = ctx.saved_tensors
        stride, eps = ctx.options
        inputs = [tensor.detach().requires_grad_() for tensor in (x, conv_weight, conv_bias)]
        with torch.enable_grad(), torch.autocast(x.device.type, enabled=False):
            convolved = pointwise_conv(*inputs, stride)
        grad_convolved, grad_norm_weight, grad_norm_bias = torch.ops.aten.native_batch_norm_backward(
            grad, convolved.detach(), norm_weight, None, None, mean, invstd, True, eps, [True, True, True])
        grad_x, grad_conv_weight, grad_conv_bias = torch.autograd.grad(convolved, inputs, grad_convolved)
        return (grad_x, grad_conv_weight, grad_conv_bias, None, grad_norm_weight, grad_norm_bias, None, None, None,
                None)


def recomputes(x: torch.Tensor, norm: nn.BatchNorm2d) -> bool:
    """Whether the functions above apply: a CPU tensor in a differentiated training pass of an affine BatchNorm
    that tracks running statistics."""
    return (norm.training and torch.is_grad_enabled() and x.device.type == "cpu" and norm.track_running_stats
            and norm.affine)


def _running_average_momentum(norm: nn.BatchNorm2d) -> float:
    """Counts the batch, as ``nn.BatchNorm2d`` does, and returns the weight of its statistics in the running ones."""
    norm.num_batches_tracked.add_(1)
    return 1.0 / norm.num_batches_tracked.item() if norm.momentum is None else norm.momentum


def _autocast_dtype(x: torch.Tensor) -> torch.dtype:
    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype


def batchnorm_relu_conv(x: torch.Tensor, norm: nn.BatchNorm2d, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(relu(norm(x)))`` for x (B, C, T, V), keeping only x for backward where that saves memory."""
    if not (recomputes(x, norm) and conv.groups == 1 and conv.padding_mode == "zeros"):
        return conv(torch.relu(norm(x)))
    momentum, dtype = _running_average_momentum(norm), _autocast_dtype(x)
    with torch.autocast(x.device.type, enabled=False):
        return _BatchNormReLUConv.apply(x, norm.weight, norm.bias, norm.running_mean, norm.running_var, momentum,
                                        norm.eps, conv.weight.to(dtype),
                                        None if conv.bias is None else conv.bias.to(dtype), conv.stride,
                                        conv.padding)


def pointwise_conv_batchnorm(x: torch.Tensor, conv: PointwiseConv2d, norm: nn.BatchNorm2d) -> torch.Tensor:
    """``norm(conv(x))`` for x (B, C_in, T, V), keeping only x for backward where that saves memory."""
    if not recomputes(x, norm):
        return norm(conv(x))
    momentum, dtype = _running_average_momentum(norm), _autocast_dtype(x)
    with torch.autocast(x.device.type, enabled=False):
        return _PointwiseConvBatchNorm.apply(x.to(dtype), conv.weight.to(dtype), conv.bias.to(dtype), conv.stride[0],
                                             norm.weight, norm.bias, norm.running_mean, norm.running_var, momentum,
                                             norm.eps)
