"""Pretraining checkpoints: the full state, written atomically, read safely, found again to resume a run.

A checkpoint is Lightning's (query and key encoders, projection heads, queue and its pointer; optimizer and
scheduler; epoch, step, loop and callback states) plus ``hyper_parameters`` (the resolved config, stream
included, and the layout) and ``skelemix``: {"format_version", "rng"}, the torch, numpy and Python random
states when it was saved, so that a resumed run draws the same augmentations and batches as an
uninterrupted one.

``RUN_DIR/checkpoints`` holds ``last.ckpt`` (end of the latest epoch), ``last.previous.ckpt`` (the one before,
kept in case the latest is damaged) and, after Ctrl-C, ``interrupted.ckpt`` (mid-epoch). Each is written to a
temporary file, flushed to disk and renamed into place, so a kill during a write never damages one.
Checkpoints are read with ``torch.load(weights_only=True)``: plain containers and tensors only. Every earlier
format is converted on reading (``upgrade``; tests/data/format1 holds a format-1 run): a change of format must
come with its converter here, so that no pretrained run becomes unreadable.

Example:
    >>> state = read_checkpoint("runs/ucla")                  # doctest: +SKIP
    >>> path, notes = resume_checkpoint("runs/ucla")          # doctest: +SKIP
"""

from __future__ import annotations

import copy
import os
import random
import re
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from .files import atomic_file

# 3: the encoder's tensors under the field's ST-GCN names and shapes (as the authors' files); 4: which queue slots
# hold encoded keys
FORMAT_VERSION = 5
READABLE_FORMATS = (1, 2, 3, 4, 5)  # earlier formats are converted on reading (``upgrade``)
LAST, PREVIOUS, INTERRUPTED = "last.ckpt", "last.previous.ckpt", "interrupted.ckpt"
BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked", ".A")


class CheckpointError(ValueError):
    """A file is not a usable skelemix checkpoint; the message names it and says why."""


def checkpoint_path(path: str | Path) -> Path:
    """A checkpoint file, the run directory holding checkpoints/last.ckpt, or a model folder's weights file
    (``model_folder``)."""
    from .model_folder import WEIGHTS, is_model_folder

    path = Path(path)
    if path.is_dir() and is_model_folder(path):
        path = path / WEIGHTS
    elif path.is_dir():
        path = path / "checkpoints" / LAST
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    return path


def run_directory(checkpoint: Path) -> Path:
    """Where a checkpoint's run keeps its evaluations and records: the run directory of RUN/checkpoints/*.ckpt, the
    folder of a model folder's weights or of a loose checkpoint file."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def load_file(path: Path, what: str = "checkpoint", map_location: str | torch.device = "cpu"):
    """``torch.load`` of plain containers and tensors only (``weights_only``); CheckpointError naming the file and
    torch's reason when it cannot be read (a truncated file, another program's, one holding arbitrary objects)."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"{path}: not a readable {what} ({type(error).__name__}: "
                              f"{str(error).splitlines()[0] if str(error) else 'no detail'})") from None


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The checkpoint at ``path`` (a file or a run directory) as a dict; CheckpointError if it is not ours."""
    path = checkpoint_path(path)
    state = load_file(path, "checkpoint", map_location)
    if not isinstance(state, dict) or not isinstance(state.get("hyper_parameters"), dict):
        raise CheckpointError(f"{path}: not a skelemix pretraining checkpoint (no config and layout inside)")
    marker = state.get("skelemix")
    version = marker.get("format_version") if isinstance(marker, dict) else None
    if version not in READABLE_FORMATS:
        raise CheckpointError(f"{path}: written by an incompatible skelemix (checkpoint format {version}, this "
                              f"version reads {', '.join(map(str, READABLE_FORMATS))})")
    return upgrade(state)


BLOCK = re.compile(r"(.*)blocks\.(\d+)\.(.+)")


def current_name(key: str) -> str:
    """A format-1 or format-2 tensor name in format 3 (the names of the field's ST-GCN)."""
    if key.endswith("adjacency"):
        return key[:-len("adjacency")] + "A"
    match = BLOCK.fullmatch(key)
    if match is None:
        return key
    prefix, block, rest = match.groups()
    if rest in ("edge_importance", "graph_conv.edge_importance"):
        return f"{prefix}edge_importance.{block}"
    rest = rest.replace("graph_conv.", "gcn.conv.").replace("temporal.", "tcn.")
    return f"{prefix}st_gcn_networks.{block}.{rest}"


def current_shape(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """A tensor of format 2's per-partition layout in format 3's convolution layout, by its format-3 name:
    ``gcn.conv.weight`` (K, C_out, C_in) -> (K C_out, C_in, 1, 1), ``gcn.conv.bias`` (K, C_out) -> (K C_out,),
    ``residual.0.weight`` (C_out, C_in) -> (C_out, C_in, 1, 1); any other tensor (and formats 1 and 3) as it is."""
    if name.endswith("gcn.conv.weight") and tensor.dim() == 3:
        return tensor.reshape(-1, tensor.shape[2], 1, 1)
    if name.endswith("gcn.conv.bias") and tensor.dim() == 2:
        return tensor.reshape(-1)
    if name.endswith("residual.0.weight") and tensor.dim() == 2:
        return tensor[..., None, None]
    return tensor


def upgrade_state_dict(state_dict: dict[str, torch.Tensor], version: int) -> dict[str, torch.Tensor]:
    """Weights of checkpoint format ``version`` under the current format's names, shapes and order.

    Format 1 named the encoder's tensors ``blocks.N.graph_conv`` (a 1x1 convolution, as now), ``blocks.N.temporal``,
    ``blocks.N.residual`` and ``blocks.N.edge_importance`` (registered before the convolution), the graph
    ``adjacency``; format 2 kept the graph convolution per partition, (K, C_out, C_in) and (K, C_out), the residual
    1x1 weight as (C_out, C_in), and the edge importance after the convolution's bias. Format 3 has the field's
    names (``st_gcn_networks.N.gcn.conv``, ``.tcn``, ``.residual``, ``edge_importance.N`` after every block, ``A``)
    and records which sample each queued key came from (``queue.owners``; -1, none, for the keys of earlier formats).
    Format 4 marks the queue slots that hold encoded keys (``queue.filled``; all of them for earlier formats, whose
    random start served as negatives like keys).
    """
    if version < 3:
        state_dict = _field_names(state_dict)
    if version < 4 and "queue.keys" in state_dict:  # a classifier's file has no queue
        state_dict = {**state_dict, "queue.filled": torch.ones(len(state_dict["queue.keys"]), dtype=torch.bool)}
    return state_dict


def _field_names(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Format 1 or 2 weights under format 3's names, shapes and order."""
    upgraded, importances = {}, {}
    for key, tensor in state_dict.items():
        name = current_name(key)
        if ".edge_importance." in name or name.startswith("edge_importance."):
            importances.setdefault(name.split("edge_importance.")[0], {})[name] = tensor
        else:
            upgraded[name] = current_shape(name, tensor)
    ordered = {}
    for index, (name, tensor) in enumerate(upgraded.items()):  # edge importances follow each encoder's last block
        ordered[name] = tensor
        prefix = name.split("st_gcn_networks.")[0]
        following = list(upgraded)[index + 1] if index + 1 < len(upgraded) else ""
        if "st_gcn_networks." in name and not following.startswith(prefix + "st_gcn_networks."):
            ordered.update(importances.pop(prefix, {}))
        if name == "queue.pointer":  # which sample each queued key came from: not recorded before format 3
            ordered["queue.owners"] = torch.full((len(upgraded["queue.keys"]),), -1, dtype=torch.long)
    return ordered


def _trainable_names(names) -> list[str]:
    """Of current-format tensor names in registration order, the query side's parameters: the order of the
    optimizer's state."""
    return [name for name in names if name.startswith(("encoder.", "projector.")) and not name.endswith(BUFFER_SUFFIXES)]


def upgrade(state: dict) -> dict:
    """A pretraining checkpoint of any readable format, converted in memory to the current one: the weights, the
    optimizer's momentum buffers moved to their parameters' new positions and shapes, and (format 5: one backward per
    loss term under Lightning's manual optimisation) the training loop's step count where manual optimisation
    keeps it."""
    version = state["skelemix"]["format_version"]
    if version == FORMAT_VERSION:
        return state
    old_order = _trainable_names(current_name(key) for key in state["state_dict"])
    state["state_dict"] = upgrade_state_dict(state["state_dict"], version)
    new_order = _trainable_names(state["state_dict"])
    old_index = {name: index for index, name in enumerate(old_order)}
    for optimizer in state.get("optimizer_states", []):
        old_state = optimizer["state"]
        optimizer["state"] = {}
        for index, name in enumerate(new_order):
            if old_index[name] in old_state:
                values = dict(old_state[old_index[name]])
                if values.get("momentum_buffer") is not None:
                    values["momentum_buffer"] = values["momentum_buffer"].reshape(state["state_dict"][name].shape)
                optimizer["state"][index] = values
    if version < 5 and "loops" in state:  # Lightning's automatic optimisation counted the steps; manual does since
        loop = state["loops"]["fit_loop"]
        steps = loop.get("epoch_loop.automatic_optimization.optim_progress", {}).get("optimizer", {}).get("step")
        if steps is not None:
            loop["epoch_loop.manual_optimization.optim_step_progress"] = copy.deepcopy(steps)
    state["skelemix"] = {**state["skelemix"], "format_version": FORMAT_VERSION, "upgraded_from": version}
    return state


def batches_done_in_epoch(state: dict) -> int:
    """How many batches of its last epoch a checkpoint's training loop had done ("processed": a checkpoint written at
    a step's end counts that step, as Lightning's restart does); 0 where the state has no loop (imported files)."""
    loop = state.get("loops", {}).get("fit_loop", {})
    return loop.get("epoch_loop.batch_progress", {}).get("current", {}).get("processed", 0)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO: temporary file, fsync, rename; the replaced last.ckpt becomes last.previous.ckpt."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        path = Path(path)
        with atomic_file(path) as temporary:
            with temporary.open("wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            if path.name == LAST and path.exists():
                os.replace(path, path.with_name(PREVIOUS))

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        return read_checkpoint(path, map_location or "cpu")


def resume_checkpoint(run_dir: str | Path) -> tuple[Path, list[str]]:
    """The readable checkpoint of ``run_dir`` with the most steps, and notes on the unreadable ones skipped."""
    folder = Path(run_dir) / "checkpoints"
    found, notes = [], []
    for name in (INTERRUPTED, LAST, PREVIOUS):
        path = folder / name
        if path.is_file():
            try:
                found.append((read_checkpoint(path)["global_step"], path))
            except CheckpointError as error:
                notes.append(f"skipping {error}")
    if not found:
        raise CheckpointError(f"{run_dir}: no readable checkpoint to resume from"
                              + (f" ({'; '.join(notes)})" if notes else ""))
    return max(found)[1], notes


def rng_states() -> dict:
    """The torch, numpy and Python random states, as plain containers and tensors."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached],
            "python": random.getstate()}


def restore_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    name, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    random.setstate(states["python"])
