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
             extra_negative: torch.Tensor | None = None, excluded: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the batch of -log softmax of the positive logit (Eq. 1; Eq. 4-5 with ``extra_negative``).

    query, positive: (N, D) L2-normalised; queue: (K, D) negatives shared by the batch; extra_negative:
    (N, D), one more negative per sample (SkeleMixCLR's other STMP view; detach it before passing); excluded:
    (N, K) bool, queue keys that are not negatives of that query (earlier keys of its own sample), left out of its
    softmax. Computed in float32 whatever the autocast state.
    """
    # the named range lets ``skelemix benchmark --breakdown`` tell the loss's operations from the encoder's
    with torch.autocast(query.device.type, enabled=False), torch.profiler.record_function("skelemix::info_nce"):
        query = query.float()
        against_queue = query @ queue.float().T
        if excluded is not None:
            against_queue = against_queue.masked_fill(excluded, float("-inf"))
        logits = [(query * positive.float()).sum(dim=1, keepdim=True), against_queue]
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


def _forget_fullness(queue: "MemoryQueue", _incompatible_keys) -> None:
    """A loaded state may be less full than the one it replaced (a module-level function, so the queue pickles)."""
    queue._known_full = False


class MemoryQueue(nn.Module):
    """FIFO queue of K normalised keys (K, D) and the dataset index of the sample each came from (K,), stored as
    buffers so that checkpoints carry them.

    Starts as random unit vectors of no sample (index -1), like MoCo; ``filled`` (K,) marks the slots that hold an
    encoded key since. ``enqueue`` overwrites the oldest keys, wrapping around the end, so K need not be a multiple
    of the batch size.
    """

    # ``filled.all()`` synchronises with a GPU; once it has held (a queue never empties) it is not asked again
    _known_full = False

    def __init__(self, size: int, dim: int):
        super().__init__()
        if size < 1:
            raise ValueError(f"queue size must be >= 1, got {size}")
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("owners", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("filled", torch.zeros(size, dtype=torch.bool))
        self.register_load_state_dict_post_hook(_forget_fullness)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, owners: torch.Tensor | None = None) -> None:
        """keys: (B, D) and their samples' indices (B,) (default -1), written as if one by one: with B > K only the
        last K remain."""
        size, count = len(self.keys), len(keys)
        slots = (self.pointer + torch.arange(count, device=self.keys.device))[-size:] % size
        self.keys[slots] = keys.detach()[-size:].to(self.keys.dtype)
        self.owners[slots] = -1 if owners is None else owners[-size:].to(self.owners)
        self.filled[slots] = True
        self.pointer.copy_((self.pointer + count) % size)

    def held_by(self, samples: torch.Tensor) -> torch.Tensor:
        """(N, K) bool: which queued keys came from each of the samples (N,) (never the -1 of no sample)."""
        return (samples[:, None] == self.owners[None, :]) & (samples[:, None] >= 0)

    def not_negatives(self, count: int, own_samples: torch.Tensor | None = None, random_start: bool = False
                      ) -> torch.Tensor | None:
        """(N, K) bool for ``info_nce(excluded=...)`` for a batch of ``count`` queries: the slots left out of each
        one's negatives, those its own sample queued (with ``own_samples``, the batch's dataset indices (N,)) and
        those still holding the random start (``random_start``); None: none."""
        excluded = None if own_samples is None else self.held_by(own_samples)
        if random_start and not self._known_full:
            self._known_full = bool(self.filled.all())
            if not self._known_full:
                unfilled = (~self.filled)[None, :].expand(count, -1)
                excluded = unfilled if excluded is None else excluded | unfilled
        return excluded
