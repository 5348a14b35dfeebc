"""The built-in synthetic dataset: procedural NTU-25 skeleton motions, generated in seconds from a seed.

Twelve actions are built by rotating body segments of a rest skeleton about their joints (forward
kinematics) and keeping the lower foot on the ground. Each performer has their own height, arm and leg
proportions, handedness, amplitude and tempo; each sample draws its viewpoint (rotation about the
vertical axis, +-75 degrees, and a small camera tilt), speed, phase, length (40-100 frames) and sensor
noise (0.5-2 cm). Samples carry performer ids (``xsub``: performers in the first half train) and a
coarse view id from the yaw (``xview``: views 1 and 3 train, the frontal view 2 tests).

Example:
    >>> prepare_synthetic("prepared/synthetic", performers=8, repetitions=2)   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..layouts import NTU25
from .format import PrepareReport, RawSample, Sample, write_prepared
from .preprocess import Preprocessing

ACTIONS = ("wave", "clap", "kick", "squat", "jump", "bow", "punch", "turn around", "raise both hands",
           "march", "side bend", "arm circles")

_J = {name: i for i, name in enumerate(NTU25.joint_names)}
# rest pose of a 1.75 m performer facing the camera (-z); x is the performer's left, y is up; metres
_REST = {
    "spine_base": (0, 1.00, 0), "spine_mid": (0, 1.25, 0), "spine_shoulder": (0, 1.45, 0), "neck": (0, 1.52, 0),
    "head": (0, 1.65, 0.01), "left_shoulder": (0.18, 1.43, 0), "left_elbow": (0.20, 1.15, 0),
    "left_wrist": (0.21, 0.90, 0), "left_hand": (0.21, 0.83, 0), "left_hand_tip": (0.21, 0.76, 0),
    "left_thumb": (0.19, 0.82, -0.03), "left_hip": (0.09, 0.98, 0), "left_knee": (0.10, 0.55, 0),
    "left_ankle": (0.10, 0.10, 0), "left_foot": (0.10, 0.05, -0.10),
}
for _name, (_x, _y, _z) in list(_REST.items()):
    if _name.startswith("left_"):
        _REST["right_" + _name[5:]] = (-_x, _y, _z)
_FEET = [_J[n] for n in ("left_ankle", "left_foot", "right_ankle", "right_foot")]


def _kinematic_tree() -> tuple[np.ndarray, list[np.ndarray]]:
    """The NTU tree re-rooted at spine_base: parent of each joint and each joint's subtree."""
    v = NTU25.num_joints
    neighbours = [[] for _ in range(v)]
    for child, parent in NTU25.edges:
        neighbours[child].append(parent)
        neighbours[parent].append(child)
    root = _J["spine_base"]
    parent = np.full(v, root)
    order, stack = [], [root]
    while stack:
        joint = stack.pop()
        order.append(joint)
        for n in neighbours[joint]:
            if n != parent[joint] and n not in order:
                parent[n] = joint
                stack.append(n)
    subtree = [[j] for j in range(v)]
    for joint in reversed(order):
        if joint != root:
            subtree[parent[joint]] += subtree[joint]
    return parent, [np.array(s) for s in subtree]


_PARENT, _SUBTREE = _kinematic_tree()


def _rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    """(T,) radians -> (T, 3, 3) rotation matrices about a coordinate axis."""
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    rows = {
        "x": [[one, zero, zero], [zero, c, -s], [zero, s, c]],
        "y": [[c, zero, s], [zero, one, zero], [-s, zero, c]],
        "z": [[c, -s, zero], [s, c, zero], [zero, zero, one]],
    }[axis]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def _rotate_subtree(pose: np.ndarray, joint: str, axis: str, degrees: np.ndarray) -> None:
    """Rotate ``joint`` and everything below it about its parent joint, in place. pose: (T, V, 3)."""
    j = _J[joint]
    pivot = pose[:, _PARENT[j]][:, None]
    sub = _SUBTREE[j]
    pose[:, sub] = np.einsum("tij,tvj->tvi", _rotation(axis, np.radians(degrees)), pose[:, sub] - pivot) + pivot


def _motion(action: str, phase: np.ndarray, progress: np.ndarray, side: str) -> list[tuple[str, str, np.ndarray]]:
    """The rotations (joint, axis, degrees over time) of an action, in the order they apply."""
    other = "left" if side == "right" else "right"
    sign = {"left": 1.0, "right": -1.0}  # abduction and adduction turn opposite ways on the two sides
    up = np.maximum(0.0, np.sin(phase))
    down = np.maximum(0.0, -np.sin(phase))
    dip = (1 - np.cos(phase)) / 2
    both = ("left", "right")
    if action == "wave":
        return [(f"{side}_wrist", "z", sign[side] * 30 * np.sin(phase)), (f"{side}_elbow", "z", np.full_like(phase, sign[side] * 140))]
    if action == "clap":
        return [r for s in both for r in ((f"{s}_elbow", "x", np.full_like(phase, 80)), (f"{s}_elbow", "y", sign[s] * 22 * dip))]
    if action == "kick":
        return [(f"{side}_ankle", "x", -40 * up), (f"{side}_knee", "x", 75 * up**1.5)]
    if action == "squat":
        return [r for s in both for r in ((f"{s}_ankle", "x", -110 * dip), (f"{s}_knee", "x", 95 * dip),
                                          (f"{s}_elbow", "x", 80 * dip))]
    if action == "jump":
        return [r for s in both for r in ((f"{s}_ankle", "x", -40 * down), (f"{s}_knee", "x", 30 * down),
                                          (f"{s}_elbow", "z", sign[s] * 60 * up))]
    if action == "bow":
        return [("spine_mid", "x", -70 * dip)]
    if action == "punch":
        return [(f"{side}_wrist", "x", 110 * (1 - up)), (f"{side}_elbow", "x", 30 + 60 * up),
                (f"{other}_wrist", "x", 110 * (1 - down)), (f"{other}_elbow", "x", 30 + 60 * down)]
    if action == "turn around":
        return [("left_ankle", "x", -40 * up), ("left_knee", "x", 30 * up), ("right_ankle", "x", -40 * down),
                ("right_knee", "x", 30 * down), ("spine_mid", "y", 180 * progress), ("left_hip", "y", 180 * progress),
                ("right_hip", "y", 180 * progress)]
    if action == "raise both hands":
        return [(f"{s}_elbow", "x", 170 * dip) for s in both]
    if action == "march":
        return [("left_ankle", "x", -90 * up), ("left_knee", "x", 65 * up), ("right_ankle", "x", -90 * down),
                ("right_knee", "x", 65 * down), ("left_elbow", "x", 35 * np.sin(phase)),
                ("right_elbow", "x", -35 * np.sin(phase))]
    if action == "side bend":
        return [("spine_mid", "z", 30 * np.sin(phase))]
    if action == "arm circles":
        return [r for s in both for r in ((f"{s}_elbow", "x", 25 * np.cos(phase)),
                                          (f"{s}_elbow", "z", sign[s] * (90 + 25 * np.sin(phase))))]
    raise ValueError(f"unknown synthetic action {action!r}")


def draw_performer(rng: np.random.Generator, performer: int) -> dict:
    """One performer's body: a size, limb proportions and rest pose drawn from ``rng`` (the generator's own use, and
    the preparation benchmark's varied NTU-like files)."""
    scale = rng.uniform(1.5, 1.95) / 1.75
    limb = {"arm": rng.uniform(0.88, 1.12), "leg": rng.uniform(0.9, 1.1)}
    offsets = np.zeros((NTU25.num_joints, 3))
    for name, position in _REST.items():
        j = _J[name]
        factor = scale
        if any(k in name for k in ("elbow", "wrist", "hand", "thumb")):
            factor *= limb["arm"]
        elif any(k in name for k in ("knee", "ankle", "foot")):
            factor *= limb["leg"]
        offsets[j] = factor * (np.array(position) - np.array(_REST[NTU25.joint_names[_PARENT[j]]]))
    root = _J["spine_base"]
    rest = np.zeros_like(offsets)
    for j in sorted(range(NTU25.num_joints), key=lambda j: len(_path_to_root(j))):  # parents before children
        rest[j] = (0, _REST["spine_base"][1] * scale * limb["leg"], 0) if j == root else rest[_PARENT[j]] + offsets[j]
    return {"id": performer, "rest": rest, "side": "left" if rng.random() < 0.25 else "right",
            "amplitude": rng.uniform(0.8, 1.1), "tempo": rng.uniform(0.8, 1.25)}


def _path_to_root(joint: int) -> list[int]:
    path = [joint]
    while _PARENT[path[-1]] != path[-1]:
        path.append(_PARENT[path[-1]])
    return path


def synthesize(action: int, performer: dict, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """One sequence (1, T_valid, 25, 3) in camera coordinates, and its viewpoint yaw in degrees."""
    frames = int(rng.integers(40, 101))
    progress = np.linspace(0.0, 1.0, frames)
    cycles = rng.uniform(1.5, 3.0) * performer["tempo"]
    phase = 2 * np.pi * cycles * progress + rng.uniform(0, 2 * np.pi)
    amplitude = performer["amplitude"] * rng.uniform(0.75, 1.15)
    pose = np.repeat(performer["rest"][None], frames, axis=0)
    for joint, axis, degrees in _motion(ACTIONS[action], phase, progress, performer["side"]):
        _rotate_subtree(pose, joint, axis, amplitude * degrees)
    pose[:, :, 1] -= pose[:, _FEET, 1].min(axis=1, keepdims=True)  # keep the lower foot on the ground
    if ACTIONS[action] == "jump":
        pose[:, :, 1] += 0.25 * amplitude * np.maximum(0.0, np.sin(phase))[:, None]
    yaw = rng.uniform(-75, 75)
    camera = _rotation("x", np.radians(np.array([rng.uniform(-10, 10)])))[0] @ \
        _rotation("y", np.radians(np.array([yaw])))[0]
    pose = pose @ camera.T + np.array([rng.uniform(-1, 1), 0.0, rng.uniform(2.5, 4.0)])
    pose += rng.normal(0.0, rng.uniform(0.005, 0.02), size=pose.shape)
    return pose[None], yaw


def prepare_synthetic(out_dir: str | Path, performers: int = 16, repetitions: int = 5, frames: int = 64,
                      seed: int = 0) -> PrepareReport:
    """Generate len(ACTIONS) x performers x repetitions samples and write them as a prepared dataset."""
    if performers < 2 or repetitions < 1 or frames < 4:
        raise ValueError("need at least 2 performers, 1 repetition and 4 frames")
    rng = np.random.default_rng(seed)
    people = [draw_performer(rng, p + 1) for p in range(performers)]
    samples, sequences = [], []
    for person in people:
        for action in range(len(ACTIONS)):
            for repetition in range(repetitions):
                sequence, yaw = synthesize(action, person, rng)
                view = 1 if yaw < -25 else (3 if yaw > 25 else 2)
                name = f"P{person['id']:03d}A{action + 1:03d}R{repetition + 1:03d}"
                samples.append(Sample(name, action, person["id"], view, sequence.shape[1]))
                sequences.append(sequence)

    train_performers = performers // 2
    splits = {"xsub": lambda s: "train" if s.subject <= train_performers else "test",
              "xview": lambda s: "train" if s.view != 2 else "test"}
    # no rotation: the viewpoint is what the xview benchmark is about
    preprocessing = Preprocessing(frames=frames, centring="frame", rotate=False, persons=1)
    return write_prepared(out_dir, name="synthetic", layout=NTU25, class_names=ACTIONS,
                            items=list(zip(samples, sequences)), read=_as_raw, preprocessing=preprocessing,
                            splits=splits, info={"generator": {"seed": seed, "performers": performers,
                                                               "repetitions": repetitions}})


def _as_raw(item: RawSample) -> list[RawSample]:
    return [item]
