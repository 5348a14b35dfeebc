"""Networks: the ST-GCN encoder and the projection head."""

from .projection import ProjectionHead
from .stgcn import STGCN

__all__ = ["STGCN", "ProjectionHead"]
