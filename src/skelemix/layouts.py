"""Skeleton layouts as data: joint names, the kinematic tree, centre and shoulder joints, the five body parts.

A layout is plain data; everything that depends on the skeleton (the ST-GCN graph, the bone stream,
SkeleMix's body parts, centring) reads it from here. Adding a layout means adding one entry to
``LAYOUTS`` and nothing else.

Joint numbers in the tables below are 1-based, as in the datasets' own documentation; the
``SkeletonLayout`` fields are 0-based.

Example:
    >>> layout = get_layout("ntu25")
    >>> layout.num_joints, layout.joint_names[layout.centre]
    (25, 'spine_shoulder')
    >>> layout.parents[0]          # spine_base hangs from spine_mid
    1
"""

from __future__ import annotations

from dataclasses import dataclass

BODY_PARTS = ("trunk", "left_arm", "right_arm", "left_leg", "right_leg")


@dataclass(frozen=True)
class SkeletonLayout:
    """One skeleton convention (0-based joint indices).

    Attributes:
        name: registry key.
        joint_names: V names, in the order joints are stored.
        parents: V parent indices; the centre joint is its own parent.
        centre: the joint each frame is centred on and the ST-GCN graph's centre.
        parts: the five SkeleMix body parts, name -> joint indices (together they cover every joint once).
        shoulders: (left, right) shoulder joints; preprocessing turns the line between them parallel to x.
        hips: (left, right) hip joints; with the shoulders they give the torso length that ``scale="torso"``
            divides by (pixels of different cameras and distances become comparable).
        channels: what the C=3 stored channels hold: ("x", "y", "z") for 3D layouts (y vertical), or
            ("x", "y", "score") for 2D pose estimates, whose third channel is a confidence, not a coordinate.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    centre: int
    parts: dict[str, tuple[int, ...]]
    shoulders: tuple[int, int]
    hips: tuple[int, int]
    channels: tuple[str, str, str] = ("x", "y", "z")

    def __post_init__(self) -> None:
        v = len(self.joint_names)
        if len(self.parents) != v:
            raise ValueError(f"layout {self.name}: {len(self.parents)} parents for {v} joints")
        if self.parents[self.centre] != self.centre:
            raise ValueError(f"layout {self.name}: the centre joint must be its own parent")
        if tuple(self.parts) != BODY_PARTS:
            raise ValueError(f"layout {self.name}: body parts must be {BODY_PARTS}, got {tuple(self.parts)}")
        if self.channels not in (("x", "y", "z"), ("x", "y", "score")):
            raise ValueError(f"layout {self.name}: channels must be x, y, z or x, y, score")
        covered = sorted(j for joints in self.parts.values() for j in joints)
        if covered != list(range(v)):
            raise ValueError(f"layout {self.name}: body parts must cover each of the {v} joints exactly once")
        for joint in range(v):  # every joint must reach the centre through its parents
            seen = set()
            while joint != self.centre:
                if joint in seen:
                    raise ValueError(f"layout {self.name}: the parents contain a cycle")
                seen.add(joint)
                joint = self.parents[joint]

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def spatial_channels(self) -> int:
        """How many stored channels are coordinates (3, or 2 for a 2D layout)."""
        return 2 if self.channels[2] == "score" else 3

    @property
    def edges(self) -> list[tuple[int, int]]:
        """(child, parent) bone pairs, the centre's self-loop excluded."""
        return [(j, p) for j, p in enumerate(self.parents) if j != p]


def _from_one_based(name, joint_names, parents, centre, parts, shoulders, hips, channels=("x", "y", "z")
                    ) -> SkeletonLayout:
    return SkeletonLayout(
        name=name,
        joint_names=tuple(joint_names),
        parents=tuple(p - 1 for p in parents),
        centre=centre - 1,
        parts={part: tuple(j - 1 for j in joints) for part, joints in parts.items()},
        shoulders=(shoulders[0] - 1, shoulders[1] - 1),
        hips=(hips[0] - 1, hips[1] - 1),
        channels=tuple(channels),
    )


# Kinect v2 / NTU RGB+D. Left and right are the performer's own, as in the NTU documentation.
NTU25 = _from_one_based(
    "ntu25",
    joint_names=[
        "spine_base", "spine_mid", "neck", "head",
        "left_shoulder", "left_elbow", "left_wrist", "left_hand",
        "right_shoulder", "right_elbow", "right_wrist", "right_hand",
        "left_hip", "left_knee", "left_ankle", "left_foot",
        "right_hip", "right_knee", "right_ankle", "right_foot",
        "spine_shoulder", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb",
    ],
    parents=[2, 21, 21, 3, 21, 5, 6, 7, 21, 9, 10, 11, 1, 13, 14, 15, 1, 17, 18, 19, 21, 23, 8, 25, 12],
    centre=21,
    parts={
        "trunk": [4, 3, 21, 2, 1],
        "left_arm": [5, 6, 7, 8, 22, 23],
        "right_arm": [9, 10, 11, 12, 24, 25],
        "left_leg": [13, 14, 15, 16],
        "right_leg": [17, 18, 19, 20],
    },
    shoulders=(5, 9),
    hips=(13, 17),
)

# Kinect v1 (NW-UCLA, UTD-MHAD, MSR Action3D).
KINECT_V1 = _from_one_based(
    "kinect_v1",
    joint_names=[
        "hip_centre", "spine", "shoulder_centre", "head",
        "left_shoulder", "left_elbow", "left_wrist", "left_hand",
        "right_shoulder", "right_elbow", "right_wrist", "right_hand",
        "left_hip", "left_knee", "left_ankle", "left_foot",
        "right_hip", "right_knee", "right_ankle", "right_foot",
    ],
    parents=[2, 3, 3, 3, 3, 5, 6, 7, 3, 9, 10, 11, 1, 13, 14, 15, 1, 17, 18, 19],
    centre=3,
    parts={
        "trunk": [1, 2, 3, 4],
        "left_arm": [5, 6, 7, 8],
        "right_arm": [9, 10, 11, 12],
        "left_leg": [13, 14, 15, 16],
        "right_leg": [17, 18, 19, 20],
    },
    shoulders=(5, 9),
    hips=(13, 17),
)

# COCO-17 keypoints of 2D pose estimators (pyskl's 2D annotations). The tree hangs from the nose, as in
# pyskl's COCO graph; hips belong to the legs and shoulders to the arms, so the trunk is the head.
COCO17 = _from_one_based(
    "coco17",
    joint_names=[
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    ],
    parents=[1, 1, 1, 2, 3, 1, 1, 6, 7, 8, 9, 6, 7, 12, 13, 14, 15],
    centre=1,
    parts={
        "trunk": [1, 2, 3, 4, 5],
        "left_arm": [6, 8, 10],
        "right_arm": [7, 9, 11],
        "left_leg": [12, 14, 16],
        "right_leg": [13, 15, 17],
    },
    shoulders=(6, 7),
    hips=(12, 13),
    channels=("x", "y", "score"),
)

# OpenPose BODY_25: COCO's joints reordered, with a neck (the centre), a mid-hip and three points per foot.
BODY25 = _from_one_based(
    "body25",
    joint_names=[
        "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
        "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
        "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel",
        "right_big_toe", "right_small_toe", "right_heel",
    ],
    parents=[2, 2, 2, 3, 4, 2, 6, 7, 2, 9, 10, 11, 9, 13, 14, 1, 1, 16, 17, 15, 20, 15, 12, 23, 12],
    centre=2,
    parts={
        "trunk": [1, 2, 9, 16, 17, 18, 19],
        "left_arm": [6, 7, 8],
        "right_arm": [3, 4, 5],
        "left_leg": [13, 14, 15, 20, 21, 22],
        "right_leg": [10, 11, 12, 23, 24, 25],
    },
    shoulders=(6, 3),
    hips=(13, 10),
    channels=("x", "y", "score"),
)

# OpenPose BODY_25B: the COCO-17 joints in COCO's order, then upper neck (the centre), head top and the feet.
BODY25B = _from_one_based(
    "body25b",
    joint_names=[
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
        "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
        "right_ankle", "upper_neck", "head_top", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
        "right_small_toe", "right_heel",
    ],
    parents=[18, 1, 1, 2, 3, 18, 18, 6, 7, 8, 9, 6, 7, 12, 13, 14, 15, 18, 18, 16, 20, 16, 17, 23, 17],
    centre=18,
    parts={
        "trunk": [1, 2, 3, 4, 5, 18, 19],
        "left_arm": [6, 8, 10],
        "right_arm": [7, 9, 11],
        "left_leg": [12, 14, 16, 20, 21, 22],
        "right_leg": [13, 15, 17, 23, 24, 25],
    },
    shoulders=(6, 7),
    hips=(12, 13),
    channels=("x", "y", "score"),
)

# OpenPose COCO-18 (its older COCO model): BODY_25 without the mid-hip and the feet, in its own order.
COCO18 = _from_one_based(
    "coco18",
    joint_names=[
        "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
        "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye",
        "right_ear", "left_ear",
    ],
    parents=[2, 2, 2, 3, 4, 2, 6, 7, 2, 9, 10, 2, 12, 13, 1, 1, 15, 16],
    centre=2,
    parts={
        "trunk": [1, 2, 15, 16, 17, 18],
        "left_arm": [6, 7, 8],
        "right_arm": [3, 4, 5],
        "left_leg": [12, 13, 14],
        "right_leg": [9, 10, 11],
    },
    shoulders=(6, 3),
    hips=(12, 9),
    channels=("x", "y", "score"),
)

_MEDIAPIPE = dict(
    joint_names=[
        "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
        "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
        "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
        "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
        "left_heel", "right_heel", "left_foot_index", "right_foot_index",
    ],
    # hung from the nose like COCO-17; hips from the shoulders on their side
    parents=[1, 1, 2, 3, 1, 5, 6, 4, 7, 1, 1, 1, 1, 12, 13, 14, 15, 16, 17, 16, 17, 16, 17, 12, 13, 24, 25, 26, 27,
             28, 29, 28, 29],
    centre=1,
    parts={
        "trunk": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
        "left_arm": [12, 14, 16, 18, 20, 22],
        "right_arm": [13, 15, 17, 19, 21, 23],
        "left_leg": [24, 26, 28, 30, 32],
        "right_leg": [25, 27, 29, 31, 33],
    },
    shoulders=(12, 13),
    hips=(24, 25),
)
# MediaPipe BlazePose's 33 landmarks: image coordinates with a score channel, or world coordinates in metres
MEDIAPIPE33 = _from_one_based("mediapipe33", **_MEDIAPIPE, channels=("x", "y", "score"))
MEDIAPIPE33_WORLD = _from_one_based("mediapipe33_world", **_MEDIAPIPE)

LAYOUTS: dict[str, SkeletonLayout] = {layout.name: layout for layout in
                                      (NTU25, KINECT_V1, COCO17, COCO18, BODY25, BODY25B, MEDIAPIPE33,
                                       MEDIAPIPE33_WORLD)}

# Where each joint of a target layout sits in a source layout (0-based source index per target joint), for sources
# whose joints include the target's: one encoder can then serve several pose estimators.
JOINT_MAPPINGS: dict[tuple[str, str], tuple[int, ...]] = {
    ("body25", "coco17"): (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11),
    ("body25b", "coco17"): tuple(range(17)),
    ("coco18", "coco17"): (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10),
    ("mediapipe33", "coco17"): (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28),
    # Kinect v2 -> v1: the same joints and order, but v1's shoulder centre is v2's spine_shoulder, and v2's hand tips
    # and thumbs are left out
    ("ntu25", "kinect_v1"): (0, 1, 20, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19),
}


def map_joints(x, source: str, target: str):
    """Joints of ``source`` order -> ``target`` order along axis -2 of x (numpy or torch, (..., V, C)): the same
    layout is returned as it is; an unknown pair is an error naming the known mappings."""
    if source == target:
        return x
    try:
        index = list(JOINT_MAPPINGS[(source, target)])
    except KeyError:
        known = ", ".join(f"{a} -> {b}" for a, b in JOINT_MAPPINGS)
        raise ValueError(f"no joint mapping from {source} to {target} (known: {known})") from None
    return x[..., index, :]


def get_layout(name: str) -> SkeletonLayout:
    """The registered layout called ``name``; a clear error lists the known ones."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown skeleton layout {name!r}; known layouts: {', '.join(sorted(LAYOUTS))}") from None
