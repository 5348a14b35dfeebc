"""The prepared-dataset format every skelemix command reads, and its atomic writer.

A prepared dataset is a directory::

    data.npy       float32 (N, C=3, T, V, M), memory-mappable
    samples.csv    index,name,label,subject,view,frames   (label 0-based; frames = valid length before resizing)
    splits.json    {"benchmark": {"train": [indices], "test": [indices]}, ...}
    dataset.json   {"name", "layout", "num_classes", "class_names", "preprocessing", "format_version"}

It may also hold ``skipped.csv`` (source,problem): the raw samples a preparation left out, and why.

``write_prepared`` streams raw samples from parallel reader processes into ``data.npy`` row by row (peak
memory does not grow with the dataset), in a hidden sibling directory that is renamed into place only when
every file is complete, so an interrupted or failed run never leaves a directory that looks finished.

Example:
    >>> ds = PreparedDataset("prepared/nw-ucla")          # doctest: +SKIP
    >>> ds.data.shape, ds.layout.name, ds.split("xview")["train"][:3]  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import shutil
import struct
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files import with_default_permissions
from ..layouts import SkeletonLayout, get_layout
from .preprocess import Preprocessing, preprocess

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
    """Read access to a prepared dataset; ``data`` is memory-mapped, not loaded.

    Opening it checks what every command relies on, naming the file and the first problem: labels within
    0..num_classes-1, split indices integers in range, unique, and no sample in both a benchmark's train and test
    lists, and (``verify``, a streaming pass with flat memory) finite coordinates.
    """

    def __init__(self, path: str | os.PathLike, verify: bool = True, progress: bool = False):
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
        bad = np.flatnonzero((self.labels < 0) | (self.labels >= self.num_classes))
        if len(bad):
            raise DatasetError(f"{self.path / 'samples.csv'}: sample {bad[0]} ({self.samples[bad[0]].name}) has label "
                               f"{self.labels[bad[0]]}, outside 0..{self.num_classes - 1}")
        self.splits = _read_json(self.path / "splits.json")
        self._check_splits()
        if verify:
            self.check_finite(progress)

    def _check_splits(self) -> None:
        where = self.path / "splits.json"
        if not isinstance(self.splits, dict):
            raise DatasetError(f"{where}: expected {{benchmark: {{train: [...], test: [...]}}}}")
        for benchmark, split in self.splits.items():
            if not isinstance(split, dict) or set(split) != {"train", "test"}:
                raise DatasetError(f"{where}: benchmark {benchmark!r} must have exactly the lists train and test")
            for part, indices in split.items():
                if not isinstance(indices, list) or not all(type(i) is int for i in indices):
                    raise DatasetError(f"{where}: {benchmark} {part}: indices must be a list of integers")
                outside = [i for i in indices if not 0 <= i < len(self.samples)]
                if outside:
                    raise DatasetError(f"{where}: {benchmark} {part}: index {outside[0]} outside 0..{len(self) - 1}")
                if len(set(indices)) != len(indices):
                    repeated = next(i for i in indices if indices.count(i) > 1)
                    raise DatasetError(f"{where}: {benchmark} {part}: index {repeated} listed twice")
            both = set(split["train"]) & set(split["test"])
            if both:
                first = min(both)
                raise DatasetError(f"{where}: {benchmark}: sample {first} ({self.samples[first].name}) is in both "
                                   f"train and test")

    def check_finite(self, progress: bool = False, chunk_bytes: int = 64 * 2**20) -> None:
        """Read data.npy once, in chunks by plain reads (mapped pages would count as resident memory), and fail
        naming the first sample with a NaN or infinite coordinate."""
        from tqdm import tqdm

        path = self.path / "data.npy"
        row_bytes = int(np.prod(self.data.shape[1:])) * self.data.dtype.itemsize
        rows = max(1, chunk_bytes // row_bytes)
        with path.open("rb") as f, tqdm(total=len(self), unit="sample", disable=not progress, file=sys.stderr,
                                         dynamic_ncols=True) as bar:
            f.seek(self.data.offset)
            for start in range(0, len(self), rows):
                count = min(rows, len(self) - start)
                chunk = np.frombuffer(f.read(count * row_bytes), dtype=self.data.dtype)
                if len(chunk) * self.data.dtype.itemsize != count * row_bytes:
                    raise DatasetError(f"{path}: cut short at sample {start}")
                finite = np.isfinite(chunk.reshape(count, -1)).all(axis=1)
                if not finite.all():
                    bad = start + int(np.argmin(finite))
                    raise DatasetError(f"{path}: sample {bad} ({self.samples[bad].name}) has NaN or infinite "
                                       f"coordinates; prepare the dataset again, or leave that sample out")
                bar.update(count)

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


DATASETS_FILE = "datasets.json"  # in a run directory: what it was pretrained on, as ``fingerprint`` records it


def fingerprint(prepared: PreparedDataset) -> dict:
    """What identifies a prepared dataset's content cheaply: path, name, samples, data.npy's shape and bytes."""
    return {"path": str(prepared.path.resolve()), "name": prepared.name, "samples": len(prepared),
            "shape": list(prepared.data.shape), "bytes": (prepared.path / "data.npy").stat().st_size}


def check_same_dataset(prepared: PreparedDataset, recorded: dict) -> None:
    """DatasetError when ``prepared`` is not the dataset ``recorded`` (a ``fingerprint``) describes."""
    now = fingerprint(prepared)
    changed = [key for key in ("name", "samples", "shape", "bytes") if now[key] != recorded.get(key)]
    if changed:
        raise DatasetError(f"{prepared.path}: no longer the dataset the run was pretrained on ({changed[0]}: "
                           f"{recorded.get(changed[0])} then, {now[changed[0]]} now); give --data to evaluate on "
                           f"another dataset")


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


def read_number_table(path: Path, columns: int, what: str) -> np.ndarray:
    """A text file of whitespace-separated numbers, ``columns`` per non-empty line -> (lines, columns) float64;
    DatasetError naming the file and the first bad line (``what`` says what a line holds) or a non-finite value."""
    try:
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not a text file ({error})") from None
    bad = next((number for number, row in enumerate(rows, start=1) if len(row) != columns), None)
    if bad is not None:
        raise DatasetError(f"{path}: line {bad} has {len(rows[bad - 1])} values, expected {columns} ({what})")
    try:
        values = np.array(rows, dtype=np.float64).reshape(len(rows), columns)
    except ValueError:
        raise DatasetError(f"{path}: a value is not a number") from None
    if not np.isfinite(values).all():
        raise DatasetError(f"{path}: NaN or infinite coordinates")
    return values


def input_files(directory: str | os.PathLike, suffix: str) -> list[Path]:
    """The ``*suffix`` files of ``directory``, sorted; DatasetError if it is missing or has none."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f"{directory}: no such directory")
    paths = sorted(directory.glob(f"*{suffix}"))
    if not paths:
        raise DatasetError(f"{directory}: no {suffix} files")
    return paths


@contextmanager
def _staging_directory(out_dir: Path):
    """Yield a hidden directory beside ``out_dir``; rename it to ``out_dir`` only on success."""
    out_dir = out_dir.resolve()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise DatasetError(f"{out_dir}: output directory exists and is not empty")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    for leftover in out_dir.parent.glob(f".{out_dir.name}.partial-*"):  # from a killed run; never complete
        shutil.rmtree(leftover, ignore_errors=True)
    staging = with_default_permissions(Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent)))
    try:
        yield staging
        if out_dir.exists():
            out_dir.rmdir()
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class _RowWriter:
    """Appends float32 rows to a .npy file whose header is rewritten with the final row count on close.

    Plain sequential writes, not a memory map: mapped pages count towards the writer's resident memory,
    which must stay flat however large the dataset grows.
    """

    HEADER_BYTES = 128  # fixed, so the header can be rewritten in place; a multiple of 64 as .npy prefers

    def __init__(self, path: Path, row_shape: tuple[int, ...]):
        self.row_shape = row_shape
        self.rows = 0
        self.file = path.open("wb")
        self.file.write(self._header())

    def _header(self) -> bytes:
        text = repr({"descr": "<f4", "fortran_order": False, "shape": (self.rows, *self.row_shape)})
        text = text.ljust(self.HEADER_BYTES - 10 - 1) + "\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")

    def append(self, row: np.ndarray) -> None:
        self.file.write(np.ascontiguousarray(row, dtype="<f4").tobytes())
        self.rows += 1

    def close(self) -> None:
        self.file.seek(0)
        self.file.write(self._header())
        self.file.close()


RawSample = tuple[Sample, np.ndarray]
"""A sample as a reader returns it: its row of samples.csv and coordinates (M, T_raw, V, 3)."""


@dataclass
class PrepareReport:
    """What a preparation wrote and what it left out: ``skipped`` holds (source, problem) pairs."""

    path: Path
    samples: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def summary(self, shown: int = 10) -> tuple[list[str], list[str]]:
        """(what was written, left out and repaired; the skipped samples, the first ``shown`` named): lines for a
        user, the second list meant for stderr."""
        splits = PreparedDataset(self.path, verify=False).splits  # written just now from finite, checked rows
        lines = [f"wrote {self.samples} samples to {self.path} ("
                 + "; ".join(f"{name}: {len(s['train'])} train / {len(s['test'])} test" for name, s in splits.items())
                 + ")"]
        for label, counts in (("left out", self.info), ("repaired", self.info.get("source", {}))):
            shown_counts = {k: v for k, v in counts.items() if isinstance(v, int) and v and k != "detections"}
            if shown_counts:
                lines.append(f"{label}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in shown_counts.items()))
        warnings = [f"skipped: {problem}" for _, problem in self.skipped[:shown]]
        if self.skipped:
            more = f" ({len(self.skipped) - shown} more not shown)" if len(self.skipped) > shown else ""
            warnings.append(f"skipped {len(self.skipped)} bad samples{more}; all listed in {self.path / 'skipped.csv'}")
        return lines, warnings


_job: tuple = ()  # (read, layout, preprocessing) of the running preparation, set in each worker process


def _set_job(*job) -> None:
    global _job
    _job = job


def _convert(item) -> list[tuple[bool, object, object]]:
    """Read and preprocess one item: [(True, Sample, (3, T, V, M) array) or (False, source, problem)]."""
    read, layout, preprocessing = _job
    try:
        raws = read(item)
    except DatasetError as error:
        return [(False, str(item), str(error))]
    results = []
    for sample, bodies in raws:
        source = str(item) if len(raws) == 1 else f"{item} ({sample.name})"
        try:
            results.append((True, sample, preprocess(bodies, layout, preprocessing)))
        except ValueError as error:
            results.append((False, source, f"{source}: {error}"))
    return results


def default_workers() -> int:
    """Reader processes when none are asked for: one per CPU core."""
    return os.cpu_count() or 1


def _converted(items: Sequence, read, layout, preprocessing, workers: int) -> Iterable[list]:
    """Results of :func:`_convert` in item order, from ``workers`` processes (0: this process)."""
    if workers == 0:
        _set_job(read, layout, preprocessing)
        yield from map(_convert, items)
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(workers, _set_job, (read, layout, preprocessing)) as pool:
        yield from pool.imap(_convert, items, chunksize=max(1, min(32, len(items) // (workers * 8))))


SplitRule = Callable[[Sample], "str | None"]
"""A benchmark as a rule: "train", "test", or None for a sample the benchmark does not use."""


def write_prepared(out_dir: str | os.PathLike, *, name: str, layout: SkeletonLayout, class_names: Sequence[str],
                   items: Sequence, read: Callable[[object], list[RawSample]], preprocessing: Preprocessing,
                   splits: dict[str, SplitRule], workers: int = 0, strict: bool = False, progress: bool = False,
                   unit: str = "file", info: dict | None = None) -> PrepareReport:
    """Read every item, preprocess and write the prepared dataset atomically.

    ``read(item)`` runs in worker processes (it and the items must pickle) and returns the item's raw
    samples or raises DatasetError naming the file. A sample that cannot be read or preprocessed, has a
    label outside the classes or repeats a name is skipped and reported (``strict``: the run fails on it).
    ``info`` adds keys to dataset.json. Rows keep the order of ``items``, whatever the number of workers.
    Without ``splits`` the one benchmark is ``all``: every sample trains (pretraining only).
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    if not items:
        raise DatasetError(f"{out_dir}: nothing to prepare (no input samples)")
    preprocessing = preprocessing.for_layout(layout)
    samples: list[Sample] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()

    def reject(source: str, problem: str) -> None:
        if strict:
            raise DatasetError(problem)
        skipped.append((source, problem))

    with _staging_directory(out_dir) as staging:
        rows = _RowWriter(staging / "data.npy", (3, preprocessing.frames, layout.num_joints, preprocessing.persons))
        try:
            with tqdm(total=len(items), unit=unit, disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar:
                for results in _converted(items, read, layout, preprocessing, workers):
                    for ok, sample, row in results:
                        if not ok:
                            reject(sample, row)
                        elif not 0 <= sample.label < len(class_names):
                            reject(sample.name, f"{sample.name}: label {sample.label} outside 0..{len(class_names) - 1}"
                                                f" (0-based, {len(class_names)} classes)")
                        elif sample.name in seen:
                            reject(sample.name, f"{sample.name}: duplicate sample name")
                        else:
                            seen.add(sample.name)
                            samples.append(sample)
                            rows.append(row)
                    bar.update(1)
        finally:
            rows.close()
        if not samples:
            raise DatasetError(f"{out_dir}: no usable samples ({len(skipped)} skipped; first: {skipped[0][1]})")
        with (staging / "samples.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(SAMPLE_COLUMNS)
            for i, s in enumerate(samples):
                writer.writerow([i, s.name, s.label, s.subject, s.view, s.frames])
        with (staging / "skipped.csv").open("w", newline="") as f:
            csv.writer(f).writerows([("source", "problem"), *skipped])
        benchmarks = {}
        for benchmark, rule in (splits or {"all": lambda sample: "train"}).items():
            parts = [rule(s) for s in samples]
            benchmarks[benchmark] = {part: [i for i, p in enumerate(parts) if p == part] for part in ("train", "test")}
        (staging / "splits.json").write_text(json.dumps(benchmarks))
        (staging / "dataset.json").write_text(json.dumps({
            "name": name, "layout": layout.name, "num_classes": len(class_names), "class_names": list(class_names),
            "preprocessing": preprocessing.to_dict(), "skipped": len(skipped), "format_version": FORMAT_VERSION,
            **(info or {}),
        }, indent=2))
    return PrepareReport(out_dir, len(samples), skipped, info or {})
