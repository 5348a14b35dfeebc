"""Contrastive pretraining methods: the MoCo machinery, SkeletonCLR and SkeleMixCLR."""

from .moco import MemoryQueue, info_nce, momentum_update
from .skeletonclr import SkeletonCLR
from .skelemixclr import SkeleMixCLR

METHODS = {"skeletonclr": SkeletonCLR, "skelemixclr": SkeleMixCLR}

__all__ = ["MemoryQueue", "info_nce", "momentum_update", "SkeletonCLR", "SkeleMixCLR", "METHODS"]
