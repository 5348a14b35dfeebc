"""Datasets: the prepared format, preprocessing, readers of raw and foreign datasets, the synthetic generator, streams.

Names are imported on first use: preparing data needs numpy only, streams need torch.
"""

import importlib

_HOMES = {
    "DatasetError": "format", "PreparedDataset": "format", "PrepareReport": "format", "Sample": "format",
    "write_prepared": "format", "Preprocessing": "preprocess",
    "prepare_ntu": "ntu", "prepare_pku_mmd": "pku_mmd", "prepare_pyskl": "pyskl", "export_pyskl": "pyskl",
    "prepare_crossclr": "arrays", "prepare_numpy": "arrays", "export_numpy": "arrays",
    "prepare_nw_ucla": "nw_ucla", "prepare_msr_action3d": "msr_action3d", "prepare_utkinect": "utkinect",
    "prepare_synthetic": "synthetic", "STREAMS": "streams", "to_stream": "streams",
}
__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'skelemix.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
