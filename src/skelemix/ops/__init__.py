"""Fast CPU kernels of the ST-GCN's operations, each the same function as the standard module it stands for.

The encoder (:mod:`skelemix.models.stgcn`) is written with standard modules; ``encoder.kernels=fast`` (the
default) computes with these instead, which use the parameters, names and shapes of the modules they stand for,
so that both paths read and write the same checkpoints:

- :func:`graph_convolution` (``graph.py``): the graph convolution's 1x1 convolution and partition sum as one
  custom autograd function that aggregates over joints first and recomputes the aggregation in backward;
- :class:`PointwiseConv2d` (``graph.py``): a strided 1x1 convolution as one batched matmul;
- :class:`Dropout` (``dropout.py``): inverted dropout with masks from 16 random bits per element.

Off the CPU each falls back to the standard computation. tests/test_encoder.py checks each against its standard
counterpart (float32 to rounding, gradcheck in float64); benchmarks/pretrain.md has the measured speed-ups.
"""

from .dropout import Dropout
from .graph import PointwiseConv2d, aggregate_then_mix, graph_convolution, repeated_flops

__all__ = ["Dropout", "PointwiseConv2d", "aggregate_then_mix", "graph_convolution", "repeated_flops"]
