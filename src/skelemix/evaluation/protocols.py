"""The evaluation commands' work: load an encoder, extract features, run a protocol, save the result.

Results are JSON in ``<run_dir>/evaluation/<protocol>[-random-init].json`` with top-1/top-5 and the
per-sample test scores' file name; the encoder's stream comes from its checkpoint.

Example:
    >>> result = evaluate("knn", "runs/nw-ucla")          # doctest: +SKIP
    >>> result["top1"]                                   # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..checkpoints import checkpoint_path
from ..data.format import PreparedDataset
from ..data.loading import split_loader
from ..runtime import resolve_precision
from .features import extract_features, load_pretrained, random_init
from .knn import knn_scores, top_k_accuracy
from .linear import linear_probe

PROTOCOLS = ("knn", "linear")


def evaluate(protocol: str, source: str | Path, data_path: str | None = None, benchmark: str | None = None,
             random_weights: bool = False, out_dir: str | Path | None = None, overrides: dict | None = None,
             progress: bool = False) -> dict:
    """Run ``protocol`` for the encoder of ``source`` (a checkpoint or run directory) and save the result.

    ``random_weights`` evaluates the same architecture and stream freshly initialised (seeded).
    ``overrides`` replaces fields of the checkpoint's ``eval`` config section.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    ckpt = checkpoint_path(source)
    model = load_pretrained(ckpt)
    config = model.config
    for key, value in (overrides or {}).items():
        setattr(config.eval, key, type(getattr(config.eval, key))(value))
    if random_weights:
        model = random_init(config, model.layout.name, seed=config.train.seed)
    prepared = PreparedDataset(data_path or config.data.path)
    if prepared.layout.name != model.layout.name:
        raise ValueError(f"{prepared.path}: layout {prepared.layout.name} does not match the encoder's "
                         f"{model.layout.name}")
    benchmark = benchmark or config.data.benchmark
    ev = config.eval
    precision = resolve_precision(config.train.precision, config.train.accelerator)
    loaders = [split_loader(prepared, benchmark, part, ev.batch_size) for part in ("train", "test")]
    (train_x, train_y), (test_x, test_y) = (
        extract_features(model, loader, config.train.accelerator, precision) for loader in loaders)
    if protocol == "knn":
        scores = knn_scores(train_x, train_y, test_x, prepared.num_classes, ev.knn_k, ev.knn_temperature)
        settings = {"k": ev.knn_k, "temperature": ev.knn_temperature, "features": "backbone, no augmentation"}
    else:
        scores = linear_probe(train_x, train_y, test_x, prepared.num_classes, epochs=ev.linear_epochs, lr=ev.linear_lr,
                              momentum=ev.linear_momentum, weight_decay=ev.linear_weight_decay,
                              milestones=tuple(ev.linear_milestones), batch_size=ev.linear_batch_size,
                              seed=config.train.seed, progress=progress)
        settings = {"epochs": ev.linear_epochs, "lr": ev.linear_lr, "milestones": ev.linear_milestones,
                    "batch_size": ev.linear_batch_size, "reported": "final epoch"}
    ranking = scores.argsort(dim=1, descending=True)
    name = protocol + ("-random-init" if random_weights else "")
    out_dir = Path(out_dir) if out_dir else ckpt.parent.parent / "evaluation"
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / f"{name}-scores.npy", scores.numpy().astype(np.float32))
    result = {
        "protocol": protocol, "checkpoint": str(ckpt), "weights": "random init" if random_weights else "pretrained",
        "method": config.method.name, "mixes": config.method.mix.repeats, "stream": config.data.stream,
        "dataset": prepared.name, "benchmark": benchmark, "epochs": config.train.epochs,
        "train_samples": len(train_y), "test_samples": len(test_y),
        "top1": round(top_k_accuracy(ranking, test_y, 1), 2), "top5": round(top_k_accuracy(ranking, test_y, 5), 2),
        "settings": settings, "scores_file": f"{name}-scores.npy",
        "test_indices": prepared.split(benchmark)["test"],
    }
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2))
    result["path"] = str(out_dir / f"{name}.json")
    return result
