"""Torch datasets and loaders over a prepared dataset's split, and over several datasets for pretraining.

Items are (x (C, T, V, M) float32, label, index). Augmentations are not applied here: they run batched on
the training device, so loader workers carry no random state that could repeat across epochs. A shuffled loader
(``ResumableLoader`` over an ``EpochOrder``) is checkpointed with the run, so that an epoch stopped in its middle
continues in its own order.

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
from torch.utils.data import DataLoader, Dataset, RandomSampler

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
    """A loader of skelemix's items (pinned memory where a GPU is present); shuffled in an ``EpochOrder``."""
    return ResumableLoader(dataset, batch_size=batch_size, sampler=EpochOrder(dataset) if shuffle else None,
                           drop_last=drop_last, num_workers=num_workers, pin_memory=torch.cuda.is_available(),
                           persistent_workers=num_workers > 0)


class EpochOrder(RandomSampler):
    """RandomSampler's shuffle, drawn the same way (a seed from torch's global generator when an epoch starts), kept
    so that an epoch stopped in the middle can continue in its own order: after ``continue_epoch(seed, start)`` the
    next epoch is the one that ``seed`` orders, from its ``start``-th sample on. ``seed``: the current epoch's."""

    seed: int | None = None
    _continued: tuple[int, int] | None = None

    def continue_epoch(self, seed: int, start: int) -> None:
        self._continued = (seed, start)

    @property
    def continuing(self) -> bool:
        return self._continued is not None

    def __iter__(self):
        seed, start = self._continued or (int(torch.empty((), dtype=torch.int64).random_().item()), 0)
        self._continued, self.seed = None, seed
        generator = torch.Generator()
        generator.manual_seed(seed)
        yield from torch.randperm(len(self.data_source), generator=generator).tolist()[start:]


class ResumableLoader(DataLoader):
    """A DataLoader that Lightning checkpoints: its state is its ``EpochOrder``'s seed (none under a distributed
    sampler). Set ``batches_done`` (the checkpoint's batches of the unfinished epoch) before the state is loaded, and
    loading it continues that epoch's order after them, so that a run stopped mid-epoch resumes on the same batches."""

    batches_done = 0

    def state_dict(self) -> dict:
        return {"seed": self.sampler.seed} if isinstance(self.sampler, EpochOrder) else {}

    def load_state_dict(self, state: dict) -> None:
        if isinstance(self.sampler, EpochOrder) and state.get("seed") is not None and 0 < self.batches_done < len(self):
            self.sampler.continue_epoch(state["seed"], self.batches_done * self.batch_size)

    def __iter__(self):
        if not (isinstance(self.sampler, EpochOrder) and self.sampler.continuing):
            return super().__iter__()
        # an iterator draws a seed from torch's generator, which the stopped epoch did when it began, not here
        state = torch.get_rng_state()
        iterator = super().__iter__()
        torch.set_rng_state(state)
        return iterator


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
