"""Input streams: joint (coordinates), motion (frame differences) and bone (joint minus its parent).

All take and return (N, C, T, V, M) tensors. Motion's last frame is zero; the centre joint's bone is zero.
For 2D layouts the third channel is a confidence: motion and bone carry the mean score of the two frames or
joints they join (pyskl's convention) instead of a difference.

Example:
    >>> import torch
    >>> from skelemix.layouts import get_layout
    >>> x = torch.arange(4.).view(1, 1, 4, 1, 1).expand(1, 3, 4, 25, 1)
    >>> to_stream(x, "motion", get_layout("ntu25"))[0, 0, :, 0, 0].tolist()
    [1.0, 1.0, 1.0, 0.0]
"""

from __future__ import annotations

import torch

from ..layouts import SkeletonLayout

STREAMS = ("joint", "motion", "bone")


def to_stream(x: torch.Tensor, stream: str, layout: SkeletonLayout) -> torch.Tensor:
    if stream == "joint":
        return x
    scored = layout.spatial_channels == 2
    if stream == "motion":
        motion = torch.zeros_like(x)
        motion[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
        if scored:
            motion[:, 2, :-1] = (x[:, 2, 1:] + x[:, 2, :-1]) / 2
        return motion
    if stream == "bone":
        parents = torch.tensor(layout.parents, device=x.device)
        bone = x - x[:, :, :, parents]
        if scored:
            bone[:, 2] = (x[:, 2] + x[:, 2, :, parents]) / 2
        return bone
    raise ValueError(f"unknown stream {stream!r}; choose one of {', '.join(STREAMS)}")
