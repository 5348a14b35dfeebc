"""Compare encoders on training data alone: the linear probe cross-validated over the training split.

Choosing between two pretrainings (your clips alone or pooled with public ones, one recipe option or another) by
their test accuracy tunes on the test split. Here the linear probe is trained on all training folds but one and
scores the clips of that one, for each fold in turn: every training clip gets a score from a probe that never saw
it. The folds are the training split's subjects (leave one subject out), so that a subject's clips never inform
their own scores. A split that records a single subject (pose-estimator clips labelled without a subject column)
is cut into the config's ``eval.cv.folds`` (5) class-balanced folds of clips instead.

Shapes: features (N, D), labels (N,), subjects (N,) -> folds (N,) in [0, F); out-of-fold scores (N, classes).

Example:
    >>> training_folds(torch.tensor([7, 7, 3, 9, 3]), torch.tensor([0, 1, 0, 1, 1]), folds=5)
    (tensor([1, 1, 0, 2, 0]), 'subject')
    >>> training_folds(torch.tensor([0, 0, 0, 0, 0]), torch.tensor([0, 1, 0, 1, 1]), folds=2)
    (tensor([0, 0, 1, 1, 0]), 'clip')
"""

from __future__ import annotations

import torch

from ..config import LinearEval
from .linear import linear_probe


def training_folds(subjects: torch.Tensor, labels: torch.Tensor, folds: int) -> tuple[torch.Tensor, str]:
    """Fold id per clip (N,) and what the folds are: its subject's rank among the subjects if there are two or more
    ("subject"), else the clip's rank within its class modulo ``folds`` ("clip": each class spread over the
    folds)."""
    distinct = torch.unique(subjects)
    if len(distinct) >= 2:
        return torch.searchsorted(distinct, subjects), "subject"
    rank_in_class = torch.empty_like(labels)
    for label in torch.unique(labels):
        members = (labels == label).nonzero().flatten()
        rank_in_class[members] = torch.arange(len(members))
    return rank_in_class % folds, "clip"


def cross_validated_scores(features: torch.Tensor, labels: torch.Tensor, folds: torch.Tensor, num_classes: int,
                           probe: LinearEval, seed: int = 0) -> torch.Tensor:
    """Class probabilities (N, classes) of every clip from the linear probe trained on the other folds."""
    if len(torch.unique(folds)) < 2:
        raise ValueError("cross-validation needs at least two folds of training clips")
    scores = torch.empty(len(labels), num_classes)
    for fold in torch.unique(folds):
        held = folds == fold
        scores[held], *_ = linear_probe(features[~held], labels[~held], features[held], num_classes, probe,
                                        seed=seed)
    return scores
