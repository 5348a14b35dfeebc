"""skelemix: self-supervised skeleton-based action recognition with SkeletonCLR, SkeleMixCLR and SkeleMixCLR+.

The Python API mirrors the command line:

    >>> import skelemix                                                       # doctest: +SKIP
    >>> skelemix.prepare_synthetic("prepared/synthetic")                      # skelemix prepare synthetic
    >>> config = skelemix.load_config(["synthetic", "skelemixclr"], ["train.epochs=5"])
    >>> run = skelemix.pretrain(config, "runs/synthetic")                     # skelemix pretrain
    >>> skelemix.evaluate("knn", run)["top1"]                                # skelemix evaluate knn

Names are imported on first use, so data preparation never pays for importing torch and Lightning.
"""

import importlib

__version__ = "0.1.0"

_HOMES = {
    "Config": "config", "load_config": "config",
    "PreparedDataset": "data", "Preprocessing": "data", "prepare_ntu": "data", "prepare_pku_mmd": "data",
    "prepare_pyskl": "data", "prepare_crossclr": "data", "prepare_numpy": "data", "prepare_nw_ucla": "data",
    "prepare_synthetic": "data", "export_pyskl": "data", "export_numpy": "data",
    "extract_features": "evaluation.features", "load_pretrained": "evaluation.features",
    "evaluate": "evaluation.protocols",
    "LAYOUTS": "layouts", "SkeletonLayout": "layouts", "get_layout": "layouts",
    "pretrain": "training",
}
__all__ = [*_HOMES, "__version__"]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'skelemix' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
