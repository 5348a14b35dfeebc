"""Fast CPU kernels of the ST-GCN's operations, each the same function as the standard module it stands for.

The encoder (:mod:`skelemix.models.stgcn`) is written with standard modules; ``encoder.kernels=fast`` (the
default) computes with these instead, which use the parameters, names and shapes of the modules they stand for,
so that both paths read and write the same checkpoints:

- :func:`graph_convolution` (``graph.py``): the graph convolution's 1x1 convolution and partition sum as one
  custom autograd function that aggregates over joints first and recomputes the aggregation in backward;
- :class:`PointwiseConv2d` (``graph.py``): a strided 1x1 convolution as one batched matmul;
- :class:`Dropout` (``dropout.py``): inverted dropout with masks from 16 random bits per element;
- :func:`batchnorm_relu_conv` and :func:`pointwise_conv_batchnorm` (``recompute.py``): the temporal convolution
  of BatchNorm-ReLU and the residual branch's BatchNorm of a 1x1 convolution, recomputing in backward the
  activation autograd would keep.

Off the CPU each falls back to the standard computation. tests/test_encoder.py checks each against its standard
counterpart (float32 to rounding, gradcheck in float64); benchmarks/pretrain.md has the measured speed-ups.
"""

from .dropout import Dropout
from .graph import PointwiseConv2d, aggregate_then_mix, graph_convolution, pointwise_conv, repeated_flops
from .recompute import batchnorm_relu_conv, pointwise_conv_batchnorm, recomputes

__all__ = ["Dropout", "PointwiseConv2d", "aggregate_then_mix", "batchnorm_relu_conv", "graph_convolution",
           "pointwise_conv", "pointwise_conv_batchnorm", "recomputes", "repeated_flops"]
