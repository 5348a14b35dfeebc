"""Inverted dropout whose CPU mask compares 16 random bits per element with p, drawn 64 bits at a time.

torch's CPU generator is serial, and drawing a uniform float per element was a visible share of a float32
SkeleMixCLR+ step; this mask is several times cheaper than ``nn.Dropout`` (benchmarks/pretrain.md).
Elements are kept with probability q = 1 - round(p 2^16) / 2^16 (exactly 1 - p for the default 0.5, within 2^-16
otherwise) and scaled by 1 / q, so the expectation is exact. Off the CPU, ``nn.Dropout``'s kernel.

Example:
    >>> import torch
    >>> Dropout(0.5)(torch.ones(4, 8)).unique().tolist()  # doctest: +SKIP
    [0.0, 2.0]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Dropout(nn.Dropout):
    def __init__(self, p: float = 0.5):
        if not 0 <= p < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {p}")
        super().__init__(p)
        self.dropped = min(round(p * 2**16), 2**16 - 1)  # of the 2^16 values of a random int16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        words = torch.empty(-(-x.numel() // 4), dtype=torch.int64).random_(-2**63, None)  # all 64 bits random
        keep = words.view(torch.int16)[:x.numel()].view(x.shape) >= self.dropped - 2**15
        return (x * keep).mul_(2**16 / (2**16 - self.dropped))
