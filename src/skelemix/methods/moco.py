"""MoCo v2 machinery: the InfoNCE loss, the momentum update and the FIFO queue of keys.

Example:
    >>> import torch
    >>> import torch.nn.functional as F
    >>> queue = MemoryQueue(size=5, dim=4)
    >>> queue.enqueue(F.normalize(torch.randn(3, 4), dim=1)); int(queue.pointer)
    3
    >>> queue.enqueue(F.normalize(torch.randn(3, 4), dim=1)); int(queue.pointer)   # wraps around
    1
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def info_nce(query: torch.Tensor, positive: torch.Tensor, queue: torch.Tensor, temperature: float,
             extra_negative: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the batch of -log softmax of the positive logit (Eq. 1; Eq. 4-5 with ``extra_negative``).

    query, positive: (N, D) L2-normalised; queue: (K, D) negatives shared by the batch; extra_negative:
    (N, D), one more negative per sample (SkeleMixCLR's other STMP view; detach it before passing).
    Computed in float32 whatever the autocast state.
    """
    with torch.autocast(query.device.type, enabled=False):
        query = query.float()
        logits = [(query * positive.float()).sum(dim=1, keepdim=True), query @ queue.float().T]
        if extra_negative is not None:
            logits.append((query * extra_negative.float()).sum(dim=1, keepdim=True))
        logits = torch.cat(logits, dim=1) / temperature
        target = torch.zeros(len(query), dtype=torch.long, device=query.device)
        return F.cross_entropy(logits, target)


@torch.no_grad()
def momentum_update(key: nn.Module, query: nn.Module, momentum: float) -> None:
    """theta_k <- m theta_k + (1 - m) theta_q for every parameter (buffers are the key encoder's own)."""
    for key_param, query_param in zip(key.parameters(), query.parameters(), strict=True):
        key_param.lerp_(query_param.detach(), 1 - momentum)


class MemoryQueue(nn.Module):
    """FIFO queue of K normalised keys (K, D), stored as buffers so that checkpoints carry it.

    Starts as random unit vectors, like MoCo. ``enqueue`` overwrites the oldest keys, wrapping around the
    end, so K need not be a multiple of the batch size.
    """

    def __init__(self, size: int, dim: int):
        super().__init__()
        if size < 1:
            raise ValueError(f"queue size must be >= 1, got {size}")
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """keys: (B, D), written as if one by one: with B > K only the last K remain."""
        size, count = len(self.keys), len(keys)
        slots = (self.pointer + torch.arange(count, device=self.keys.device))[-size:] % size
        self.keys[slots] = keys.detach()[-size:].to(self.keys.dtype)
        self.pointer.copy_((self.pointer + count) % size)
