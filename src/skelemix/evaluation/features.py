"""Loading pretrained encoders and extracting clean backbone features.

Features are the encoder's pooled output (N, out_channels) on un-augmented sequences in eval mode (the
reference code ran kNN on test-time-augmented projection-head outputs; we do not).

Example:
    >>> model = load_pretrained("runs/nw-ucla/checkpoints/last.ckpt")          # doctest: +SKIP
    >>> features, labels = extract_features(model, loader)                     # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from ..checkpoints import CheckpointError, checkpoint_path, read_checkpoint
from ..config import Config, ConfigError, config_from_dict
from ..methods import METHODS, SkeletonCLR
from ..model_folder import PREFIXES, WEIGHTS, load_weights, read_model_folder
from ..runtime import autocast, resolve_accelerator


def load_pretrained(path: str | Path, map_location: str = "cpu") -> SkeletonCLR:
    """The pretraining module saved in a checkpoint (or run directory, or model folder), in eval mode."""
    path = checkpoint_path(path)
    if path.name == WEIGHTS:
        return _from_model_folder(path.parent)
    state = read_checkpoint(path, map_location)
    hyper = state["hyper_parameters"]
    if "config" not in hyper or "layout" not in hyper:
        raise CheckpointError(f"{path}: not a skelemix pretraining checkpoint (no config and layout inside)")
    try:
        config = config_from_dict(hyper["config"], where=str(path))
    except ConfigError as error:
        raise CheckpointError(f"{path}: incompatible config ({error})") from None
    model = METHODS[config.method.name](config, hyper["layout"])
    missing, unexpected = model.load_state_dict(state["state_dict"], strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not match the model (missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]})")
    return model.eval()


def _from_model_folder(folder: Path) -> SkeletonCLR:
    """An encoder model folder as a pretraining module; the key side, not in the folder, a copy of the query side."""
    card, tensors = read_model_folder(folder)
    if card["kind"] != "encoder":
        raise CheckpointError(f"{folder}: a {card['kind']} model folder; use it with skelemix predict")
    try:
        config = config_from_dict(card["config"], where=str(folder / "config.json"))
    except ConfigError as error:
        raise CheckpointError(f"{folder}: incompatible config ({error})") from None
    model = METHODS[config.method.name](config, card["layout"])
    missing = load_weights(model, tensors, folder)
    needed = [k for k in missing if k.startswith(PREFIXES["encoder"])]
    if needed:
        raise CheckpointError(f"{folder}: {WEIGHTS} lacks {needed[0]}, which the network of config.json needs")
    model.key_encoder.load_state_dict(model.encoder.state_dict())
    model.key_projector.load_state_dict(model.projector.state_dict())
    return model.eval()


def random_init(config: Config, layout: str, seed: int = 0) -> SkeletonCLR:
    """The same architecture with fresh weights: the reference every result is compared with."""
    L.seed_everything(seed, verbose=False)
    return METHODS[config.method.name](config, layout).eval()


@torch.inference_mode()
def map_batches(function, loader, accelerator: str = "auto", precision: str = "32-true"
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """function(x) float32 for every batch (x, label, index) of ``loader``, concatenated, and the labels (N,).

    ``function`` runs on the resolved device under the precision's autocast; modules it uses must be there.
    """
    device = torch.device(resolve_accelerator(accelerator))
    outputs, labels = [], []
    for x, y, _ in loader:
        with autocast(device.type, precision):
            outputs.append(function(x.to(device)).float().cpu())
        labels.append(y)
    return torch.cat(outputs), torch.cat(labels)


def extract_features(model: SkeletonCLR, loader, accelerator: str = "auto", precision: str = "32-true"
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Backbone features (N, out_channels) float32 and labels (N,) of every sample of ``loader``."""
    model.to(resolve_accelerator(accelerator)).eval()
    return map_batches(model.embed, loader, accelerator, precision)
