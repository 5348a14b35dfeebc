"""Pretraining entry point: config -> Lightning Trainer -> run directory.

A run directory holds ``config.yaml`` (the resolved config), ``checkpoints/last.ckpt``, CSV and TensorBoard
logs (``logs/``), and later ``evaluation/*.json``.

Example:
    >>> from skelemix.config import load_config
    >>> run_dir = pretrain(load_config("skelemixclr_synthetic", ["train.epochs=1"]), "runs/try")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from .config import Config
from .data.format import PreparedDataset
from .data.loading import split_loader
from .evaluation.features import extract_features
from .evaluation.knn import knn_classify, top_k_accuracy
from .methods import METHODS
from .runtime import resolve_precision


class KnnMonitor(Callback):
    """Every ``every`` epochs, kNN top-1 of the query backbone on the benchmark's test split.

    A monitor only: nothing is selected with it, the final checkpoint is the one evaluated.
    """

    def __init__(self, prepared: PreparedDataset, config: Config, every: int):
        self.prepared, self.config, self.every = prepared, config, every

    def on_train_epoch_end(self, trainer, module):
        epoch = trainer.current_epoch + 1
        if self.every == 0 or (epoch % self.every and epoch != trainer.max_epochs):
            return
        data, ev = self.config.data, self.config.eval
        loaders = [split_loader(self.prepared, data.benchmark, part, ev.batch_size) for part in ("train", "test")]
        accelerator = module.device.type
        (train_x, train_y), (test_x, test_y) = (
            extract_features(module, loader, accelerator, trainer.precision) for loader in loaders)
        ranking = knn_classify(train_x, train_y, test_x, self.prepared.num_classes, ev.knn_k, ev.knn_temperature)
        module.log("monitor/knn_top1", top_k_accuracy(ranking, test_y, 1), prog_bar=True)
        module.train()


def make_run_dir(run_dir: str | Path) -> Path:
    """Create the run directory; fail now, not after hours, if it cannot be written or already holds a run."""
    run_dir = Path(run_dir)
    if (run_dir / "checkpoints" / "last.ckpt").exists():
        raise FileExistsError(f"{run_dir}: already holds a pretraining run; choose another --run-dir")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise OSError(f"{run_dir}: cannot write the run directory ({error.strerror})") from None
    return run_dir


def pretrain(config: Config, run_dir: str | Path, progress: bool = True) -> Path:
    """Pretrain the configured method on the configured dataset; returns the run directory."""
    prepared = PreparedDataset(config.data.path)
    split = prepared.split(config.data.benchmark)  # fail early on a wrong benchmark name
    run_dir = make_run_dir(run_dir)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    model = METHODS[config.method.name](config, prepared.layout)
    train = config.train
    loader = split_loader(prepared, config.data.benchmark, "train", train.batch_size, shuffle=True, drop_last=True,
                          num_workers=config.data.num_workers)
    if len(loader) == 0:
        raise ValueError(f"{prepared.path}: fewer training samples than one batch of {train.batch_size}")
    precision = resolve_precision(train.precision, train.accelerator)
    trainer = L.Trainer(
        max_epochs=train.epochs, accelerator=train.accelerator, devices=train.devices, precision=precision,
        default_root_dir=run_dir, log_every_n_steps=min(train.log_every_n_steps, len(loader)),
        logger=[CSVLogger(run_dir, name="logs", version=""), TensorBoardLogger(run_dir, name="logs", version="")],
        # one checkpoint, overwritten at every epoch's end: what evaluation and resuming read
        callbacks=[ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="last", save_top_k=1,
                                   enable_version_counter=False),
                   LearningRateMonitor(),
                   # a benchmark without test samples (e.g. "all") has nothing to monitor on
                   KnnMonitor(prepared, config, train.knn_every if split["test"] else 0)],
        enable_progress_bar=progress, enable_model_summary=progress,
    )
    started = time.time()
    trainer.fit(model, loader)
    (run_dir / "pretrain_summary.yaml").write_text(yaml.safe_dump({
        "method": config.method.name, "mixes": config.method.mix.repeats, "dataset": prepared.name,
        "benchmark": config.data.benchmark, "stream": config.data.stream, "epochs": train.epochs,
        "precision": precision, "seconds": round(time.time() - started, 1), "torch": str(torch.__version__),
    }, sort_keys=False))
    return run_dir
