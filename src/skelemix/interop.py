"""Checkpoints of the authors' code in and out: SkeleMixCLR's (and its SkeletonCLR / CrosSCLR lineage's) files.

That code saves a flat dict of tensors (torchlight's ``save_model``): ``encoder_q.*`` (the query ST-GCN, whose ``fc``
is the projection head Linear-BatchNorm-ReLU-Linear), ``encoder_k.*`` (its momentum copy), ``queue`` (D, K) and
``queue_ptr`` (1,). Its ST-GCN names and shapes are the field's, as skelemix's own (``data_bn``,
``st_gcn_networks.N.gcn.conv``, ``st_gcn_networks.N.tcn.{0,2,3}``, ``st_gcn_networks.N.residual.{0,1}``,
``edge_importance.N``, the graph ``A``), so only the prefixes and the queue's layout change. The mapping is exact
both ways, and strict: a file with a missing, unexpected or mis-shaped tensor is refused with every such key named,
never loaded in part. An imported encoder keeps the file's own graph ``A`` (the reference normalisation, ``encoder.graph``).

Example:
    >>> run_dir = import_reference("epoch300_model.pt", "runs/authors")                   # doctest: +SKIP
    >>> export_reference("runs/authors", "back.pt")                                        # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from .checkpoints import FORMAT_VERSION, CheckpointError, load_file, read_checkpoint, rng_states
from .config import load_config
from .files import atomic_file
from .layouts import LAYOUTS

SIDES = {"encoder_q.": ("encoder.", "projector."), "encoder_k.": ("key_encoder.", "key_projector.")}


def from_reference(state: dict) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(the reference file's tensors under skelemix's names, the file's keys that map to nothing)."""
    ours, unknown = {}, []
    for key, tensor in state.items():
        if key == "queue":
            ours["queue.keys"] = tensor.t().contiguous()
        elif key == "queue_ptr":
            ours["queue.pointer"] = tensor.reshape(()).long()
        elif (side := next((s for s in SIDES if key.startswith(s)), None)) is not None:
            name = key[len(side):]
            encoder_prefix, head_prefix = SIDES[side]
            ours[head_prefix + name[3:] if name.startswith("fc.") else encoder_prefix + name] = tensor
        else:
            unknown.append(key)
    if "queue" in state:  # the authors' queue records no samples; its slots count as encoded keys
        ours["queue.owners"] = torch.full((state["queue"].shape[1],), -1, dtype=torch.long)
        ours["queue.filled"] = torch.ones(state["queue"].shape[1], dtype=torch.bool)
    return ours, unknown


def to_reference(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """skelemix's pretraining state dict -> the reference file's flat dict (the inverse of ``from_reference``)."""
    prefixes = {ours: (side, "fc." if ours.endswith("projector.") else "") for side, pair in SIDES.items()
                for ours in pair}
    out = {}
    for key, tensor in state_dict.items():
        if key == "queue.keys":
            out["queue"] = tensor.t().contiguous()
        elif key == "queue.pointer":
            out["queue_ptr"] = tensor.reshape(1)
        elif key in ("queue.owners", "queue.filled"):
            continue  # skelemix's own records of which sample each key came from and which slots hold keys
        else:
            prefix = next(p for p in prefixes if key.startswith(p))
            side, head = prefixes[prefix]
            out[side + head + key[len(prefix):]] = tensor
    return out


def _encoder_settings(state: dict) -> dict:
    """The encoder config that reproduces the file's shapes."""
    try:
        first, last = state["encoder_q.st_gcn_networks.0.gcn.conv.weight"], state["encoder_q.fc.3.weight"]
        partitions, joints = state["encoder_q.A"].shape[:2]
        out_channels = state["encoder_q.fc.0.weight"].shape[1]
        kernel = state["encoder_q.st_gcn_networks.0.tcn.2.weight"].shape[2]
    except KeyError as error:
        raise CheckpointError(f"not a SkeleMixCLR pretraining checkpoint: no {error.args[0]}") from None
    return {"hidden_channels": first.shape[0] // partitions, "out_channels": out_channels, "temporal_kernel": kernel,
            "projection_dim": last.shape[0], "graph": "reference", "joints": joints}


def import_reference(path: str | Path, run_dir: str | Path, layout: str | None = None,
                     overrides: list[str] = ()) -> Path:
    """Write ``run_dir`` (config.yaml and checkpoints/last.ckpt) from a checkpoint of the authors' code, so that
    every evaluation, embed, predict and visualize command reads it. ``layout``: the skeleton layout (by default
    the one registered with the file's joint count); ``overrides``: config key=value settings, e.g. data.path."""
    from .methods import METHODS

    path, run_dir = Path(path), Path(run_dir)
    if (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").iterdir()):
        raise FileExistsError(f"{run_dir}: already holds a run; choose another directory")
    state = load_file(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: not a checkpoint of the authors' code (a flat dict of tensors)")
    try:
        settings = _encoder_settings(state)
        joints = settings.pop("joints")
        layout = layout or next((n for n, l in LAYOUTS.items() if l.num_joints == joints), None)
        if layout is not None and layout not in LAYOUTS:
            raise CheckpointError(f"--layout {layout}: unknown layout (known: {', '.join(sorted(LAYOUTS))})")
        if layout is None or LAYOUTS[layout].num_joints != joints:
            raise CheckpointError(f"{joints} joints: name a layout with that many (--layout)")
        queue = state.get("queue")
        encoder = [f"encoder.{k}={v}" for k, v in settings.items()]
        config = load_config([], [*encoder, "encoder.dropout=0.5", "method.name=skelemixclr",
                                  f"method.queue_size={queue.shape[1] if queue is not None else 32768}",
                                  *overrides])
        model = METHODS[config.method.name](config, layout)
        load_strictly(model, *from_reference(state))
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": {"config": config.to_dict(), "layout": layout},
                  "epoch": 0, "global_step": 0,
                  "skelemix": {"format_version": FORMAT_VERSION, "rng": rng_states(), "imported_from": str(path)}}
    with atomic_file(run_dir / "checkpoints" / "last.ckpt") as temporary:
        torch.save(checkpoint, temporary)
    return run_dir


def load_strictly(model: torch.nn.Module, state: dict[str, torch.Tensor], unmapped: list[str] = ()) -> None:
    """Load every tensor or none: CheckpointError lists the missing, unexpected (``unmapped`` too) and mis-shaped
    keys, under the authors' names."""
    expected = model.state_dict()

    def name(key: str) -> str:
        return next(iter(to_reference({key: state.get(key, expected.get(key))})), key)

    def shape(key: str, tensors: dict) -> tuple:
        return tuple(to_reference({key: tensors[key]}).get(name(key), tensors[key]).shape)

    missing = [name(k) for k in expected if k not in state]
    unexpected = [*unmapped, *(name(k) for k in state if k not in expected)]
    misshaped = [f"{name(k)} {shape(k, state)} (model {shape(k, expected)})" for k in state
                 if k in expected and state[k].shape != expected[k].shape]
    problems = [f"{label}: {', '.join(keys[:8])}" + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")
                for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
                if keys]
    if problems:
        raise CheckpointError("; ".join(problems))
    model.load_state_dict(state)


def export_reference(source: str | Path, path: str | Path) -> Path:
    """Write a skelemix pretraining checkpoint (file or run directory) in the authors' format."""
    state = read_checkpoint(source)
    config = state["hyper_parameters"]["config"]
    if config["encoder"].get("graph", "stgcn") != "reference":
        # the file carries its graph A, so the authors' code computes the same function with ours; say so anyway
        print(f"skelemix: note: {source} uses the {config['encoder'].get('graph', 'stgcn')} graph normalisation; "
              f"the exported A holds it, so the authors' code computes the same features")
    with atomic_file(Path(path)) as temporary:
        torch.save(to_reference(state["state_dict"]), temporary)
    return Path(path)
