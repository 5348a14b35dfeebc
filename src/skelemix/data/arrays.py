"""Datasets held as arrays: the CrosSCLR / AimCLR / SkeleMixCLR ``.npy`` + ``.pkl`` pair and numpy ``.npz``.

CrosSCLR-style code stores one split as ``train_data_joint.npy`` (N, C=3, T, V=25, M=2), zero-padded in time,
and ``train_label.pkl`` = (sample names, labels). A numpy ``.npz`` holds ``data`` (N, T, V, C) or
(N, M, T, V, C), ``labels`` (0-based) and optionally ``names``, ``subjects``, ``views``, ``frames``,
``class_names`` and ``split_<benchmark>`` (per sample 1 train, 0 test, -1 unused), as
:func:`export_numpy` writes them. C is 3, or 2 for a 2D layout (the score channel is then set to 1).
The valid frames of a sample are its frames with a non-zero body.

Example:
    >>> prepare_crossclr("train_data_joint.npy", "train_label.pkl", "prepared/ntu60-xsub",
    ...                  test_data="val_data_joint.npy", test_labels="val_label.pkl")   # doctest: +SKIP
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..files import atomic_file
from ..layouts import get_layout
from .foreign import SampleArray, class_names_for, load_pickle, read_entry, subject_and_view
from .format import DatasetError, PreparedDataset, PrepareReport, write_prepared
from .preprocess import Preprocessing

SPLIT_PREFIX = "split_"


def _load_array(path: Path, **kwargs):
    try:
        return np.load(path, allow_pickle=False, **kwargs)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError) as error:
        raise DatasetError(f"{path}: not a readable numpy file ({error})") from None


def _crossclr_array(data_path: Path, label_path: Path, part: str) -> SampleArray:
    data = _load_array(data_path, mmap_mode="r")
    if data.ndim != 5 or data.shape[1] not in (2, 3):
        raise DatasetError(f"{data_path}: shape {data.shape} is not (N, C, T, V, M)")
    content = load_pickle(label_path)
    if not isinstance(content, (tuple, list)) or len(content) != 2:
        raise DatasetError(f"{label_path}: expected a (sample names, labels) pair")
    names, labels = [str(n).removesuffix(".skeleton") for n in content[0]], np.asarray(content[1])
    subjects, views = zip(*map(subject_and_view, names)) if names else ((), ())
    return SampleArray(data_path, data.transpose(0, 4, 2, 3, 1), names, labels, np.array(subjects), np.array(views),
                       part=part)


def _write_arrays(out_dir, name: str, layout: str, arrays: list[SampleArray], class_names, rules: dict,
                  preprocessing: Preprocessing, options: dict) -> PrepareReport:
    names = [n for a in arrays for n in a.names]
    if class_names is None:
        class_names = class_names_for(np.concatenate([a.labels for a in arrays]).astype(np.int64), names)
    return write_prepared(out_dir, name=name, layout=get_layout(layout), class_names=[str(c) for c in class_names],
                          items=[e for a in arrays for e in a.entries()], read=read_entry,
                          preprocessing=preprocessing, splits=rules, unit="sample", **{**options, "workers": 0})


def prepare_crossclr(data: str | Path, labels: str | Path, out_dir: str | Path, test_data: str | Path | None = None,
                     test_labels: str | Path | None = None, benchmark: str = "xsub", layout: str = "ntu25",
                     preprocessing: Preprocessing = Preprocessing(), **options) -> PrepareReport:
    """One CrosSCLR split pair (and optionally the test pair) -> a prepared dataset with ``benchmark``."""
    if (test_data is None) != (test_labels is None):
        raise ValueError("give both the test data and the test labels, or neither")
    arrays = [_crossclr_array(Path(data), Path(labels), "train")]
    if test_data is not None:
        arrays.append(_crossclr_array(Path(test_data), Path(test_labels), "test"))
    part_of = {n: a.part for a in reversed(arrays) for n in a.names}
    return _write_arrays(out_dir, Path(data).stem, layout, arrays, None,
                         {benchmark: lambda s: part_of.get(s.name)}, preprocessing, options)


def prepare_numpy(npz_path: str | Path, out_dir: str | Path, layout: str = "ntu25",
                  train_subjects: list[int] | None = None, train_views: list[int] | None = None,
                  preprocessing: Preprocessing = Preprocessing(), **options) -> PrepareReport:
    """A numpy .npz (see the module docstring) -> a prepared dataset.

    Benchmarks: each ``split_<name>`` array, ``xsub`` from ``train_subjects``, ``xview`` from ``train_views``;
    with none of them, ``all`` (every sample trains, none tests: pretraining only).
    """
    path = Path(npz_path)
    try:
        with _load_array(path) as content:
            arrays = {key: content[key] for key in content.files}
    except DatasetError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, AttributeError) as error:
        raise DatasetError(f"{path}: not a readable .npz file ({error})") from None
    for key in ("data", "labels"):
        if key not in arrays:
            raise DatasetError(f"{path}: missing array {key!r} (it has {', '.join(sorted(arrays)) or 'none'})")
    data = arrays["data"]
    if data.ndim == 4:
        data = data[:, None]
    if data.ndim != 5:
        raise DatasetError(f"{path}: data has shape {data.shape}, expected (N, T, V, C) or (N, M, T, V, C)")
    n = len(data)
    names = [str(x) for x in arrays["names"]] if "names" in arrays else [f"sample{i:06d}" for i in range(n)]
    zeros = np.zeros(n, dtype=np.int64)
    array = SampleArray(path, data, names, arrays["labels"], arrays.get("subjects", zeros), arrays.get("views", zeros),
                        frames=arrays.get("frames"))
    rules = {}
    for key, values in arrays.items():
        if key.startswith(SPLIT_PREFIX):
            if len(values) != n:
                raise DatasetError(f"{path}: {key} has {len(values)} entries for {n} samples")
            part_of = dict(zip(names, values.tolist()))
            rules[key.removeprefix(SPLIT_PREFIX)] = (
                lambda s, part_of=part_of: {1: "train", 0: "test"}.get(part_of.get(s.name)))
    if train_subjects:
        rules["xsub"] = lambda s: "train" if s.subject in train_subjects else "test"
    if train_views:
        rules["xview"] = lambda s: "train" if s.view in train_views else "test"
    class_names = [str(c) for c in arrays["class_names"]] if "class_names" in arrays else None
    return _write_arrays(out_dir, path.stem, layout, [array], class_names, rules, preprocessing, options)


def export_numpy(prepared_dir: str | Path, out_path: str | Path) -> Path:
    """Write a prepared dataset as an .npz that :func:`prepare_numpy` reads back unchanged (atomically)."""
    prepared = PreparedDataset(prepared_dir)
    out_path = Path(out_path)
    if out_path.suffix != ".npz":
        raise ValueError(f"{out_path}: the output must end in .npz")
    splits = {}
    for benchmark, parts in prepared.splits.items():
        membership = np.full(len(prepared), -1, dtype=np.int8)
        membership[parts["train"]], membership[parts["test"]] = 1, 0
        splits[SPLIT_PREFIX + benchmark] = membership
    with atomic_file(out_path) as temporary, temporary.open("wb") as f:
        np.savez(f, data=prepared.data.transpose(0, 4, 2, 3, 1), labels=prepared.labels,
                 names=np.array([s.name for s in prepared.samples]),
                 subjects=np.array([s.subject for s in prepared.samples]),
                 views=np.array([s.view for s in prepared.samples]),
                 frames=np.array([s.frames for s in prepared.samples]),
                 class_names=np.array(prepared.class_names), **splits)
    return out_path
