"""SkeleMix (Sec. III-B) and spatio-temporal mask pooling (STMP, Eq. 3).

SkeleMix cuts a region -- Ns body parts over a span of frames -- and pastes into every sample the region of
another sample of the batch. One region is drawn per call and shared by the batch: Ns ~ U(min_parts,
max_parts) body parts (or as many random joints as those parts hold, mode ``random``) and Nt ~ U(min_frames,
max_frames) frames of the encoder's output rate; the input span is 4 Nt frames, placed so that it fits.

Modes (the ablations of Tables V-VI): ``swap`` (the paper: pasted from the partner), ``zeros`` (region set to
zero), ``gaussian`` (region replaced by N(0, 1) noise), ``random`` (swap, but the joints are drawn one by one
instead of as body parts).

Example:
    >>> import torch
    >>> from skelemix.layouts import get_layout
    >>> mix = SkeleMix(get_layout("ntu25"))
    >>> x = torch.randn(4, 3, 64, 25, 2)
    >>> mixed, partner, mask = mix(x)
    >>> mixed.shape, partner.shape, mask.shape      # mask at the feature resolution (T / 4, V)
    (torch.Size([4, 3, 64, 25, 2]), torch.Size([4]), torch.Size([16, 25]))
"""

from __future__ import annotations

import torch
from torch import nn

from .layouts import SkeletonLayout
from .models.stgcn import TEMPORAL_DOWNSAMPLING

MODES = ("swap", "zeros", "gaussian", "random")


class SkeleMix(nn.Module):
    def __init__(self, layout: SkeletonLayout, min_parts: int = 2, max_parts: int = 3, min_frames: int = 7,
                 max_frames: int = 11, mode: str = "swap"):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"SkeleMix mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not 1 <= min_parts <= max_parts <= len(layout.parts):
            raise ValueError(f"need 1 <= min_parts <= max_parts <= {len(layout.parts)}, got {min_parts}..{max_parts}")
        if not 1 <= min_frames <= max_frames:
            raise ValueError(f"need 1 <= min_frames <= max_frames, got {min_frames}..{max_frames}")
        self.parts = [torch.tensor(joints) for joints in layout.parts.values()]
        self.num_joints = layout.num_joints
        self.min_parts, self.max_parts = min_parts, max_parts
        self.min_frames, self.max_frames = min_frames, max_frames
        self.mode = mode

    def draw_region(self, feature_frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """A (T', V) bool mask of the region; the same generator state gives the same region on every rank."""
        if self.max_frames > feature_frames:
            raise ValueError(f"SkeleMix spans up to {self.max_frames} feature frames but the encoder gives "
                             f"{feature_frames}; use more input frames or a smaller max_frames")

        def uniform_int(low: int, high: int) -> int:
            return int(torch.randint(low, high + 1, (), generator=generator))

        num_parts = uniform_int(self.min_parts, self.max_parts)
        order = torch.randperm(len(self.parts), generator=generator)[:num_parts]
        joints = torch.cat([self.parts[i] for i in order])
        if self.mode == "random":
            joints = torch.randperm(self.num_joints, generator=generator)[: len(joints)]
        span = uniform_int(self.min_frames, self.max_frames)
        start = uniform_int(0, feature_frames - span)
        mask = torch.zeros(feature_frames, self.num_joints, dtype=torch.bool)
        mask[start:start + span, joints] = True
        return mask

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: (N, C, T, V, M) -> (mixed (N, C, T, V, M), partner (N,) long, mask (T/4, V) bool).

        ``generator`` draws the region; the partners come from torch's global generator.
        """
        n, _, t, v, _ = x.shape
        if n < 2:
            raise ValueError("SkeleMix needs a batch of at least 2 samples")
        if v != self.num_joints:
            raise ValueError(f"SkeleMix was built for {self.num_joints} joints, got {v}")
        mask = self.draw_region(t // TEMPORAL_DOWNSAMPLING, generator).to(x.device)
        # a random single cycle over the batch: every sample gets a partner other than itself
        order = torch.randperm(n, device=x.device)
        partner = torch.empty_like(order)
        partner[order] = order.roll(-1)
        input_mask = mask.repeat_interleave(TEMPORAL_DOWNSAMPLING, dim=0)[None, None, :, :, None]  # (1, 1, T, V, 1)
        if self.mode == "zeros":
            source = torch.zeros_like(x)
        elif self.mode == "gaussian":
            source = torch.randn_like(x)
        else:
            source = x[partner]
        return torch.where(input_mask, source, x), partner, mask


def mask_pool(feature_map: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """STMP: average a feature map inside and outside a region.

    feature_map: (N, M, C, T', V); mask: (T', V) bool. Returns (trimmed, truncated), each (N, C): the mean
    over the masked (respectively unmasked) cells of T' x V, then over the M persons. Both means are one matmul
    with a (T' V, 2) matrix of averaging weights, which reads the feature map once and writes no copy of it.
    """
    inside = mask.flatten().to(feature_map.dtype)
    weights = torch.stack([inside / inside.sum(), (1 - inside) / (1 - inside).sum()], dim=1)  # (T' V, 2)
    pooled = (feature_map.flatten(-2) @ weights).mean(dim=1)  # (N, C, 2)
    return pooled[..., 0], pooled[..., 1]
