"""Linear evaluation: a linear classifier on frozen backbone features, trained with Lightning.

The encoder is frozen and sees un-augmented sequences in eval mode, so its features are computed once and
the classifier trains on them: the same model as training the classifier on top of the frozen network, at
a fraction of the cost. Features are standardised with the training set's per-dimension mean and standard
deviation (an affine map, so the classifier stays linear in the features): without it lr 3.0 diverges on
encoders whose features are large, e.g. a randomly initialised one, and the comparison would be meaningless.
The settings are the config's ``eval.linear`` (``config.LinearEval``: the paper's SGD, lr 3.0, 100 epochs, x0.1 at
epoch 80, by default). The reported accuracy is the final epoch's, never a best-on-test pick. The reference code's
probe is ``standardize=False, head_init="reference"``: raw features and a head drawn from N(0, 0.02) with a zero
bias.

Example:
    >>> scores, head, mean, std = linear_probe(train_x, train_y, test_x, num_classes=10)   # doctest: +SKIP
    >>> linear_probe(train_x, train_y, test_x, 10, LinearEval(epochs=20, lr=0.1))          # doctest: +SKIP
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ..config import LinearEval
from ..models.stgcn import reference_init_


class LinearClassifier(L.LightningModule):
    def __init__(self, in_features: int, num_classes: int, lr: float, momentum: float, weight_decay: float,
                 milestones: list[int]):
        super().__init__()
        self.save_hyperparameters()
        self.head = nn.Linear(in_features, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def training_step(self, batch, batch_index):
        features, labels = batch
        loss = F.cross_entropy(self(features), labels)
        self.log("linear/loss", loss, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def configure_optimizers(self):
        hp = self.hparams
        optimizer = torch.optim.SGD(self.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay)
        return [optimizer], [torch.optim.lr_scheduler.MultiStepLR(optimizer, hp.milestones, 0.1)]


def linear_probe(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                 num_classes: int, settings: LinearEval = LinearEval(), seed: int = 0, logger=False,
                 progress: bool = False) -> tuple[torch.Tensor, nn.Linear, torch.Tensor, torch.Tensor]:
    """Train on (N, D) features with ``settings`` (the config's ``eval.linear``); return the test probabilities
    (N_test, num_classes) after the final epoch, the trained head and the standardisation's mean and std (D,); zeros
    and ones without ``settings.standardize``."""
    L.seed_everything(seed, verbose=False)
    train_features, test_features = train_features.float(), test_features.float()
    dim = train_features.shape[1]
    mean, std = torch.zeros(dim), torch.ones(dim)
    if settings.standardize:
        mean, std = train_features.mean(dim=0), train_features.std(dim=0).clamp_min(1e-6)
    train_features, test_features = (train_features - mean) / std, (test_features - mean) / std
    model = LinearClassifier(dim, num_classes, settings.lr, settings.momentum, settings.weight_decay,
                             list(settings.milestones))
    if settings.head_init == "reference":
        reference_init_(model.head)
    elif settings.head_init != "pytorch":
        raise ValueError(f"head_init must be pytorch or reference, got {settings.head_init!r}")
    loader = DataLoader(TensorDataset(train_features, train_labels), batch_size=settings.batch_size, shuffle=True)
    trainer = L.Trainer(max_epochs=settings.epochs, accelerator="cpu", logger=logger, enable_checkpointing=False,
                        enable_progress_bar=progress, enable_model_summary=False, log_every_n_steps=1)
    trainer.fit(model, loader)
    with torch.inference_mode():
        return model(test_features).softmax(dim=1), model.head, mean, std
