"""kNN voting by hand and the linear protocol on features whose answer is known."""

import math

import numpy as np

import pytest
import torch

from skelemix.evaluation.knn import knn_scores
from skelemix.evaluation.results import top_k_accuracy
from skelemix.config import LinearEval
from skelemix.evaluation.cross_validation import cross_validated_scores, training_folds
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


def test_folds_are_the_training_subjects_or_class_balanced_clips():
    subjects = torch.tensor([9, 3, 3, 5, 1, 7, 9, 5])
    folds, by = training_folds(subjects, torch.zeros(8, dtype=torch.long), 5)
    assert by == "subject" and folds.tolist() == [4, 1, 1, 2, 0, 3, 4, 2]  # ranks of 1 3 5 7 9
    folds, by = training_folds(torch.tensor([2, 8, 8, 2]), torch.zeros(4, dtype=torch.long), 5)
    assert by == "subject" and folds.tolist() == [0, 1, 1, 0]  # two subjects are enough to leave one out
    labels = torch.tensor([0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0])  # 8 clips of class 0, 4 of class 1, one subject
    folds, by = training_folds(torch.zeros(12, dtype=torch.long), labels, 5)
    assert by == "clip" and folds.tolist() == [0, 1, 0, 2, 1, 3, 4, 2, 3, 0, 1, 2]
    assert [int((labels[folds == f] == 1).sum()) for f in range(5)] == [1, 1, 1, 1, 0]


def test_a_clip_is_scored_by_a_probe_that_never_saw_its_subject():
    # Three well-separated classes over five subjects, but class 2 only ever performed by subject 4: on subject 4's
    # fold no probe has seen class 2, so exactly its 6 clips of class 2 are missed and every other clip is right.
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 8, generator=generator) * 10
    labels = torch.tensor([0, 1] * 20 + [2] * 6)
    subjects = torch.cat([torch.arange(5).repeat_interleave(8), torch.full((6,), 4)])
    features = centres[labels] + torch.randn(46, 8, generator=generator)
    folds, by = training_folds(subjects, labels, 5)
    scores = cross_validated_scores(features, labels, folds, 3, LinearEval(epochs=20, milestones=[15]))
    assert by == "subject" and scores.shape == (46, 3)
    wrong = scores.argmax(dim=1) != labels
    assert wrong.nonzero().flatten().tolist() == list(range(40, 46))
    with pytest.raises(ValueError, match="at least two folds"):
        cross_validated_scores(features, labels, torch.zeros(46, dtype=torch.long), 3, LinearEval(epochs=1))
