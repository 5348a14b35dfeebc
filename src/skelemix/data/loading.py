"""Torch datasets and loaders over a prepared dataset's split, and over several datasets for pretraining.

Items are (x (C, T, V, M) float32, label, index). Augmentations are not applied here: they run batched on
the training device, so loader workers carry no random state that could repeat across epochs.

Example:
    >>> loader = split_loader(PreparedDataset("prepared/synthetic"), "xsub", "train", batch_size=64)  # doctest: +SKIP
    >>> pool = [PreparedDataset("prepared/msr"), PreparedDataset("prepared/nw-ucla")]    # doctest: +SKIP
    >>> clips = PretrainingClips(pool, "xsub")                                            # doctest: +SKIP
    >>> clips.counts                                    # doctest: +SKIP
    [291, 1484]
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..layouts import map_joints
from .format import DatasetError, PreparedDataset


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
    return loader(SplitDataset(prepared, indices), batch_size, shuffle, drop_last, num_workers)


def loader(dataset: Dataset, batch_size: int, shuffle: bool = False, drop_last: bool = False,
           num_workers: int = 0) -> DataLoader:
    """A loader of skelemix's items (pinned memory where a GPU is present)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, num_workers=num_workers,
                      pin_memory=torch.cuda.is_available(), persistent_workers=num_workers > 0)


class PretrainingClips(Dataset):
    """The clips pretraining draws from: the training split of the first dataset's ``benchmark``, and every clip
    that some benchmark of each further dataset trains on, joints mapped onto the first one's layout
    (``layouts.JOINT_MAPPINGS``) and bodies cut or zero-padded to its M.

    Items are (x (C, T, V, M), label, index): the first dataset's clips keep their label and dataset index; the
    further ones' come with label -1 (pretraining uses none) and indices after the first dataset's, so that every
    clip has its own index (``method.exclude_own_keys`` recognises a sample's queued keys by it).
    """

    def __init__(self, datasets: list[PreparedDataset], benchmark: str):
        target, *others = datasets
        self.layout, self.persons, self.frames = target.layout, target.data.shape[4], target.data.shape[2]
        self.parts = [(target, np.asarray(target.split(benchmark)["train"], dtype=np.int64), 0)]
        offset = len(target)
        for other in others:
            if other.data.shape[2] != self.frames:
                raise DatasetError(f"{other.path}: {other.data.shape[2]} frames per clip, {target.path} has "
                                   f"{self.frames}; prepare both with the same --frames")
            try:
                map_joints(np.zeros((other.layout.num_joints, 3)), other.layout.name, self.layout.name)
            except ValueError as error:
                raise DatasetError(f"{other.path}: {error}") from None
            trained = sorted({i for split in other.splits.values() for i in split["train"]})
            self.parts.append((other, np.asarray(trained, dtype=np.int64), offset))
            offset += len(other)
        self.counts = [len(indices) for _, indices, _ in self.parts]
        self.ends = np.cumsum(self.counts)

    def __len__(self) -> int:
        return int(self.ends[-1])

    def __getitem__(self, item: int):
        part = int(np.searchsorted(self.ends, item, side="right"))
        prepared, indices, offset = self.parts[part]
        index = int(indices[item - (self.ends[part] - self.counts[part])])
        x = np.array(prepared.data[index], dtype=np.float32)  # (C, T, V_source, M_source)
        if part == 0:
            return torch.from_numpy(x), int(prepared.labels[index]), index
        x = map_joints(x, prepared.layout.name, self.layout.name)[..., :self.persons]
        if x.shape[-1] < self.persons:
            x = np.concatenate([x, np.zeros((*x.shape[:-1], self.persons - x.shape[-1]), np.float32)], axis=-1)
        return torch.from_numpy(np.ascontiguousarray(x)), -1, offset + index
