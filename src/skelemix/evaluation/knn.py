"""Weighted k-nearest-neighbour classification (Wu et al., 2018), the field's kNN protocol.

Cosine similarity between L2-normalised features; each of the k nearest training samples votes for its
class with weight exp(similarity / temperature). Defaults k=20, temperature 0.1. The weights are computed relative
to the nearest neighbour's, exp((similarity - nearest) / temperature), which scales a query's votes by one positive
number (the ranking and the vote shares stay those of the formula) and cannot overflow at any temperature > 0.

Example:
    >>> import torch
    >>> train = torch.tensor([[1., 0.], [0., 1.]]); labels = torch.tensor([0, 1])
    >>> knn_classify(train, labels, torch.tensor([[0.9, 0.1]]), num_classes=2, k=1).tolist()
    [[0, 1]]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def knn_scores(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
               num_classes: int, k: int = 20, temperature: float = 0.1, chunk: int = 1024) -> torch.Tensor:
    """(N_test, num_classes) summed vote weights, the nearest neighbour's weight 1; k larger than the training set
    counts every training sample."""
    if not temperature > 0 or k < 1:
        raise ValueError(f"kNN needs k >= 1 and a temperature > 0, got k={k}, temperature={temperature}")
    train = F.normalize(train_features.float(), dim=1)
    test = F.normalize(test_features.float(), dim=1)
    k = min(k, len(train))
    scores = []
    for block in test.split(chunk):
        similarity, neighbour = (block @ train.T).topk(k, dim=1)
        votes = torch.zeros(len(block), num_classes, device=block.device)
        votes.scatter_add_(1, train_labels[neighbour], ((similarity - similarity[:, :1]) / temperature).exp())
        scores.append(votes)
    return torch.cat(scores)


def knn_classify(train_features, train_labels, test_features, num_classes: int, k: int = 20,
                 temperature: float = 0.1) -> torch.Tensor:
    """(N_test, num_classes) class ranking, best first."""
    scores = knn_scores(train_features, train_labels, test_features, num_classes, k, temperature)
    return scores.argsort(dim=1, descending=True)
