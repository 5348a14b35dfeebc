"""Finetuning and semi-supervised evaluation: the whole encoder and a linear head, trained with labels.

The paper's settings (config ``eval.finetune.*``): SGD lr 0.1, momentum 0.9, weight decay 1e-4, 110 epochs,
lr divided by 10 at epochs 50, 70 and 90, after 10 epochs of linear warm-up; sequences are not augmented,
as in the reference's finetune settings. Semi-supervised evaluation is the same training on a class-balanced
random subset of the labelled training set: round(fraction x class count) samples of each class, at least one.
The reported accuracy is the final epoch's.

Example:
    >>> balanced_subset([0, 0, 0, 0, 1, 1], fraction=0.5, seed=0)   # 2 of class 0, 1 of class 1
    [2, 3, 4]
"""

from __future__ import annotations

import copy

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from ..config import FinetuneEval
from ..layouts import SkeletonLayout
from ..models import STGCN
from ..schedule import lr_factor
from .classifier import Classifier


def balanced_subset(labels, fraction: float, seed: int = 0) -> list[int]:
    """Sorted positions of round(fraction x count) samples of each class (at least one), drawn with ``seed``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"the labelled fraction must be in (0, 1], got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = max(1, int(round(fraction * len(members))))
        chosen.extend(rng.choice(members, size=count, replace=False).tolist())
    return sorted(chosen)


class Finetuner(L.LightningModule):
    """Trains a :class:`Classifier` (a copy of the encoder and a new linear head) with cross-entropy and
    ``settings`` (the config's ``eval.finetune``)."""

    def __init__(self, encoder: STGCN, layout: SkeletonLayout, stream: str, num_classes: int,
                 settings: FinetuneEval = FinetuneEval()):
        super().__init__()
        if settings.encoder_mode not in ("train", "eval"):
            raise ValueError(f"encoder_mode must be train or eval, got {settings.encoder_mode!r}")
        self.classifier = Classifier(copy.deepcopy(encoder).requires_grad_(True), layout, stream, num_classes)
        self.settings = settings

    def on_train_epoch_start(self) -> None:
        # the reference trains with the whole model in eval mode: BatchNorm keeps its pretrained running statistics
        # and dropout is off
        self.classifier.encoder.train(self.settings.encoder_mode == "train")

    def training_step(self, batch, batch_index):
        x, labels, _ = batch
        loss = F.cross_entropy(self.classifier(x), labels)
        self.log("finetune/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(x))
        return loss

    def configure_optimizers(self):
        s = self.settings
        optimizer = torch.optim.SGD(self.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay,
                                    nesterov=s.nesterov)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: lr_factor(epoch, s.warmup, s.milestones))
        return [optimizer], [schedule]


def finetune(encoder: STGCN, layout: SkeletonLayout, stream: str, train_loader, num_classes: int,
             settings: FinetuneEval = FinetuneEval(), accelerator: str = "auto", precision: str = "32-true",
             seed: int = 0, progress: bool = False) -> Classifier:
    """Train with ``settings`` (the config's ``eval.finetune``; the batch size is the loader's) and return the
    classifier, in eval mode. ``settings.nesterov`` and ``settings.encoder_mode="eval"`` are the reference code's
    finetuning (Nesterov momentum; the encoder in eval mode while it trains)."""
    L.seed_everything(seed, verbose=False)
    model = Finetuner(encoder, layout, stream, num_classes, settings)
    trainer = L.Trainer(max_epochs=settings.epochs, accelerator=accelerator, devices=1, precision=precision,
                        logger=False, enable_checkpointing=False, enable_progress_bar=progress,
                        enable_model_summary=False, log_every_n_steps=1)
    trainer.fit(model.train(), train_loader)  # Lightning keeps modules' modes: the copied encoder was in eval mode
    return model.classifier.eval()
