"""SkeleMixCLR (Chen et al., 2022): SkeletonCLR plus SkeleMix views and spatio-temporal mask pooling.

For each of R mixes, the query view is mixed (``SkeleMix``), encoded once (a loss term of its own), and
its feature map is pooled inside the region (trimmed view p, positive with the partner's key) and outside it
(truncated view g, positive with its own key). Both are negative with the queue and with each other, the other
side detached (Eq. 4-5). L = L_info + lambda * sum_R (L_p + L_g) / 2 (Eq. 6-7). R = 1: SkeleMixCLR; R = 3:
SkeleMixCLR+.
The region is drawn from a generator seeded by (seed, global step), so every rank mixes the same region.

``method.mix.update_bn_stats=false`` keeps the mixed passes out of BatchNorm's running statistics (they still
normalise with their own batch statistics): evaluation then sees statistics of clean sequences only, instead of a
blend of clean and mixed ones.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from ..mixing import SkeleMix, mask_pool
from .moco import info_nce
from .skeletonclr import SkeletonCLR


@contextmanager
def running_statistics_frozen(module: nn.Module, frozen: bool = True):
    """Within the block, BatchNorm layers of ``module`` normalise as usual but leave their running statistics as they
    are (momentum 0)."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] if frozen else []
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.momentum = 0.0
    try:
        yield
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum


class SkeleMixCLR(SkeletonCLR):
    def __init__(self, config, layout):
        super().__init__(config, layout)
        mix = self.config.method.mix
        self.skelemix = SkeleMix(self.layout, mix.min_parts, mix.max_parts, mix.min_frames, mix.max_frames, mix.mode)

    @property
    def loss_term_count(self) -> int:
        return 1 + self.config.method.mix.repeats

    def loss_terms(self, query_view, k, negatives, excluded=None):
        """InfoNCE, then lambda (L_p + L_g) / 2 of each of the R mixes; logs the sum over mixes and the last mix's
        pair similarities."""
        yield from super().loss_terms(query_view, k, negatives, excluded)
        method = self.config.method
        generator = self.step_generator()
        loss_mix = torch.zeros((), device=k.device)
        for _ in range(method.mix.repeats):
            mixed, partner, mask = self.skelemix(query_view, generator)
            with running_statistics_frozen(self, frozen=not method.mix.update_bn_stats):
                trimmed, truncated = mask_pool(self.encoder.feature_map(mixed), mask)
                p, g = self.project(trimmed), self.project(truncated)
            # p holds the partner's region, so the partner's earlier keys are the ones it must not push away
            loss_p = info_nce(p, k[partner], negatives, method.temperature, extra_negative=g.detach(),
                              excluded=None if excluded is None else excluded[partner])
            loss_g = info_nce(g, k, negatives, method.temperature, extra_negative=p.detach(), excluded=excluded)
            loss = (loss_p + loss_g) / 2
            loss_mix = loss_mix + loss.detach()
            with torch.no_grad():
                logs = {"loss_mix": loss_mix, "sim/trimmed_key": (p * k[partner]).sum(1).mean().float(),
                        "sim/truncated_key": (g * k).sum(1).mean().float(),
                        "sim/trimmed_truncated": (p * g).sum(1).mean().float()}
            yield method.mix.weight * loss, logs
