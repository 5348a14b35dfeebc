"""The paper's preprocessing of one sequence: centring and resizing the valid frames to T.

A sequence is (T_valid, V, 3) for one person or (M, T_valid, V, 3); the result is (3, T, V, M) float32,
the per-sample slice of ``data.npy``.

Example:
    >>> import numpy as np
    >>> seq = np.zeros((2, 20, 3)); seq[1] += 1.0
    >>> resize_frames(seq, 5)[:, 0, 0].tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
"""

from __future__ import annotations

import numpy as np

CENTRING = ("frame", "first_frame")


def resize_frames(sequence: np.ndarray, frames: int) -> np.ndarray:
    """Linearly interpolate (T_valid, ...) to (frames, ...); the first and last frames are kept exactly.

    A single frame is repeated; an empty sequence is an error.
    """
    t = sequence.shape[0]
    if t == 0:
        raise ValueError("the sequence has no frames")
    if t == 1:
        return np.repeat(sequence, frames, axis=0)
    position = np.linspace(0.0, t - 1, frames)
    left = np.floor(position).astype(int).clip(max=t - 2)
    weight = (position - left).reshape(-1, *([1] * (sequence.ndim - 1)))
    return (1 - weight) * sequence[left] + weight * sequence[left + 1]


def preprocess(bodies: np.ndarray, centre_joint: int, frames: int, persons: int,
               centring: str = "frame") -> np.ndarray:
    """(M_in, T_valid, V, 3) -> (3, frames, V, persons) float32.

    centring "frame": subtract the first body's centre joint in every frame (the paper);
    "first_frame": subtract it as it is in the first frame only (pyskl style, keeps global motion).
    Bodies beyond ``persons`` are dropped; missing ones stay zero. Raises ValueError on empty or
    non-finite input.
    """
    if centring not in CENTRING:
        raise ValueError(f"centring must be one of {CENTRING}, got {centring!r}")
    if bodies.ndim != 4 or bodies.shape[-1] != 3:
        raise ValueError(f"expected (M, T, V, 3) coordinates, got shape {bodies.shape}")
    if bodies.shape[1] == 0:
        raise ValueError("the sequence has no frames")
    if not np.isfinite(bodies).all():
        raise ValueError("the sequence contains NaN or infinite coordinates")
    bodies = bodies[:persons].astype(np.float64)
    centre = bodies[0, :, centre_joint, :]  # (T, 3)
    if centring == "first_frame":
        centre = np.broadcast_to(centre[:1], centre.shape)
    present = np.abs(bodies).sum(axis=(2, 3), keepdims=True) > 0  # absent bodies stay exactly zero
    centred = np.where(present, bodies - centre[None, :, None, :], 0.0)
    out = np.zeros((3, frames, bodies.shape[2], persons), dtype=np.float32)
    for m, body in enumerate(centred):
        out[..., m] = resize_frames(body, frames).transpose(2, 0, 1)
    return out
