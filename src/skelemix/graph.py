"""The ST-GCN skeleton graph with the spatial partition strategy (Yan et al., AAAI 2018).

``spatial_adjacency(layout)`` returns A of shape (3, V, V), float32: the three partitions
(the joint itself; messages from neighbours at least as far from the centre joint as the
receiving joint; messages from neighbours closer to it), built from the column-normalised adjacency of the bone graph with self-loops.
``A[k, j, i]`` is the weight with which joint j's features reach joint i in partition k.

Example:
    >>> from skelemix.layouts import get_layout
    >>> spatial_adjacency(get_layout("ntu25")).shape
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
