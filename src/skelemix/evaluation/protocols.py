"""The evaluation commands' work: load an encoder, run a protocol of the field, save what it gives.

Protocols: ``knn`` and ``linear`` on frozen clean backbone features; ``finetune`` (encoder and head trained on
every labelled training sample) and ``semi`` (the same on a class-balanced ``fraction`` of them); ``cv``, the only
one that never reads the test split: the linear probe cross-validated over the training split
(``cross_validation``), to choose between pretrainings on training data. Each run writes into
``<run_dir>/evaluation/``: ``<name>.json`` (top-1/top-5, settings, the evaluated samples' names and labels in order
under ``test_names`` and ``test_labels``: the test split's, or for ``cv`` the training split's), ``<name>-scores.npy``
(those samples' class probabilities, for fusion; kNN's are vote shares) and, for the protocols that train a
classifier, ``<name>-classifier.pt`` (for ``skelemix predict``). ``name`` is the protocol, the fraction for semi
(``semi-10pct``) and ``-from-scratch`` (``-random-init`` for knn, linear and cv) for the same network without
pretraining. The stream is the one the encoder was pretrained on; asking for another is an error unless forced.

Example:
    >>> result = evaluate("semi", "runs/nw-ucla", fraction=0.1)    # doctest: +SKIP
    >>> result["top1"], result["subset"]["indices"][:3]           # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..checkpoints import checkpoint_path, run_directory
from ..config import Config, evaluation_config
from ..data.format import DATASETS_FILE, PreparedDataset, check_same_dataset
from ..data.loading import SplitDataset, split_loader
from ..methods import SkeletonCLR
from ..runtime import quiet_lightning, resolve_precision
from .classifier import Classifier, save_classifier
from .cross_validation import cross_validated_scores, training_folds
from .features import extract_features, load_pretrained, map_batches, random_init
from .finetune import balanced_subset, finetune as finetune_encoder
from .knn import knn_scores
from .results import top_k_accuracy
from .linear import linear_probe

@dataclass
class Setting:
    """What every protocol works on: the encoder, the resolved config, the dataset and its benchmark, where and in
    which precision to run, and the fraction of labels (semi)."""

    model: SkeletonCLR
    config: Config
    prepared: PreparedDataset
    benchmark: str
    accelerator: str
    precision: str
    fraction: float | None
    progress: bool

    def loader(self, part: str) -> DataLoader:
        return split_loader(self.prepared, self.benchmark, part, self.config.eval.batch_size)

    def features(self, part: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Clean backbone features (N, D) and labels (N,) of a split's part."""
        return extract_features(self.model, self.loader(part), self.accelerator, self.precision)


@dataclass
class Outcome:
    """What a protocol gives: scores (N, classes) and labels (N,) of the samples of the split's ``part`` it scored,
    its settings for the record, the classifier it trained (predict reads it) and more entries for the result."""

    scores: torch.Tensor
    labels: torch.Tensor
    settings: dict
    classifier: Classifier | None = None
    extra: dict = field(default_factory=dict)
    part: str = "test"


def knn(setting: Setting) -> Outcome:
    """Weighted kNN between test and training features; scores are vote shares."""
    train_x, train_y = setting.features("train")
    test_x, test_y = setting.features("test")
    knn_settings = setting.config.eval.knn
    scores = knn_scores(train_x, train_y, test_x, setting.prepared.num_classes, knn_settings.k,
                        knn_settings.temperature)
    settings = {"k": min(knn_settings.k, len(train_y)), "temperature": knn_settings.temperature,
                "features": "backbone, no augmentation"}
    if knn_settings.k > len(train_y):
        settings["note"] = f"k={knn_settings.k} capped at the {len(train_y)} training samples"
        print(f"skelemix: note: {settings['note']}", file=sys.stderr)
    return Outcome(scores / scores.sum(dim=1, keepdim=True), test_y, settings)  # shares: comparable across runs


def linear(setting: Setting) -> Outcome:
    """A linear classifier on frozen, standardised features; the final epoch's."""
    train_x, train_y = setting.features("train")
    test_x, test_y = setting.features("test")
    probe = setting.config.eval.linear
    scores, head, mean, std = linear_probe(train_x, train_y, test_x, setting.prepared.num_classes, probe,
                                           seed=setting.config.train.seed, progress=setting.progress)
    classifier = Classifier(setting.model.encoder, setting.model.layout, setting.config.data.stream,
                            setting.prepared.num_classes)
    classifier.head.load_state_dict(head.state_dict())
    classifier.mean.copy_(mean), classifier.std.copy_(std)
    return Outcome(scores, test_y, {**dataclasses.asdict(probe), "reported": "final epoch"}, classifier)


def finetune(setting: Setting, train: list[int] | None = None, extra: dict | None = None) -> Outcome:
    """The encoder and a linear head trained on the training split (or the ``train`` indices); the final epoch's."""
    train = setting.prepared.split(setting.benchmark)["train"] if train is None else train
    settings = setting.config.eval.finetune
    loader = DataLoader(SplitDataset(setting.prepared, train), batch_size=min(settings.batch_size, len(train)),
                        shuffle=True)
    classifier = finetune_encoder(setting.model.encoder, setting.model.layout, setting.config.data.stream, loader,
                                  setting.prepared.num_classes, settings, accelerator=setting.accelerator,
                                  precision=setting.precision, seed=setting.config.train.seed,
                                  progress=setting.progress)
    scores, test_y = map_batches(lambda x: classifier(x).softmax(dim=1), setting.loader("test"), setting.accelerator,
                                 setting.precision)
    return Outcome(scores, test_y, {**dataclasses.asdict(setting.config.eval.finetune), "augmentation": "none",
                                    "reported": "final epoch"}, classifier, extra or {})


def semi(setting: Setting) -> Outcome:
    """Finetuning on a class-balanced ``fraction`` of the training labels, drawn with eval.semi.seed."""
    train = setting.prepared.split(setting.benchmark)["train"]
    seed = setting.config.eval.semi.seed
    chosen = [train[i] for i in balanced_subset(setting.prepared.labels[train], setting.fraction, seed)]
    return finetune(setting, chosen, {"subset": {"fraction": setting.fraction, "seed": seed, "size": len(chosen),
                                                 "indices": chosen}})


def cv(setting: Setting) -> Outcome:
    """Every training clip scored by the linear probe (eval.linear) trained on the other training folds: by subject,
    or, when the split records a single subject, by eval.cv.folds folds of clips. Top-1 is over all training clips;
    the folds' own accuracies are recorded beside it."""
    train = setting.prepared.split(setting.benchmark)["train"]
    features, labels = setting.features("train")
    subjects = torch.tensor([setting.prepared.samples[i].subject for i in train])
    folds, by = training_folds(subjects, labels, setting.config.eval.cv.folds)
    probe = setting.config.eval.linear
    scores = cross_validated_scores(features, labels, folds, setting.prepared.num_classes, probe,
                                    seed=setting.config.train.seed)
    hits = (scores.argmax(dim=1) == labels).float()
    by_fold = [round(100.0 * float(hits[folds == f].mean()), 2) for f in torch.unique(folds)]
    return Outcome(scores, labels, {**dataclasses.asdict(probe), **dataclasses.asdict(setting.config.eval.cv),
                                    "reported": "final epoch"},
                   extra={"folds": {"by": by, "count": len(by_fold), "top1": by_fold,
                                    "top1_mean": round(float(np.mean(by_fold)), 2),
                                    "top1_sd": round(float(np.std(by_fold, ddof=1)), 2)}},
                   part="train")


PROTOCOLS: dict[str, Callable[[Setting], Outcome]] = {"knn": knn, "linear": linear, "finetune": finetune,
                                                       "semi": semi, "cv": cv}


def result_name(protocol: str, fraction: float | None, random_weights: bool) -> str:
    name = protocol + (f"-{fraction * 100:g}pct" if protocol == "semi" else "")
    return name + (("-from-scratch" if protocol in ("finetune", "semi") else "-random-init") if random_weights else "")


def evaluate(protocol: str, source: str | Path, data_path: str | None = None, benchmark: str | None = None,
             random_weights: bool = False, out_dir: str | Path | None = None, overrides: list[str] = (),
             config_files: list[str] = (), fraction: float | None = None, stream: str | None = None,
             force_stream: bool = False, progress: bool = False) -> dict:
    """Run ``protocol`` for the encoder of ``source`` (a checkpoint, run directory or model folder) and save the
    result.

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
    setting = _setting(protocol, ckpt, data_path, benchmark, random_weights, overrides, config_files, fraction,
                       stream, force_stream, progress)
    outcome = PROTOCOLS[protocol](setting)
    return _save(protocol, outcome, setting, ckpt, result_name(protocol, fraction, random_weights), random_weights,
                 Path(out_dir) if out_dir else run_directory(ckpt) / "evaluation")


def _setting(protocol: str, ckpt: Path, data_path, benchmark, random_weights, overrides, config_files, fraction,
             stream, force_stream, progress) -> Setting:
    """Load the encoder (or its untrained twin) with its evaluation config, and the dataset it is evaluated on."""
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
    if not prepared.split(benchmark)["test"] and protocol != "cv":  # said before any training
        raise ValueError(f"{prepared.path}: benchmark {benchmark!r} has no test samples")
    accelerator = config.train.accelerator
    return Setting(model, config, prepared, benchmark, accelerator, resolve_precision(config.eval.precision,
                                                                                         accelerator),
                   fraction, progress)


def _save(protocol: str, outcome: Outcome, setting: Setting, ckpt: Path, name: str, random_weights: bool,
          out_dir: Path) -> dict:
    """Write ``<name>.json``, ``<name>-scores.npy`` and the classifier, if any, to ``out_dir``; return the result."""
    prepared, config = setting.prepared, setting.config
    split = prepared.split(setting.benchmark)
    ranking = outcome.scores.argsort(dim=1, descending=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / f"{name}-scores.npy", outcome.scores.numpy().astype(np.float32))
    extra = dict(outcome.extra)
    if outcome.classifier is not None:
        save_classifier(out_dir / f"{name}-classifier.pt", outcome.classifier.cpu(), protocol, config,
                        prepared.class_names, prepared.info.get("preprocessing", {}))
        extra["classifier_file"] = f"{name}-classifier.pt"
    result = {
        "protocol": protocol, "name": name, "checkpoint": str(ckpt),
        "weights": ("from scratch" if protocol in ("finetune", "semi") else "random init") if random_weights
        else "pretrained",
        "method": config.method.name, "mixes": config.method.mix.repeats, "stream": config.data.stream,
        "dataset": prepared.name, "benchmark": setting.benchmark, "epochs": config.train.epochs,
        "evaluated_part": outcome.part, "train_samples": len(split["train"]), "test_samples": len(outcome.labels),
        "top1": round(top_k_accuracy(ranking, outcome.labels, 1), 2),
        "top5": round(top_k_accuracy(ranking, outcome.labels, 5), 2),
        "settings": outcome.settings, "precision": setting.precision, "scores_file": f"{name}-scores.npy", **extra,
        "test_names": [prepared.samples[i].name for i in split[outcome.part]],
        "test_labels": outcome.labels.tolist(),
    }
    (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2))
    result["path"] = str(out_dir / f"{name}.json")
    return result
