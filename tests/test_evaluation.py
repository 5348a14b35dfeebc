"""kNN voting by hand and the linear protocol on features whose answer is known."""

import math

import numpy as np

import pytest
import torch

from skelemix.evaluation.knn import knn_scores
from skelemix.evaluation.results import top_k_accuracy
from skelemix.config import LinearEval
from skelemix.evaluation.linear import linear_probe


def test_knn_weighted_vote_by_hand():
    train = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    test = torch.tensor([[2.0, 0.0]])  # normalised to (1, 0); similarities 1.0, 0.8, 0.0
    # weights exp(s / t) divided by the nearest neighbour's exp(1.0 / t): the formula's votes, scaled by one number
    scores = knn_scores(train, labels, test, num_classes=2, k=2, temperature=0.1)
    assert scores[0].tolist() == pytest.approx([math.exp(10.0), math.exp(8.0)] / np.float64(math.exp(10.0)), rel=1e-5)
    scores = knn_scores(train, labels, test, num_classes=3, k=3, temperature=0.5)
    expected = np.array([math.exp(2.0), math.exp(1.6) + 1.0, 0.0]) / math.exp(2.0)
    assert scores[0].tolist() == pytest.approx(expected.tolist(), rel=1e-5)


def test_knn_votes_stay_finite_at_any_temperature():
    train = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    test = torch.tensor([[1.0, 0.05], [0.0, 1.0]])
    scores = knn_scores(train, labels, test, num_classes=2, k=3, temperature=1e-4)  # exp(1 / 1e-4) overflows
    assert torch.isfinite(scores).all() and scores.argmax(dim=1).tolist() == [0, 1]
    with pytest.raises(ValueError, match="temperature > 0"):
        knn_scores(train, labels, test, num_classes=2, temperature=0.0)


def test_top_k_accuracy():
    ranking = torch.tensor([[0, 1, 2], [2, 1, 0], [1, 0, 2]])
    labels = torch.tensor([0, 1, 2])
    assert top_k_accuracy(ranking, labels, 1) == pytest.approx(100 / 3)
    assert top_k_accuracy(ranking, labels, 2) == pytest.approx(200 / 3)


def test_linear_probe_learns_separable_classes_at_any_feature_scale():
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 16, generator=generator) * 3
    labels = torch.arange(4).repeat(30)
    features = (centres[labels] + torch.randn(120, 16, generator=generator)) * 1000  # huge, like random encoders
    scores, *_ = linear_probe(features[:80], labels[:80], features[80:], num_classes=4,
                              settings=LinearEval(epochs=20, milestones=[15]))
    assert scores.shape == (40, 4)
    assert torch.allclose(scores.sum(dim=1), torch.ones(40))
    assert (scores.argmax(dim=1) == labels[80:]).float().mean() > 0.9
