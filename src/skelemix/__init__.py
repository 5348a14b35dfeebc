"""skelemix: self-supervised skeleton-based action recognition with SkeletonCLR, SkeleMixCLR and SkeleMixCLR+.

The Python API mirrors the command line:

    >>> import skelemix                                                       # doctest: +SKIP
    >>> skelemix.prepare_synthetic("prepared/synthetic")                      # skelemix prepare synthetic
    >>> config = skelemix.load_config(["synthetic", "skelemixclr"], ["train.epochs=5"])
    >>> run = skelemix.pretrain(config, "runs/synthetic")                     # skelemix pretrain
    >>> skelemix.evaluate("knn", run)["top1"]                                # skelemix evaluate knn
"""

from .config import Config, load_config
from .data import PreparedDataset, prepare_nw_ucla, prepare_synthetic
from .evaluation.features import extract_features, load_pretrained
from .evaluation.protocols import evaluate
from .layouts import LAYOUTS, SkeletonLayout, get_layout
from .training import pretrain

__version__ = "0.1.0"
__all__ = ["Config", "load_config", "PreparedDataset", "prepare_nw_ucla", "prepare_synthetic", "extract_features",
           "load_pretrained", "evaluate", "LAYOUTS", "SkeletonLayout", "get_layout", "pretrain", "__version__"]
