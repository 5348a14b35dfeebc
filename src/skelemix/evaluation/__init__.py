"""Evaluation protocols on frozen backbone features: kNN and linear classification."""

from .features import extract_features, load_pretrained, random_init
from .knn import knn_classify
from .linear import linear_probe

__all__ = ["extract_features", "load_pretrained", "random_init", "knn_classify", "linear_probe"]
