"""The paper's preprocessing of one sequence: keep the valid frames, centre, turn the shoulders, resize to T.

A sequence arrives as (M, T_raw, V, C=3) coordinates (absent bodies all zero) and leaves as (3, T, V, M)
float32, the per-sample slice of ``data.npy``. The steps, each an option with the paper's value as default:

1. valid frames: frames in which no body is present are dropped (zero-padding, tracking gaps);
2. centring ("frame"): subtract the centre joint (NTU: spine shoulder, 21) of the first present body in every
   frame; "body": each body its own centre joint in every frame (the reference code's NTU data); "first_frame"
   subtracts the first body's first-frame position only (pyskl style, keeps global motion); "none";
3. rotation (3D layouts, ``rotate``): turn the whole sequence about the vertical (y) axis so that the first body's
   left-to-right shoulder line in the first frame is parallel to +x (``rotation="first_frame"``); or, as the
   reference code does after resizing, turn every frame of every body by its own shoulder angle
   (``"every_frame"``, with the reference's sign rule: one sign for the whole sequence, from its summed z offset);
4. scaling ("none"): "minmax" maps each coordinate axis of the whole sequence to [-1, 1] by its minimum and
   maximum over the present joints and frames, as the field's NW-UCLA loaders (CTR-GCN, Shift-GCN) do; "torso"
   divides the coordinates by the first body's median torso length (shoulder midpoint to hip midpoint, over the
   frames that show all four joints), so that pixels of different cameras and distances become comparable;
5. resizing: linear interpolation of the valid frames to ``frames`` (64), the first and last kept exactly
   (``resize="align_corners"``), or at pixel centres as OpenCV's ``cv2.resize`` does in the reference code
   (``"half_pixel"``).

``Preprocessing.reference_ntu()`` is the reference code's NTU pipeline (``tools/ntu_gendata.py`` then
``feeder/preprocess_ntu.py``) at the paper's 64 frames.

Absent bodies stay exactly zero; for 2D layouts the score channel is never centred or rotated.

Example:
    >>> import numpy as np
    >>> seq = np.zeros((2, 20, 3)); seq[1] += 1.0
    >>> resize_frames(seq, 5)[:, 0, 0].tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from ..layouts import SkeletonLayout

CENTRING = ("frame", "body", "first_frame", "none")
ROTATIONS = ("first_frame", "every_frame")
SCALING = ("none", "minmax", "torso")
RESIZING = ("align_corners", "half_pixel")


@dataclass(frozen=True)
class Preprocessing:
    """Options of :func:`preprocess`; ``persons`` is M of the prepared array."""

    frames: int = 64
    centring: str = "frame"
    rotate: bool = True
    persons: int = 2
    scale: str = "none"
    rotation: str = "first_frame"
    resize: str = "align_corners"

    def __post_init__(self) -> None:
        for name, allowed in (("centring", CENTRING), ("scale", SCALING), ("rotation", ROTATIONS),
                              ("resize", RESIZING)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.frames < 1 or self.persons < 1:
            raise ValueError(f"frames and persons must be positive, got {self.frames} and {self.persons}")

    @classmethod
    def reference_ntu(cls, frames: int = 64) -> Preprocessing:
        """The reference code's NTU preprocessing: each body centred on its own spine shoulder in every frame,
        cv2-style resizing, then every frame turned by its own shoulder angle."""
        return cls(frames, centring="body", rotate=True, persons=2, rotation="every_frame", resize="half_pixel")

    def for_layout(self, layout: SkeletonLayout) -> Preprocessing:
        """The options as they apply to ``layout``: a 2D layout has no vertical axis to rotate about."""
        if layout.spatial_channels == 2 and self.rotate:
            return replace(self, rotate=False)
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def resize_frames(sequence: np.ndarray, frames: int, mode: str = "align_corners") -> np.ndarray:
    """Linearly interpolate (T_valid, ...) to (frames, ...). ``align_corners``: output frame i samples input
    position i (T_valid - 1) / (frames - 1), so the first and last frames are kept exactly; ``half_pixel``: position
    (i + 0.5) T_valid / frames - 0.5, clamped to the sequence (OpenCV's linear resize).

    A single frame is repeated; an empty sequence is an error.
    """
    t = sequence.shape[0]
    if t == 0:
        raise ValueError("the sequence has no frames")
    if t == 1:
        return np.repeat(sequence, frames, axis=0)
    if mode == "half_pixel":
        position = ((np.arange(frames) + 0.5) * t / frames - 0.5).clip(0, t - 1)
    else:
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

    if options.scale == "torso":
        torso = torso_length(bodies[present[:, 0].argmax()], layout)  # before centring moves a joint to zero

    if options.centring == "body":
        bodies[..., space] -= bodies[:, :, layout.centre, None, space]
    elif options.centring != "none":
        first_present = present.argmax(axis=0)  # (T,) the body each frame is centred on
        centre = bodies[first_present, np.arange(bodies.shape[1]), layout.centre, space]  # (T, S)
        if options.centring == "first_frame":
            centre = np.broadcast_to(centre[:1], centre.shape)
        bodies[..., space] -= centre[None, :, None, :]
    if options.rotate and options.rotation == "first_frame":
        left, right = layout.shoulders
        first = bodies[present[:, 0].argmax(), 0]
        dx, _, dz = first[right] - first[left]
        angle = np.arctan2(dz, dx)
        cos, sin = np.cos(angle), np.sin(angle)
        x, z = bodies[..., 0].copy(), bodies[..., 2].copy()
        bodies[..., 0], bodies[..., 2] = cos * x + sin * z, -sin * x + cos * z
    if options.scale == "minmax":
        coordinates = bodies[..., space][present]  # (present body-frames, V, S)
        low, high = coordinates.min(axis=(0, 1)), coordinates.max(axis=(0, 1))
        bodies[..., space] = 2 * (bodies[..., space] - low) / np.where(high > low, high - low, 1.0) - 1
    elif options.scale == "torso":
        bodies[..., space] /= torso
    bodies[~present] = 0.0

    out = np.zeros((3, options.frames, layout.num_joints, options.persons), dtype=np.float32)
    for m, body in enumerate(bodies):
        body = resize_frames(body, options.frames, options.resize)
        if options.rotate and options.rotation == "every_frame":
            body = rotate_every_frame(body, layout.shoulders)
        out[..., m] = body.transpose(2, 0, 1)
    return out


def torso_length(body: np.ndarray, layout: SkeletonLayout) -> float:
    """Median over the frames of (T, V, 3) of the distance from the shoulders' midpoint to the hips' (spatial
    channels), counting only frames where all four joints are seen (a 2D layout: score > 0; 3D: not all zero).
    ValueError when no frame shows them."""
    joints = list(layout.shoulders) + list(layout.hips)
    if layout.spatial_channels == 2:
        seen = (body[:, joints, 2] > 0).all(axis=1)
    else:
        seen = (np.abs(body[:, joints]).sum(axis=2) > 0).all(axis=1)
    space = body[seen][..., :layout.spatial_channels]  # (frames seen, V, S)
    lengths = np.linalg.norm(space[:, list(layout.shoulders)].mean(axis=1) - space[:, list(layout.hips)].mean(axis=1),
                             axis=1)
    if not len(lengths) or np.median(lengths) <= 0:
        raise ValueError("scale torso: no frame shows both shoulders and both hips")
    return float(np.median(lengths))


def rotate_every_frame(body: np.ndarray, shoulders: tuple[int, int]) -> np.ndarray:
    """(T, V, 3) -> (T, V, 3): each frame turned about y by its own angle between the left-to-right shoulder line
    (y ignored) and +x, as the reference code's ``parallel_skeleton``: the angle's sign is the same for every frame,
    negative unless the shoulders' z offsets sum to a negative number, so a frame turned the other way from the
    sequence's majority is not aligned. An all-zero (absent) frame stays zero."""
    left, right = shoulders
    offset = body[:, right] - body[:, left]  # (T, 3)
    length = np.hypot(offset[:, 0], offset[:, 2])
    theta = np.arccos(offset[:, 0] / (length + 1e-4))  # the reference's guard against a zero length
    if offset[:, 2].sum() >= 0:
        theta = -theta
    cos, sin = np.cos(theta)[:, None], np.sin(theta)[:, None]
    x, z = body[..., 0], body[..., 2]
    turned = body.copy()
    turned[..., 0], turned[..., 2] = cos * x - sin * z, sin * x + cos * z
    return turned
