"""pyskl / mmaction2 skeleton annotation pickles, both ways.

An annotation file is a dict: ``split`` {"xsub_train": [frame_dir, ...], "xsub_val": [...], ...} and
``annotations`` [{"frame_dir", "label" (0-based), "keypoint" (M, T, V, C), optional "keypoint_score"
(M, T, V)}, ...]. 3D files (C=3, V=25) use the NTU layout; 2D files (C=2, V=17) the COCO-17 layout, with
the score as the third stored channel (1 where a file has no scores). Split names ``<benchmark>_train``
and ``<benchmark>_val`` / ``_test`` become benchmarks; plain ``train`` / ``val`` / ``test`` the benchmark
``default``. Optional top-level ``class_names`` and ``layout`` (written by :func:`export_pyskl`; pyskl
ignores them) are used when present. The file is read with the restricted unpickler of
:mod:`skelemix.data.foreign`.

pyskl keeps every sequence at its own length; a pickle holds the whole dataset, so loading it needs the
memory of the file (no streaming is possible for pickles).

Example:
    >>> prepare_pyskl("ntu60_3danno.pkl", "prepared/ntu60-pyskl")        # doctest: +SKIP
    >>> export_pyskl("prepared/ntu60-pyskl", "ntu60_skelemix.pkl")        # doctest: +SKIP
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..files import atomic_file
from ..layouts import SkeletonLayout, get_layout
from .foreign import class_names_for, load_pickle, subject_and_view
from .format import DatasetError, PreparedDataset, PrepareReport, RawSample, Sample, write_prepared
from .preprocess import Preprocessing, valid_frame_count

LAYOUT_BY_SHAPE = {(25, 3): "ntu25", (20, 3): "kinect_v1", (17, 2): "coco17"}


def _split_rules(path: Path, split: dict) -> dict:
    """pyskl's {"xsub_train": names, ...} -> {benchmark: {name: "train" | "test"}}."""
    benchmarks: dict[str, dict[str, str]] = {}
    for key, names in split.items():
        key = str(key)
        benchmark, _, part = key.rpartition("_") if "_" in key else ("default", "", key)
        if part not in ("train", "val", "test"):
            continue
        if not isinstance(names, (list, tuple)):
            raise DatasetError(f"{path}: split {key!r} is not a list of frame_dir names")
        benchmarks.setdefault(benchmark or "default", {}).update(
            {str(n): "train" if part == "train" else "test" for n in names})
    return benchmarks


class _Annotation:
    """One annotation as a preparation item; its text names the file and the entry."""

    def __init__(self, path: Path, index: int, record, layout: SkeletonLayout):
        self.path, self.index, self.record, self.layout = path, index, record, layout

    def __str__(self) -> str:
        name = self.record.get("frame_dir", "?") if isinstance(self.record, dict) else "?"
        return f"{self.path} [annotation {self.index}: {name}]"


def _read_annotation(item: _Annotation) -> list[RawSample]:
    record = item.record
    if not isinstance(record, dict):
        raise DatasetError(f"{item}: an annotation must be a dict")
    missing = [k for k in ("frame_dir", "label", "keypoint") if k not in record]
    if missing:
        raise DatasetError(f"{item}: missing key {', '.join(missing)}")
    keypoint = np.asarray(record["keypoint"], dtype=np.float64)
    if keypoint.ndim != 4:
        raise DatasetError(f"{item}: keypoint has shape {keypoint.shape}, expected (M, T, V, C)")
    if item.layout.spatial_channels == 2 and keypoint.shape[-1] == 2:
        score = record.get("keypoint_score")
        score = np.ones(keypoint.shape[:-1]) if score is None else np.asarray(score, dtype=np.float64)
        if score.shape != keypoint.shape[:-1]:
            raise DatasetError(f"{item}: keypoint_score has shape {score.shape}, expected {keypoint.shape[:-1]}")
        keypoint = np.concatenate([keypoint, score[..., None]], axis=-1)
    if keypoint.shape[-1] != 3:
        raise DatasetError(f"{item}: keypoint has {keypoint.shape[-1]} channels; layout {item.layout.name} "
                           f"needs {item.layout.spatial_channels}")
    name = str(record["frame_dir"])
    subject, view = record.get("subject"), record.get("view")
    if subject is None or view is None:
        subject, view = subject_and_view(name)
    frames = record.get("valid_frames", valid_frame_count(keypoint))
    try:
        sample = Sample(name, int(record["label"]), int(subject), int(view), int(frames))
    except (TypeError, ValueError) as error:
        raise DatasetError(f"{item}: label, subject or view is not an integer ({error})") from None
    return [(sample, keypoint)]


def prepare_pyskl(annotation_path: str | Path, out_dir: str | Path, layout: str | None = None,
                  preprocessing: Preprocessing = Preprocessing(), **options) -> PrepareReport:
    """Prepare a pyskl annotation pickle; the layout is taken from the keypoint shape unless given."""
    path = Path(annotation_path)
    content = load_pickle(path)
    if not isinstance(content, dict) or not isinstance(content.get("annotations"), list):
        raise DatasetError(f"{path}: not a pyskl annotation file (a dict with an 'annotations' list)")
    records = content["annotations"]
    if not records:
        raise DatasetError(f"{path}: the annotation list is empty")
    layout = layout or content.get("layout")
    if layout is None:
        first = records[0] if isinstance(records[0], dict) else {}
        shape = np.shape(first.get("keypoint", ()))[2:]
        if tuple(shape) not in LAYOUT_BY_SHAPE:
            raise DatasetError(f"{path}: cannot tell the layout from keypoints of (V, C) = {tuple(shape)}; "
                               f"give it (one of {', '.join(sorted(set(LAYOUT_BY_SHAPE.values())))})")
        layout = LAYOUT_BY_SHAPE[tuple(shape)]
    chosen = get_layout(layout)
    rules = _split_rules(path, content.get("split") or {})
    labels = [r.get("label", 0) for r in records if isinstance(r, dict)]
    names = [str(r.get("frame_dir", "")) for r in records if isinstance(r, dict)]
    class_names = content.get("class_names") or class_names_for(labels, names)
    return write_prepared(out_dir, name=path.stem, layout=chosen, class_names=[str(c) for c in class_names],
                          items=[_Annotation(path, i, r, chosen) for i, r in enumerate(records)],
                          read=_read_annotation, preprocessing=preprocessing, unit="sample",
                          splits={b: (lambda s, parts=parts: parts.get(s.name)) for b, parts in rules.items()},
                          **{**options, "workers": 0})


def export_pyskl(prepared_dir: str | Path, out_path: str | Path) -> Path:
    """Write a prepared dataset as a pyskl annotation pickle (atomically: a temporary file, then a rename).

    Keypoints are the prepared (resized, preprocessed) frames; ``subject``, ``view`` and ``valid_frames``
    ride along as extra keys pyskl ignores, so preparing the file again loses nothing.
    """
    prepared = PreparedDataset(prepared_dir)
    out_path = Path(out_path)
    two_d = prepared.layout.spatial_channels == 2
    annotations = []
    for i, sample in enumerate(prepared.samples):
        keypoint = np.ascontiguousarray(np.asarray(prepared.data[i]).transpose(3, 1, 2, 0))  # (M, T, V, 3)
        record = {"frame_dir": sample.name, "label": sample.label, "total_frames": keypoint.shape[1],
                  "subject": sample.subject, "view": sample.view, "valid_frames": sample.frames}
        if two_d:
            record.update(keypoint=keypoint[..., :2].copy(), keypoint_score=keypoint[..., 2].copy())
        else:
            record["keypoint"] = keypoint
        annotations.append(record)
    split = {}
    for benchmark, parts in prepared.splits.items():
        for part, indices in parts.items():
            split[f"{benchmark}_{'train' if part == 'train' else 'val'}"] = [prepared.samples[i].name for i in indices]
    with atomic_file(out_path) as temporary, temporary.open("wb") as f:
        pickle.dump({"split": split, "annotations": annotations, "class_names": prepared.class_names,
                     "layout": prepared.layout.name}, f, protocol=4)
    return out_path
