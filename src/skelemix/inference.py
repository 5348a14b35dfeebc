"""Using a trained model on new data: backbone features (``skelemix embed``) and class predictions
(``skelemix predict``).

Inputs are prepared dataset directories (every sample, already preprocessed), raw files the prepare command
reads one at a time (NTU ``.skeleton``, NW-UCLA ``.json``) or recordings of pose estimators and cameras (OpenPose
folders, MediaPipe, MoveNet or MMPose JSON, MediaPipe or Kinect CSV: ``data.clips``; their joints mapped to the
model's layout, e.g. BODY_25 -> COCO-17), which are preprocessed
exactly as the model's training data was: the classifier file records that preprocessing; for a pretraining
checkpoint it is read from
the pretraining dataset's ``dataset.json`` (the paper's defaults if that dataset is not on this machine).

Example:
    >>> names, features = embed("runs/ucla", ["a01_s01_e00_v01.json"])                         # doctest: +SKIP
    >>> predict("runs/ucla/evaluation/linear-classifier.pt", ["a01_s01_e00_v01.json"], top_k=3)  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .data.format import DatasetError, PreparedDataset
from .data.ntu import read_ntu_file
from .data.nw_ucla import NAME_PATTERN as NW_UCLA_NAME
from .data.nw_ucla import read_nw_ucla_file
from .data.clips import FORMATS, clip_name, detect_format, read_clip
from .data.preprocess import Preprocessing, preprocess
from .evaluation.classifier import load_classifier
from .evaluation.features import load_pretrained
from .files import atomic_file
from .layouts import SkeletonLayout, get_layout, map_joints

RAW_READERS = {".skeleton": ("ntu25", read_ntu_file), ".json": ("kinect_v1", read_nw_ucla_file)}


def windows(frames: int, window: int, stride: int) -> list[int]:
    """Start frames of the ``window``-frame windows ``stride`` apart that fit in ``frames`` (one from 0 if none fits).

    >>> windows(100, 40, 30)
    [0, 30, 60]
    """
    return list(range(0, max(frames - window, 0) + 1, stride))


def model_input(bodies: np.ndarray, layout: SkeletonLayout, preprocessing: Preprocessing, where) -> np.ndarray:
    """Bodies (M, T, V, 3) in the model's layout -> one model input (3, T', V, M'), preprocessed as its training data;
    DatasetError names ``where``."""
    try:
        return preprocess(bodies, layout, preprocessing)
    except ValueError as error:
        raise DatasetError(f"{where}: {error} (the model's layout is {layout.name})") from None


def load_inputs(paths: list[str | Path], layout: SkeletonLayout, preprocessing: Preprocessing,
                window: int | None = None, stride: int | None = None) -> tuple[list[str], torch.Tensor]:
    """Sample names and model inputs (N, 3, T, V, M) of prepared dataset directories, raw dataset files and
    recordings of pose estimators and cameras (``data.clips``; a folder of OpenPose clips gives one sample each).

    ``window``: cut each raw sequence into windows of that many frames, ``stride`` (default: ``window``) apart, each
    preprocessed as a sample of its own and named ``<name>@<first frame>`` (long recordings, several actions)."""
    if window is not None and (window < 1 or (stride or window) < 1):
        raise ValueError(f"window and stride must be positive frame counts, got {window} and {stride}")
    names, arrays = [], []

    def add(name: str, bodies: np.ndarray, where: Path) -> None:  # bodies (M, T, V, 3)
        starts = windows(bodies.shape[1], window, stride or window) if window else [None]
        for start in starts:
            part = bodies if start is None else bodies[:, start:start + window]
            arrays.append(model_input(part, layout, preprocessing, where)[None])
            names.append(name if start is None else f"{name}@{start}")

    for path in map(Path, paths):
        if (path / "dataset.json").is_file():
            if window:
                raise DatasetError(f"{path}: a prepared dataset is already resized; windows apply to raw files")
            prepared = PreparedDataset(path)
            if prepared.layout.name != layout.name:
                raise DatasetError(f"{path}: layout {prepared.layout.name}, but the model's is {layout.name}")
            names += [s.name for s in prepared.samples]
            arrays.append(np.asarray(prepared.data, dtype=np.float32))
        elif path.suffix == ".skeleton" or NW_UCLA_NAME.fullmatch(path.stem):
            layout_name, read = RAW_READERS[path.suffix]
            if layout_name != layout.name:
                raise DatasetError(f"{path}: a {layout_name} file, but the model's layout is {layout.name}")
            for sample, bodies in read(path):
                add(sample.name, bodies, path)
        elif not path.exists():
            raise DatasetError(f"{path}: no such file or directory")
        else:
            clip_format = detect_format(path)
            for clip_path in FORMATS[clip_format].find(path):
                clip = read_clip(clip_path, preprocessing.persons, clip_format)
                try:
                    bodies = map_joints(clip.bodies, clip.layout, layout.name)
                except ValueError as error:
                    raise DatasetError(f"{clip_path}: {error}") from None
                add(clip_name(clip_path), bodies, clip_path)
    if not arrays:
        raise DatasetError("no input samples")
    return names, torch.from_numpy(np.concatenate(arrays))


@torch.inference_mode()
def _batched(function, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    return torch.cat([function(block) for block in x.split(batch_size)])


def pretraining_preprocessing(model, source: str | Path | None = None) -> Preprocessing:
    """The preprocessing of a pretrained model's data: the one a model folder ``source`` records, else its pretraining
    dataset's (the paper's defaults if that dataset is not here)."""
    from .model_folder import CONFIG, is_model_folder

    if source is not None and is_model_folder(source):
        return Preprocessing(**json.loads((Path(source) / CONFIG).read_text())["preprocessing"])
    try:
        return Preprocessing(**PreparedDataset(model.config.data.target, verify=False).info["preprocessing"])
    except (DatasetError, TypeError, KeyError):
        return Preprocessing(persons=2 if model.layout.name == "ntu25" else 1)


def _onnx(path: Path, kind: str):
    """The ONNX model at ``path`` if it is one (None otherwise); an error if it is of the other kind."""
    if path.suffix.lower() != ".onnx":
        return None
    from .onnx_model import OnnxModel

    model = OnnxModel(path)
    if model.info["kind"] != kind:
        command = {"features": "embed", "classifier": "predict"}[model.info["kind"]]
        raise ValueError(f"{path}: an exported {model.info['kind']} model; use it with skelemix {command}")
    return model


def embed(checkpoint: str | Path, inputs: list[str | Path], window: int | None = None, stride: int | None = None
          ) -> tuple[list[str], np.ndarray]:
    """Clean backbone features (N, D) of the pretraining checkpoint's encoder, or of an exported ``features`` ONNX
    model (run on onnxruntime), for every input sample (or window)."""
    exported = _onnx(Path(checkpoint), "features")
    if exported is not None:
        layout, preprocessing, function = (get_layout(exported.info["layout"]),
                                           Preprocessing(**exported.info["preprocessing"]), exported)
    else:
        model = load_pretrained(checkpoint)
        layout, preprocessing, function = model.layout, pretraining_preprocessing(model, checkpoint), model.embed
    names, x = load_inputs(inputs, layout, preprocessing, window, stride)
    return names, _batched(function, x).numpy()


def save_embeddings(out: str | Path, names: list[str], features: np.ndarray) -> Path:
    """Write features (N, D) to the .npy ``out`` (atomically) and their names, a line each, to the .txt beside it;
    returns the names file."""
    out = Path(out)
    with atomic_file(out) as temporary:
        with temporary.open("wb") as f:
            np.save(f, features)
    names_file = out.with_suffix(".txt")
    names_file.write_text("\n".join(names) + "\n")
    return names_file


def load_predictor(classifier_file: str | Path) -> tuple[dict, Callable[[torch.Tensor], torch.Tensor]]:
    """The classifier file of an evaluation, or an exported ``classifier`` ONNX model (run on onnxruntime): its info
    (layout, preprocessing, class names) and the function inputs (N, 3, T, V, M) -> probabilities (N, classes)."""
    exported = _onnx(Path(classifier_file), "classifier")
    if exported is not None:
        return exported.info, exported
    classifier, info = load_classifier(classifier_file)
    return info, lambda block: classifier(block).softmax(dim=1)


def top_classes(probabilities: torch.Tensor, info: dict, top_k: int) -> list[list[dict]]:
    """Probabilities (N, classes) -> per sample, the ``top_k`` [{"class", "label", "probability"}], most probable
    first."""
    values, labels = probabilities.topk(min(top_k, probabilities.shape[1]), dim=1)
    return [[{"class": info["class_names"][int(c)], "label": int(c), "probability": float(p)}
             for p, c in zip(row_values, row_labels)] for row_values, row_labels in zip(values, labels)]


def predict(classifier_file: str | Path, inputs: list[str | Path], top_k: int = 5, window: int | None = None,
            stride: int | None = None) -> list[dict]:
    """[{"name", "top": [{"class", "label", "probability"}, ...]}] for every input sample, most probable first; the
    classifier file of an evaluation, or an exported ``classifier`` ONNX model (run on onnxruntime)."""
    info, function = load_predictor(classifier_file)
    names, x = load_inputs(inputs, get_layout(info["layout"]), Preprocessing(**info["preprocessing"]), window, stride)
    return [{"name": name, "top": top} for name, top in zip(names, top_classes(_batched(function, x), info, top_k))]
