"""The evaluation commands' work: load an encoder, run a protocol of the field, save what it gives.

Protocols: ``knn`` and ``linear`` on frozen clean backbone features; ``finetune`` (encoder and head trained on
every labelled training sample) and ``semi`` (the same on a class-balanced ``fraction`` of them). Each run writes
into ``<run_dir>/evaluation/``: ``<name>.json`` (top-1/top-5, settings, the test samples' names and labels in order),
``<name>-scores.npy`` (per-sample class probabilities of the test set, for fusion; kNN's are vote shares) and, for the protocols that
train a classifier, ``<name>-classifier.pt`` (for ``skelemix predict``). ``name`` is the protocol, the fraction
for semi (``semi-10pct``) and ``-from-scratch`` for the same network without pretraining. The stream is the one
the encoder was pretrained on; asking for another is an error unless forced.

Example:
    >>> result = evaluate("semi", "runs/nw-ucla", fraction=0.1)    # doctest: +SKIP
    >>> result["top1"], result["subset"]["indices"][:3]           # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from ..checkpoints import checkpoint_path, run_directory
from ..config import evaluation_config
from ..data.format import DATASETS_FILE, PreparedDataset, check_same_dataset
from ..data.loading import SplitDataset, split_loader
from ..runtime import quiet_lightning, resolve_precision
from .classifier import Classifier, save_classifier
from .features import extract_features, load_pretrained, map_batches, random_init
from .finetune import balanced_subset, finetune
from .knn import knn_scores
from .results import top_k_accuracy
from .linear import linear_probe

PROTOCOLS = ("knn", "linear", "finetune", "semi")


def result_name(protocol: str, fraction: float | None, random_weights: bool) -> str:
    name = protocol + (f"-{fraction * 100:g}pct" if protocol == "semi" else "")
    return name + (("-from-scratch" if protocol in ("finetune", "semi") else "-random-init") if random_weights else "")


def evaluate(protocol: str, source: str | Path, data_path: str | None = None, benchmark: str | None = None,
             random_weights: bool = False, out_dir: str | Path | None = None, overrides: list[str] = (),
             config_files: list[str] = (), fraction: float | None = None, stream: str | None = None,
             force_stream: bool = False, progress: bool = False) -> dict:
    """Run ``protocol`` for the encoder of ``source`` (a checkpoint or run directory) and save the result.

    ``random_weights``: the same architecture and stream freshly initialised (seeded) instead of pretrained.
    ``config_files`` and ``overrides`` (``eval.key=value``) change the checkpoint's evaluation settings only.
    """
    quiet_lightning()
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if protocol == "semi" and not (fraction is not None and 0 < fraction <= 1):
        raise ValueError(f"semi needs --fraction in (0, 1], e.g. 0.01 or 0.1 (got {fraction})")
    if protocol != "semi" and fraction is not None:
        raise ValueError(f"{protocol} takes no --fraction; semi does")
    ckpt = checkpoint_path(source)
    model = load_pretrained(ckpt)
    trained = model.config
    if stream and stream != trained.data.stream:
        if not force_stream:
            raise ValueError(f"{ckpt}: the encoder was pretrained on the {trained.data.stream} stream, not "
                             f"{stream}; add --force-stream to evaluate it on another")
        trained = dataclasses.replace(trained, data=dataclasses.replace(trained.data, stream=stream))
    config = evaluation_config(trained, config_files, overrides)
    model.config = config
    if random_weights:
        model = random_init(config, model.layout.name, seed=config.train.seed)
    prepared = PreparedDataset(data_path or config.data.target)
    recorded = run_directory(ckpt) / DATASETS_FILE
    if data_path is None and recorded.is_file():
        check_same_dataset(prepared, json.loads(recorded.read_text())[0])
    if prepared.layout.name != model.layout.name:
        raise ValueError(f"{prepared.path}: layout {prepared.layout.name} does not match the encoder's "
                         f"{model.layout.name}")
    benchmark = benchmark or config.data.benchmark
    ev, accelerator = config.eval, config.train.accelerator
    precision = resolve_precision(ev.precision, accelerator)
    split = prepared.split(benchmark)
    test_loader = split_loader(prepared, benchmark, "test", ev.batch_size)
    extra: dict = {}
    classifier = None
    if protocol in ("knn", "linear"):
        train_x, train_y = extract_features(model, split_loader(prepared, benchmark, "train", ev.batch_size),
                                            accelerator, precision)
        test_x, test_y = extract_features(model, test_loader, accelerator, precision)
        if protocol == "knn":
            scores = knn_scores(train_x, train_y, test_x, prepared.num_classes, ev.knn.k, ev.knn.temperature)
            scores = scores / scores.sum(dim=1, keepdim=True)  # vote shares, comparable across runs for fusion
            settings = {"k": min(ev.knn.k, len(train_y)), "temperature": ev.knn.temperature,
                        "features": "backbone, no augmentation"}
            if ev.knn.k > len(train_y):
                settings["note"] = f"k={ev.knn.k} capped at the {len(train_y)} training samples"
                print(f"skelemix: note: {settings['note']}", file=sys.stderr)
        else:
            scores, head, mean, std = linear_probe(train_x, train_y, test_x, prepared.num_classes,
                                                   **dataclasses.asdict(ev.linear), seed=config.train.seed,
                                                   progress=progress)
            classifier = Classifier(model.encoder, model.layout, config.data.stream, prepared.num_classes)
            classifier.head.load_state_dict(head.state_dict())
            classifier.mean.copy_(mean), classifier.std.copy_(std)
            settings = {**dataclasses.asdict(ev.linear), "reported": "final epoch"}
    else:
        train = split["train"]
        if protocol == "semi":
            chosen = balanced_subset(prepared.labels[train], fraction, ev.semi.seed)
            train = [train[i] for i in chosen]
            extra["subset"] = {"fraction": fraction, "seed": ev.semi.seed, "size": len(train), "indices": train}
        settings = dataclasses.asdict(ev.finetune)
        loader = DataLoader(SplitDataset(prepared, train), batch_size=min(settings.pop("batch_size"), len(train)),
                            shuffle=True)
        classifier = finetune(model.encoder, model.layout, config.data.stream, loader, prepared.num_classes,
                              **settings, accelerator=accelerator, precision=precision, seed=config.train.seed,
                              progress=progress)
        scores, test_y = map_batches(lambda x: classifier(x).softmax(dim=1), test_loader, accelerator, precision)
        settings = {**dataclasses.asdict(ev.finetune), "augmentation": "none", "reported": "final epoch"}
    ranking = scores.argsort(dim=1, descending=True)
    name = result_name(protocol, fraction, random_weights)
    out_dir = Path(out_dir) if out_dir else run_directory(ckpt) / "evaluation"
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / f"{name}-scores.npy", scores.numpy().astype(np.float32))
    if classifier is not None:
        save_classifier(out_dir / f"{name}-classifier.pt", classifier.cpu(), protocol, config, prepared.class_names,
                        prepared.info.get("preprocessing", {}))
        extra["classifier_file"] = f"{name}-classifier.pt"
    result = {
        "protocol": protocol, "name": name, "checkpoint": str(ckpt),
        "weights": ("from scratch" if protocol in ("finetune", "semi") else "random init") if random_weights
        else "pretrained",
        "method": config.method.name, "mixes": config.method.mix.repeats, "stream": config.data.stream,
        "dataset": prepared.name, "benchmark": benchmark, "epochs": config.train.epochs,
        "train_samples": len(split["train"]), "test_samples": len(test_y),
        "top1": round(top_k_accuracy(ranking, test_y, 1), 2), "top5": round(top_k_accuracy(ranking, test_y, 5), 2),
        "settings": settings, "precision": precision, "scores_file": f"{name}-scores.npy", **extra,
        "test_names": [prepared.samples[i].name for i in split["test"]],
        "test_labels": test_y.tolist(),
    }
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2))
    result["path"] = str(out_dir / f"{name}.json")
    return result
