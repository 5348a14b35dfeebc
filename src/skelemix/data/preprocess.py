"""The paper's preprocessing of one sequence: keep the valid frames, centre, turn the shoulders, resize to T.

A sequence arrives as (M, T_raw, V, C=3) coordinates (absent bodies all zero) and leaves as (3, T, V, M)
float32, the per-sample slice of ``data.npy``. The steps, each an option with the paper's value as default:

1. valid frames: frames in which no body is present are dropped (zero-padding, tracking gaps);
2. centring ("frame"): subtract the centre joint (NTU: spine shoulder, 21) of the first present body in every
   frame; "first_frame" subtracts its first-frame position only (pyskl style, keeps global motion); "none";
3. rotation (3D layouts): turn the whole sequence about the vertical (y) axis so that the first body's
   left-to-right shoulder line in the first frame is parallel to +x;
4. resizing: linear interpolation of the valid frames to ``frames`` (64).

Absent bodies stay exactly zero; for 2D layouts the score channel is never centred or rotated.

Example:
    >>> import numpy as np
    >>> seq = np.zeros((2, 20, 3)); seq[1] += 1.0
    >>> resize_frames(seq, 5)[:, 0, 0].tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..layouts import SkeletonLayout

CENTRING = ("frame", "first_frame", "none")


@dataclass(frozen=True)
class Preprocessing:
    """Options of :func:`preprocess`; ``persons`` is M of the prepared array."""

    frames: int = 64
    centring: str = "frame"
    rotate: bool = True
    persons: int = 2

    def __post_init__(self) -> None:
        if self.centring not in CENTRING:
            raise ValueError(f"centring must be one of {', '.join(CENTRING)}, got {self.centring!r}")
        if self.frames < 1 or self.persons < 1:
            raise ValueError(f"frames and persons must be positive, got {self.frames} and {self.persons}")

    def for_layout(self, layout: SkeletonLayout) -> Preprocessing:
        """The options as they apply to ``layout``: a 2D layout has no vertical axis to rotate about."""
        if layout.spatial_channels == 2 and self.rotate:
            return Preprocessing(self.frames, self.centring, False, self.persons)
        return self

    def to_dict(self) -> dict:
        return asdict(self)


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


def present_bodies(bodies: np.ndarray) -> np.ndarray:
    """(M, T, V, C) -> (M, T) bool: the body has a non-zero coordinate in that frame."""
    return np.abs(bodies).sum(axis=(2, 3)) > 0


def valid_frame_count(bodies: np.ndarray) -> int:
    """How many frames of (M, T, V, C) have at least one body: the ``frames`` column of samples.csv."""
    return int(present_bodies(bodies).any(axis=0).sum())


def preprocess(bodies: np.ndarray, layout: SkeletonLayout, options: Preprocessing = Preprocessing()) -> np.ndarray:
    """(M_in, T_raw, V, 3) -> (3, options.frames, V, options.persons) float32.

    Bodies beyond ``options.persons`` are dropped; missing ones stay zero. Raises ValueError (with the
    problem, not the file: callers add that) on a wrong shape, no frames or non-finite values.
    """
    options = options.for_layout(layout)
    if bodies.ndim != 4 or bodies.shape[-1] != 3:
        raise ValueError(f"expected (M, T, V, 3) coordinates, got shape {bodies.shape}")
    if bodies.shape[2] != layout.num_joints:
        raise ValueError(f"{bodies.shape[2]} joints, but layout {layout.name} has {layout.num_joints}")
    if not np.isfinite(bodies).all():
        raise ValueError("the sequence contains NaN or infinite values")
    bodies = bodies[:options.persons].astype(np.float64)
    present = present_bodies(bodies)
    valid = present.any(axis=0)
    if not valid.any():
        raise ValueError("the sequence has no frames with a skeleton")
    bodies, present = bodies[:, valid], present[:, valid]
    space = slice(0, layout.spatial_channels)

    if options.centring != "none":
        first_present = present.argmax(axis=0)  # (T,) the body each frame is centred on
        centre = bodies[first_present, np.arange(bodies.shape[1]), layout.centre, space]  # (T, S)
        if options.centring == "first_frame":
            centre = np.broadcast_to(centre[:1], centre.shape)
        bodies[..., space] -= centre[None, :, None, :]
    if options.rotate:
        left, right = layout.shoulders
        first = bodies[present[:, 0].argmax(), 0]
        dx, _, dz = first[right] - first[left]
        angle = np.arctan2(dz, dx)
        cos, sin = np.cos(angle), np.sin(angle)
        x, z = bodies[..., 0].copy(), bodies[..., 2].copy()
        bodies[..., 0], bodies[..., 2] = cos * x + sin * z, -sin * x + cos * z
    bodies[~present] = 0.0

    out = np.zeros((3, options.frames, layout.num_joints, options.persons), dtype=np.float32)
    for m, body in enumerate(bodies):
        out[..., m] = resize_frames(body, options.frames).transpose(2, 0, 1)
    return out
