"""The prepared-dataset format every skelemix command reads, and its atomic writer.

A prepared dataset is a directory::

    data.npy       float32 (N, C=3, T, V, M), memory-mappable
    samples.csv    index,name,label,subject,view,frames   (label 0-based; frames = valid length before resizing)
    splits.json    {"benchmark": {"train": [indices], "test": [indices]}, ...}
    dataset.json   {"name", "layout", "num_classes", "class_names", "preprocessing", "format_version"}

``write_prepared`` builds it in a hidden sibling directory and renames it into place only when every
file is complete, so an interrupted or failed run never leaves a directory that looks finished.

Example:
    >>> ds = PreparedDataset("prepared/nw-ucla")          # doctest: +SKIP
    >>> ds.data.shape, ds.layout.name, ds.split("xview")["train"][:3]  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..layouts import SkeletonLayout, get_layout

FORMAT_VERSION = 1
SAMPLE_COLUMNS = ("index", "name", "label", "subject", "view", "frames")
FILES = ("data.npy", "samples.csv", "splits.json", "dataset.json")


class DatasetError(ValueError):
    """A prepared dataset or a raw input file is unusable; the message names the file and the problem."""


@dataclass(frozen=True)
class Sample:
    """One row of samples.csv (index is its row number)."""

    name: str
    label: int
    subject: int
    view: int
    frames: int


class PreparedDataset:
    """Read access to a prepared dataset; ``data`` is memory-mapped, not loaded."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_dir():
            raise DatasetError(f"{self.path}: no such prepared dataset directory")
        missing = [f for f in FILES if not (self.path / f).is_file()]
        if missing:
            raise DatasetError(f"{self.path}: not a prepared dataset (missing {', '.join(missing)})")
        self.info = _read_json(self.path / "dataset.json")
        for key in ("name", "layout", "num_classes", "class_names"):
            if key not in self.info:
                raise DatasetError(f"{self.path / 'dataset.json'}: missing key {key!r}")
        self.layout: SkeletonLayout = get_layout(self.info["layout"])
        try:
            self.data = np.load(self.path / "data.npy", mmap_mode="r")
        except ValueError as error:
            raise DatasetError(f"{self.path / 'data.npy'}: unreadable ({error})") from None
        if self.data.ndim != 5 or self.data.shape[1] != 3 or self.data.shape[3] != self.layout.num_joints:
            raise DatasetError(f"{self.path / 'data.npy'}: shape {self.data.shape} is not "
                               f"(N, 3, T, {self.layout.num_joints}, M) for layout {self.layout.name}")
        self.samples = _read_samples(self.path / "samples.csv")
        if len(self.samples) != len(self.data):
            raise DatasetError(f"{self.path}: samples.csv has {len(self.samples)} rows, data.npy {len(self.data)}")
        self.labels = np.array([s.label for s in self.samples], dtype=np.int64)
        self.splits = _read_json(self.path / "splits.json")

    @property
    def name(self) -> str:
        return self.info["name"]

    @property
    def num_classes(self) -> int:
        return int(self.info["num_classes"])

    @property
    def class_names(self) -> list[str]:
        return list(self.info["class_names"])

    def split(self, benchmark: str) -> dict[str, list[int]]:
        """{"train": indices, "test": indices} of a benchmark."""
        if benchmark not in self.splits:
            raise DatasetError(f"{self.path / 'splits.json'}: no benchmark {benchmark!r}; "
                               f"it has {', '.join(sorted(self.splits))}")
        return self.splits[benchmark]

    def __len__(self) -> int:
        return len(self.samples)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}: invalid JSON ({error})") from None


def _read_samples(path: Path) -> list[Sample]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != SAMPLE_COLUMNS:
            raise DatasetError(f"{path}: columns must be {','.join(SAMPLE_COLUMNS)}")
        samples = []
        for row_number, row in enumerate(reader):
            try:
                if int(row["index"]) != row_number:
                    raise ValueError(f"index {row['index']} out of order")
                samples.append(Sample(row["name"], int(row["label"]), int(row["subject"]), int(row["view"]),
                                      int(row["frames"])))
            except (TypeError, ValueError) as error:
                raise DatasetError(f"{path}: row {row_number + 1}: {error}") from None
    return samples


@contextmanager
def _staging_directory(out_dir: Path):
    """Yield a hidden directory beside ``out_dir``; rename it to ``out_dir`` only on success."""
    out_dir = out_dir.resolve()
    if out_dir.exists() and any(out_dir.iterdir()):
        raise DatasetError(f"{out_dir}: output directory exists and is not empty")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        yield staging
        if out_dir.exists():
            out_dir.rmdir()
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_prepared(out_dir: str | os.PathLike, *, name: str, layout: SkeletonLayout, class_names: Sequence[str],
                   samples: Sequence[Sample], fill: Callable[[np.ndarray], None], frames: int, persons: int,
                   splits: dict[str, dict[str, list[int]]], preprocessing: dict) -> Path:
    """Write a prepared dataset atomically.

    ``fill`` receives the memory-mapped (N, 3, frames, V, persons) array and writes every sample into it,
    so no copy of the whole dataset is ever held in memory.
    """
    out_dir = Path(out_dir)
    names = [s.name for s in samples]
    if len(set(names)) != len(names):
        raise DatasetError(f"{out_dir}: duplicate sample names")
    for s in samples:
        if not 0 <= s.label < len(class_names):
            raise DatasetError(f"{s.name}: label {s.label} outside 0..{len(class_names) - 1}")
    with _staging_directory(out_dir) as staging:
        data = np.lib.format.open_memmap(staging / "data.npy", mode="w+", dtype=np.float32,
                                         shape=(len(samples), 3, frames, layout.num_joints, persons))
        fill(data)
        data.flush()
        del data
        with (staging / "samples.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(SAMPLE_COLUMNS)
            for i, s in enumerate(samples):
                writer.writerow([i, s.name, s.label, s.subject, s.view, s.frames])
        (staging / "splits.json").write_text(json.dumps(splits))
        (staging / "dataset.json").write_text(json.dumps({
            "name": name, "layout": layout.name, "num_classes": len(class_names),
            "class_names": list(class_names), "preprocessing": preprocessing, "format_version": FORMAT_VERSION,
        }, indent=2))
    return out_dir
