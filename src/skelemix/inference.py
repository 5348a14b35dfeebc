"""Using a trained model on new data: backbone features (``skelemix embed``) and class predictions
(``skelemix predict``).

Inputs are prepared dataset directories (every sample, already preprocessed), raw files the prepare command
reads one at a time (NTU ``.skeleton``, NW-UCLA ``.json``) or OpenPose output (a folder of per-frame JSON files, or
a folder of such folders; its joints mapped to the model's layout, e.g. BODY_25 -> COCO-17), which are preprocessed
exactly as the model's training data was: the classifier file records that preprocessing; for a pretraining
checkpoint it is read from
the pretraining dataset's ``dataset.json`` (the paper's defaults if that dataset is not on this machine).

Example:
    >>> names, features = embed("runs/ucla", ["a01_s01_e00_v01.json"])                         # doctest: +SKIP
    >>> predict("runs/ucla/evaluation/linear-classifier.pt", ["a01_s01_e00_v01.json"], top_k=3)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .data.format import DatasetError, PreparedDataset
from .data.ntu import read_ntu_file
from .data.nw_ucla import read_nw_ucla_file
from .data.openpose import clip_folders, read_openpose_clip
from .data.preprocess import Preprocessing, preprocess
from .evaluation.classifier import load_classifier
from .evaluation.features import load_pretrained
from .layouts import SkeletonLayout, get_layout, map_joints

RAW_READERS = {".skeleton": ("ntu25", read_ntu_file), ".json": ("kinect_v1", read_nw_ucla_file)}


def load_inputs(paths: list[str | Path], layout: SkeletonLayout, preprocessing: Preprocessing
                ) -> tuple[list[str], torch.Tensor]:
    """Sample names and model inputs (N, 3, T, V, M) of prepared dataset directories and raw files."""
    names, arrays = [], []
    for path in map(Path, paths):
        if path.is_dir() and not (path / "dataset.json").is_file():
            for folder in clip_folders(path):
                bodies, model, _ = read_openpose_clip(folder, persons=preprocessing.persons)
                try:
                    arrays.append(preprocess(map_joints(bodies, model, layout.name), layout, preprocessing)[None])
                except ValueError as error:
                    raise DatasetError(f"{folder}: {error} (the model's layout is {layout.name})") from None
                names.append(folder.name)
            continue
        if path.is_dir():
            prepared = PreparedDataset(path)
            if prepared.layout.name != layout.name:
                raise DatasetError(f"{path}: layout {prepared.layout.name}, but the model's is {layout.name}")
            names += [s.name for s in prepared.samples]
            arrays.append(np.asarray(prepared.data, dtype=np.float32))
            continue
        if path.suffix not in RAW_READERS:
            raise DatasetError(f"{path}: not a prepared dataset directory nor a raw file skelemix reads "
                               f"({', '.join(RAW_READERS)})")
        layout_name, read = RAW_READERS[path.suffix]
        if layout_name != layout.name:
            raise DatasetError(f"{path}: a {layout_name} file, but the model's layout is {layout.name}")
        for sample, bodies in read(path):
            try:
                arrays.append(preprocess(bodies, layout, preprocessing)[None])
            except ValueError as error:
                raise DatasetError(f"{path}: {error}") from None
            names.append(sample.name)
    if not arrays:
        raise DatasetError("no input samples")
    return names, torch.from_numpy(np.concatenate(arrays))


@torch.inference_mode()
def _batched(function, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    return torch.cat([function(block) for block in x.split(batch_size)])


def embed(checkpoint: str | Path, inputs: list[str | Path]) -> tuple[list[str], np.ndarray]:
    """Clean backbone features (N, D) of the pretraining checkpoint's encoder for every input sample."""
    model = load_pretrained(checkpoint)
    try:
        preprocessing = Preprocessing(**PreparedDataset(model.config.data.path).info["preprocessing"])
    except (DatasetError, TypeError, KeyError):
        preprocessing = Preprocessing(persons=2 if model.layout.name == "ntu25" else 1)
    names, x = load_inputs(inputs, model.layout, preprocessing)
    return names, _batched(model.embed, x).numpy()


def predict(classifier_file: str | Path, inputs: list[str | Path], top_k: int = 5) -> list[dict]:
    """[{"name", "top": [{"class", "label", "probability"}, ...]}] for every input sample, most probable first."""
    classifier, info = load_classifier(classifier_file)
    names, x = load_inputs(inputs, get_layout(info["layout"]), Preprocessing(**info["preprocessing"]))
    probabilities = _batched(lambda block: classifier(block).softmax(dim=1), x)
    k = min(top_k, probabilities.shape[1])
    values, labels = probabilities.topk(k, dim=1)
    return [{"name": name, "top": [{"class": info["class_names"][int(c)], "label": int(c), "probability": float(p)}
                                   for p, c in zip(row_values, row_labels)]}
            for name, row_values, row_labels in zip(names, values, labels)]
