"""Datasets: the prepared format, preprocessing, readers of raw datasets, the synthetic generator and streams."""

from .format import DatasetError, PreparedDataset, Sample, write_prepared
from .nw_ucla import prepare_nw_ucla
from .streams import STREAMS, to_stream
from .synthetic import prepare_synthetic

__all__ = ["DatasetError", "PreparedDataset", "Sample", "write_prepared", "prepare_nw_ucla", "prepare_synthetic",
           "STREAMS", "to_stream"]
