"""The skeleton graph of the ST-GCN encoder: three partitions, (3, V, V) float32, in one of two normalisations.

``A[k, j, i]`` is the weight with which joint j's features reach joint i in partition k.

- ``stgcn`` (default): the spatial strategy of ST-GCN (Yan et al., AAAI 2018): the joint itself; messages from
  neighbours at least as far from the centre joint as the receiving joint; messages from neighbours closer to it;
  each a part of the column-normalised adjacency of the bone graph with self-loops, 1 / (degree + 1).
- ``reference``: the graph of the SkeletonCLR / SkeleMixCLR code (``net/utils/ntu_rgb_d.py``, from 2s-AGCN): the
  identity; each parent to its children with weight 1; each child to its parent with weight 1 / (the parent's
  number of children). Pretrained checkpoints of that code need it.

Example:
    >>> from skelemix.layouts import get_layout
    >>> adjacency(get_layout("ntu25"), "reference").shape
    (3, 25, 25)
"""

from __future__ import annotations

import numpy as np

from .layouts import SkeletonLayout


def hop_distance(layout: SkeletonLayout) -> np.ndarray:
    """(V, V) shortest path lengths along bones (breadth-first search from every joint)."""
    v = layout.num_joints
    neighbours: list[list[int]] = [[] for _ in range(v)]
    for child, parent in layout.edges:
        neighbours[child].append(parent)
        neighbours[parent].append(child)
    dist = np.full((v, v), np.inf)
    for source in range(v):
        dist[source, source] = 0
        frontier = [source]
        while frontier:
            nxt = []
            for joint in frontier:
                for n in neighbours[joint]:
                    if dist[source, n] == np.inf:
                        dist[source, n] = dist[source, joint] + 1
                        nxt.append(n)
            frontier = nxt
    return dist


def spatial_adjacency(layout: SkeletonLayout) -> np.ndarray:
    """(3, V, V) partitioned, normalised adjacency of the spatial strategy."""
    dist = hop_distance(layout)
    adjacency = (dist <= 1).astype(np.float64)
    normalised = adjacency / adjacency.sum(axis=0, keepdims=True)  # column-normalise: A D^-1
    to_centre = dist[:, layout.centre]
    neighbour = dist == 1
    # entry [j, i]: joint j sends to joint i. Inward: j lies no closer to the centre than i.
    inward = neighbour & (to_centre[:, None] >= to_centre[None, :])
    outward = neighbour & (to_centre[:, None] < to_centre[None, :])
    partitions = [
        np.where(dist == 0, normalised, 0.0),
        np.where(inward, normalised, 0.0),
        np.where(outward, normalised, 0.0),
    ]
    return np.stack(partitions).astype(np.float32)


def reference_adjacency(layout: SkeletonLayout) -> np.ndarray:
    """(3, V, V): identity, parent -> child (weight 1), child -> parent (1 / number of children), as the reference
    code builds it from its list of (child, parent) bones."""
    v = layout.num_joints
    parent_to_child, child_to_parent = np.zeros((v, v)), np.zeros((v, v))
    for child, parent in layout.edges:
        parent_to_child[parent, child] = 1.0
        child_to_parent[child, parent] = 1.0
    children = child_to_parent.sum(axis=0)  # the reference divides every column by its sum
    child_to_parent /= np.where(children > 0, children, 1.0)
    return np.stack([np.eye(v), parent_to_child, child_to_parent]).astype(np.float32)


GRAPHS = {"stgcn": spatial_adjacency, "reference": reference_adjacency}


def adjacency(layout: SkeletonLayout, normalisation: str = "stgcn") -> np.ndarray:
    """The (3, V, V) partitioned adjacency of ``layout`` in the named normalisation (``GRAPHS``)."""
    try:
        return GRAPHS[normalisation](layout)
    except KeyError:
        raise ValueError(f"graph normalisation must be one of {', '.join(GRAPHS)}, got {normalisation!r}") from None
