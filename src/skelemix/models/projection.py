"""MLP projection head for contrastive pretraining: Linear, BatchNorm, ReLU, Linear.

Input (N, in_features), output (N, out_features); defaults 256 -> 256 -> 128.

Example:
    >>> import torch
    >>> ProjectionHead()(torch.randn(4, 256)).shape
    torch.Size([4, 128])
"""

from __future__ import annotations

from torch import nn


class ProjectionHead(nn.Sequential):
    def __init__(self, in_features: int = 256, hidden_features: int = 256, out_features: int = 128):
        super().__init__(
            nn.Linear(in_features, hidden_features),
            nn.BatchNorm1d(hidden_features),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_features, out_features),
        )
