"""Batched view augmentations: SkeletonCLR's Shear and Temporal Crop, and an optional Rotation, on the training device.

Each takes (N, C=3, T, V, M) and returns the same shape, drawing independent parameters per sample from
torch's global generator (seeded per run by Lightning, so they differ across epochs and steps). Rotation is not
in the paper (``augment.rotation=0``, the default, leaves it out): it turns each view as if seen from another
camera, the view transform the field's NW-UCLA loaders apply in training (CTR-GCN: up to 60 degrees).

Example:
    >>> import torch
    >>> x = torch.randn(8, 3, 64, 25, 2)
    >>> view = TemporalCrop()(Shear()(x))
    >>> view.shape
    torch.Size([8, 3, 64, 25, 2])
"""

from __future__ import annotations

import torch
from torch import nn


class Shear(nn.Module):
    """Multiply the coordinates by a random shear matrix [[1, a, b], [c, 1, d], [e, f, 1]], entries ~ U(-beta, beta).

    ``coordinates`` = 2 (2D layouts, whose third channel is a score): the 2x2 shear [[1, a], [c, 1]] of x and y,
    the score unchanged.
    """

    def __init__(self, beta: float = 0.5, coordinates: int = 3):
        super().__init__()
        if beta < 0:
            raise ValueError(f"shear beta must be >= 0, got {beta}")
        if coordinates not in (2, 3):
            raise ValueError(f"coordinates must be 2 or 3, got {coordinates}")
        self.beta, self.coordinates = beta, coordinates

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        if c != 3:
            raise ValueError(f"Shear needs 3 channels per joint, got {c}")
        k = self.coordinates
        off_diagonal = torch.zeros(n, 3, 3, device=x.device)
        off_diagonal[:, :k, :k] = (torch.rand(n, k, k, device=x.device) * 2 - 1) * self.beta
        matrix = torch.eye(3, device=x.device) + off_diagonal * (1 - torch.eye(3, device=x.device))
        return torch.einsum("nij,njtvm->nitvm", matrix.to(x.dtype), x)


class TemporalCrop(nn.Module):
    """Pad T // padding_ratio frames at both ends by mirroring them, then crop a random window of T frames."""

    def __init__(self, padding_ratio: int = 6):
        super().__init__()
        if padding_ratio < 1:
            raise ValueError(f"padding_ratio must be >= 1, got {padding_ratio}")
        self.padding_ratio = padding_ratio

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v, m = x.shape
        pad = t // self.padding_ratio
        if pad == 0:
            return x
        padded = torch.cat([x[:, :, :pad].flip(2), x, x[:, :, -pad:].flip(2)], dim=2)  # (N, C, T + 2 pad, V, M)
        start = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
        frames = start[:, None] + torch.arange(t, device=x.device)  # (N, T)
        index = frames.view(n, 1, t, 1, 1).expand(n, c, t, v, m)
        return padded.gather(2, index)


class Rotation(nn.Module):
    """Turn each sample by its own random angles: about the vertical axis y by U(-degrees, degrees), then about x by
    U(-tilt, tilt) (3D layouts); 2D layouts (``coordinates`` = 2) turn in the image plane by U(-degrees, degrees),
    the score channel unchanged."""

    def __init__(self, degrees: float = 60.0, tilt: float = 0.0, coordinates: int = 3):
        super().__init__()
        if degrees < 0 or tilt < 0:
            raise ValueError(f"rotation angles must be >= 0, got {degrees} and {tilt}")
        if coordinates not in (2, 3):
            raise ValueError(f"coordinates must be 2 or 3, got {coordinates}")
        self.degrees, self.tilt, self.coordinates = degrees, tilt, coordinates

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]

        def angles(limit: float) -> torch.Tensor:
            return torch.deg2rad((torch.rand(n, device=x.device) * 2 - 1) * limit)

        def rotation(angle: torch.Tensor, first: int, second: int) -> torch.Tensor:
            """(N, 3, 3) rotations in the plane of axes first -> second."""
            matrix = torch.eye(3, device=x.device).repeat(n, 1, 1)
            cos, sin = angle.cos(), angle.sin()
            matrix[:, first, first], matrix[:, first, second] = cos, -sin
            matrix[:, second, first], matrix[:, second, second] = sin, cos
            return matrix

        if self.coordinates == 2:
            matrix = rotation(angles(self.degrees), 0, 1)
        else:  # about y turns z into x; about x turns y into z
            matrix = rotation(angles(self.tilt), 1, 2) @ rotation(angles(self.degrees), 2, 0)
        return torch.einsum("nij,njtvm->nitvm", matrix.to(x.dtype), x)


class ViewAugmentation(nn.Sequential):
    """Rotation (when ``rotation`` or ``tilt`` > 0), Shear, then Temporal Crop: one contrastive view."""

    def __init__(self, shear: float = 0.5, padding_ratio: int = 6, coordinates: int = 3, rotation: float = 0.0,
                 tilt: float = 0.0):
        turn = [Rotation(rotation, tilt, coordinates)] if rotation or tilt else []
        super().__init__(*turn, Shear(shear, coordinates), TemporalCrop(padding_ratio))
