"""A trained action classifier (encoder + linear head), as linear, finetune and semi evaluation leave it, and
its file, which ``skelemix predict`` reads.

Input (N, C, T, V, M) joint coordinates -> stream -> encoder features (N, D) -> standardised with the training
features' mean and standard deviation (linear evaluation; 0 and 1 after finetuning) -> logits (N, classes).

The file (``RUN/evaluation/<protocol>-classifier.pt``) holds plain containers and tensors only and is read with
``weights_only=True``: the encoder and head weights, the config (encoder, stream), layout, class names and the
preprocessing of the data the classifier was trained on, so a raw file can be prepared the same way.

Example:
    >>> classifier, info = load_classifier("runs/ucla/evaluation/linear-classifier.pt")   # doctest: +SKIP
    >>> classifier(x).softmax(dim=1)                                                     # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..checkpoints import FORMAT_VERSION, READABLE_FORMATS, CheckpointError, load_file, upgrade_state_dict
from ..config import Config, ConfigError, config_from_dict
from ..data.streams import to_stream
from ..files import atomic_file
from ..layouts import SkeletonLayout, get_layout
from ..models import STGCN

FORMAT = "skelemix-classifier"


class Classifier(nn.Module):
    def __init__(self, encoder: STGCN, layout: SkeletonLayout, stream: str, num_classes: int):
        super().__init__()
        self.encoder, self.layout, self.stream = encoder, layout, stream
        self.head = nn.Linear(encoder.out_channels, num_classes)
        self.register_buffer("mean", torch.zeros(encoder.out_channels))
        self.register_buffer("std", torch.ones(encoder.out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, T, V, M) joint coordinates -> (N, classes) logits."""
        features = self.encoder(to_stream(x, self.stream, self.layout))
        return self.head((features - self.mean) / self.std)


def save_classifier(path: Path, classifier: Classifier, kind: str, config: Config, class_names: list[str],
                    preprocessing: dict) -> Path:
    state = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, "config": config.to_dict(),
             "layout": classifier.layout.name, "class_names": list(class_names), "preprocessing": preprocessing,
             "state_dict": {k: v.detach().cpu() for k, v in classifier.state_dict().items()}}
    with atomic_file(path) as temporary:
        torch.save(state, temporary)
    return path


def is_classifier(path: str | Path) -> bool:
    """Whether ``path`` holds a classifier (a classifier file of an evaluation, or a classifier model folder) rather
    than a pretrained encoder."""
    from ..model_folder import CONFIG, is_model_folder

    path = Path(path)
    if path.is_dir():
        try:
            return is_model_folder(path) and json.loads((path / CONFIG).read_text()).get("kind") == "classifier"
        except (OSError, ValueError):
            return False  # reading it as a model folder says what is wrong
    try:
        state = load_file(path, "file")
    except CheckpointError:
        return False
    return isinstance(state, dict) and state.get("format") == FORMAT


def load_classifier(path: str | Path) -> tuple[Classifier, dict]:
    """The classifier saved at ``path`` (a classifier file, or a classifier model folder; eval mode) and its file's
    other entries (layout, class names, preprocessing, kind, config)."""
    from ..model_folder import is_model_folder, load_weights, read_model_folder

    path = Path(path)
    if path.is_dir() and is_model_folder(path):
        card, tensors = read_model_folder(path)
        if card["kind"] != "classifier":
            raise CheckpointError(f"{path}: an {card['kind']} model folder; predict needs a classifier (export one "
                                  f"from evaluation/<protocol>-classifier.pt)")
        config = config_from_dict(card["config"], where=str(path / "config.json"))
        layout = get_layout(card["layout"])
        classifier = Classifier(STGCN.from_config(layout, config.encoder), layout, config.data.stream,
                                len(card["class_names"]))
        missing = load_weights(classifier, tensors, path)
        if missing:
            raise CheckpointError(f"{path}: model.safetensors lacks {missing[0]}, which the classifier needs")
        return classifier.eval(), {"layout": card["layout"], "class_names": card["class_names"],
                                   "preprocessing": card["preprocessing"], "kind": card["classifier"],
                                   "config": card["config"]}
    if not path.is_file():
        raise CheckpointError(f"{path}: no such classifier file")
    state = load_file(path, "classifier file")
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a skelemix classifier (written by linear, finetune or semi "
                              f"evaluation as evaluation/<protocol>-classifier.pt)")
    if state.get("format_version") not in READABLE_FORMATS:
        raise CheckpointError(f"{path}: classifier format {state.get('format_version')}, this version reads "
                              f"{', '.join(map(str, READABLE_FORMATS))}")
    try:
        config = config_from_dict(state["config"], where=str(path))
    except ConfigError as error:
        raise CheckpointError(f"{path}: incompatible config ({error})") from None
    layout = get_layout(state["layout"])
    classifier = Classifier(STGCN.from_config(layout, config.encoder), layout, config.data.stream, len(state["class_names"]))
    classifier.load_state_dict(upgrade_state_dict(state["state_dict"], state["format_version"]))
    return classifier.eval(), state
