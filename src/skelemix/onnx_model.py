"""ONNX export of a trained model, and running an exported one with onnxruntime (``pip install "skelemix[onnx]"``).

``export_onnx(SOURCE, OUT)`` writes one of two graphs, both taking joint coordinates ``joints`` (N, 3, T, V, M)
float32, batch, frames and persons dynamic (T a multiple of 4, the encoder's temporal stride), the stream conversion
(motion, bone) inside the graph:

- from a pretraining run or checkpoint: ``features`` (N, D), the clean backbone features ``skelemix embed`` gives;
- from a classifier file of ``evaluate linear/finetune/semi``: ``probabilities`` (N, classes), its softmax.

The model's metadata (``metadata_props``, key ``skelemix``) holds as JSON what a user of the file needs to prepare
raw input as the model's training data was: kind, layout, stream, frames, preprocessing, class names, skelemix's
version. ``OnnxModel`` reads it back and runs the graph on onnxruntime's CPU provider.

Example:
    >>> export_onnx("runs/ucla/evaluation/linear-classifier.pt", "ucla.onnx")   # doctest: +SKIP
    >>> model = OnnxModel("ucla.onnx"); model.info["class_names"][:2]          # doctest: +SKIP
    ['pick up with one hand', 'pick up with two hands']
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoints import CheckpointError
from .files import atomic_file
from .layouts import get_layout

METADATA_KEY = "skelemix"
KINDS = {"features": "features", "classifier": "probabilities"}  # kind -> the graph's output name


class Probabilities(nn.Module):
    """A classifier with its softmax: what an exported classifier computes."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, joints: torch.Tensor) -> torch.Tensor:
        return self.classifier(joints).softmax(dim=1)


class _Features(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, joints: torch.Tensor) -> torch.Tensor:
        return self.model.embed(joints)


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise ImportError(f"{module} is not installed: pip install \"skelemix[onnx]\"") from None


def export_onnx(source: str | Path, out: str | Path) -> dict:
    """Write ``source`` (a run directory, pretraining checkpoint or classifier file) as an ONNX model at ``out``,
    checked by the onnx checker; returns the metadata it records."""
    from . import __version__
    from .evaluation.classifier import is_classifier, load_classifier
    from .evaluation.features import load_pretrained

    source = Path(source)
    if is_classifier(source):
        classifier, state = load_classifier(source)
        module, kind, frames = Probabilities(classifier), "classifier", state["preprocessing"].get("frames", 64)
        info = {"layout": state["layout"], "stream": classifier.stream, "class_names": state["class_names"],
                "preprocessing": state["preprocessing"], "classifier": state["kind"]}
    else:
        from .inference import pretraining_preprocessing

        model = load_pretrained(source)
        preprocessing = pretraining_preprocessing(model, source)
        module, kind, frames = _Features(model), "features", preprocessing.frames
        info = {"layout": model.layout.name, "stream": model.config.data.stream, "class_names": None,
                "preprocessing": preprocessing.to_dict(), "method": model.config.method.name}
    example = torch.zeros(2, 3, frames, get_layout(info["layout"]).num_joints, info["preprocessing"].get("persons", 1))
    metadata = {"kind": kind, "frames": frames, "input": "joints (N, 3, T, V, M) float32, T a multiple of 4",
                "output": f"{KINDS[kind]} (N, {'classes' if kind == 'classifier' else 'D'})", **info,
                "skelemix_version": __version__}
    write_onnx(module, example, Path(out), metadata)
    return metadata


def write_onnx(module: nn.Module, example: torch.Tensor, out: Path, metadata: dict) -> None:
    """Trace ``module`` on ``example`` (N, 3, T, V, M) into ``out`` (batch, frames and persons dynamic) with
    ``metadata`` under the key ``skelemix``, and run the onnx checker on it."""
    onnx = _require("onnx")
    output = KINDS[metadata["kind"]]
    with torch.no_grad(), warnings.catch_warnings(), atomic_file(out) as temporary:
        warnings.simplefilter("ignore")  # the tracer's notes on shape checks that hold for every valid input
        torch.onnx.export(module.eval(), (example,), str(temporary), input_names=["joints"], output_names=[output],
                          dynamic_axes={"joints": {0: "batch", 2: "frames", 4: "persons"}, output: {0: "batch"}},
                          dynamo=False)
        graph = onnx.load(str(temporary))
        graph.metadata_props.add(key=METADATA_KEY, value=json.dumps(metadata))
        onnx.checker.check_model(graph, full_check=True)
        onnx.save(graph, str(temporary))


class OnnxModel:
    """An exported skelemix model on onnxruntime: ``info`` (the metadata), ``__call__`` on (N, 3, T, V, M)."""

    def __init__(self, path: str | Path, threads: int | None = None):
        ort = _require("onnxruntime")
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such ONNX model")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own types for damaged or foreign files
            raise CheckpointError(f"{path}: not a readable ONNX model ({str(error).splitlines()[0]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise CheckpointError(f"{path}: an ONNX model not exported by skelemix (no {METADATA_KEY} metadata)")
        self.info = json.loads(meta[METADATA_KEY])
        self.path = path

    def __call__(self, joints: torch.Tensor) -> torch.Tensor:
        """(N, 3, T, V, M) -> the graph's output (N, D or classes), as a torch tensor."""
        (output,) = self.session.run(None, {"joints": np.ascontiguousarray(joints.numpy(), dtype=np.float32)})
        return torch.from_numpy(output)
