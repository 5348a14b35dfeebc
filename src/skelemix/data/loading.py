"""Torch datasets and loaders over a prepared dataset's split.

Items are (x (C, T, V, M) float32, label, index). Augmentations are not applied here: they run batched on
the training device, so loader workers carry no random state that could repeat across epochs.

Example:
    >>> loader = split_loader(PreparedDataset("prepared/synthetic"), "xsub", "train", batch_size=64)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .format import PreparedDataset


class SplitDataset(Dataset):
    def __init__(self, prepared: PreparedDataset, indices):
        self.prepared = prepared
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int):
        index = int(self.indices[item])
        x = torch.from_numpy(np.array(self.prepared.data[index], dtype=np.float32))
        return x, int(self.prepared.labels[index]), index


def split_loader(prepared: PreparedDataset, benchmark: str, part: str, batch_size: int, shuffle: bool = False,
                 drop_last: bool = False, num_workers: int = 0) -> DataLoader:
    """A loader over the ``part`` ("train" or "test") of ``benchmark``."""
    indices = prepared.split(benchmark)[part]
    if len(indices) == 0:
        raise ValueError(f"{prepared.path}: benchmark {benchmark!r} has no {part} samples")
    return DataLoader(SplitDataset(prepared, indices), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                      num_workers=num_workers, pin_memory=torch.cuda.is_available(),
                      persistent_workers=num_workers > 0)
