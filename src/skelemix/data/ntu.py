"""NTU RGB+D 60 and 120 (Shahroudy et al., CVPR 2016; Liu et al., TPAMI 2020): raw .skeleton files -> prepared.

A ``SsssCcccPpppRrrrAaaa.skeleton`` file is text: the frame count; per frame the body count; per body a line
of 10 values (the first is the tracking id), the joint count (25) and 25 lines of 12 values, of which the
first three are x, y, z in metres (camera coordinates, y up).

Kinect also tracks things that are not people (chairs, coats, reflections) and loses people for a few
frames. The body selection rule, applied per file:

1. a tracked body is one tracking id; bodies seen in fewer than 11 frames, or whose x extent over all its
   frames exceeds 0.8 times its y extent (wider than tall: furniture, not a standing or sitting person),
   are dropped, the rule and thresholds of the NTU denoising used by CTR-GCN and its successors; if that
   drops every body, all are kept (a noisy skeleton beats losing a recorded action);
2. the rest are taken in order of motion (the sum of per-coordinate variances over the body's frames),
   each joining the first of two person slots whose frames it does not overlap, so a person whose id
   changed mid-sequence stays one person; bodies that fit in neither slot are dropped.

Benchmarks: NTU-60 ``xsub`` (20 training performers) and ``xview`` (cameras 2 and 3 train); NTU-120 ``xsub``
(53 training performers) and ``xset`` (even setups train).

Example:
    >>> prepare_ntu("nturgbd_skeletons_s001_to_s017", "prepared/ntu60", "ntu60")   # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..layouts import get_layout
from .format import DatasetError, PrepareReport, RawSample, Sample, input_files, write_prepared
from .preprocess import Preprocessing, valid_frame_count

NAME_PATTERN = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
JOINTS = 25
VALUES_PER_JOINT = 12
BODY_INFO_VALUES = 10
MIN_BODY_FRAMES = 11
MAX_SPREAD_RATIO = 0.8

CLASS_NAMES = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw", "sitting down",
    "standing up (from sitting position)", "clapping", "reading", "writing", "tear up paper", "wear jacket",
    "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses", "take off glasses", "put on a hat/cap",
    "take off a hat/cap", "cheer up", "hand waving", "kicking something", "reach into pocket",
    "hopping (one foot jumping)", "jump up", "make a phone call/answer phone", "playing with phone/tablet",
    "typing on a keyboard", "pointing to something with finger", "taking a selfie", "check time (from watch)",
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute", "put the palms together",
    "cross hands in front (say stop)", "sneeze/cough", "staggering", "falling", "touch head (headache)",
    "touch chest (stomachache/heart pain)", "touch back (backache)", "touch neck (neckache)",
    "nausea or vomiting condition", "use a fan (with hand or paper)/feeling warm", "punching/slapping other person",
    "kicking other person", "pushing other person", "pat on back of other person", "point finger at the other person",
    "hugging other person", "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball", "tennis bat swing",
    "juggling table tennis balls", "hush (quiet)", "flick hair", "thumb up", "thumb down", "make ok sign",
    "make victory sign", "staple book", "counting money", "cutting nails", "cutting paper (using scissors)",
    "snapping fingers", "open bottle", "sniff (smell)", "squat down", "toss a coin", "fold paper", "ball up paper",
    "play magic cube", "apply cream on face", "apply cream on hand back", "put on bag", "take off bag",
    "put something into a bag", "take something out of a bag", "open a box", "move heavy objects", "shake fist",
    "throw up cap/hat", "hands up (both hands)", "cross arms", "arm circles", "arm swings", "running on the spot",
    "butt kicks (kick backward)", "cross toe touch", "side kick", "yawn", "stretch oneself", "blow nose",
    "hit other person with something", "wield knife towards other person", "knock over other person (hit with body)",
    "grab other person's stuff", "shoot at other person with a gun", "step on foot", "high-five", "cheers and drink",
    "carry something with other person", "take a photo of other person", "follow other person",
    "whisper in other person's ear", "exchange things with other person", "support somebody with hand",
    "finger-guessing game (playing rock-paper-scissors)",
)
TRAIN_PERFORMERS_60 = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
TRAIN_PERFORMERS_120 = TRAIN_PERFORMERS_60 + (45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81,
                                              82, 83, 84, 85, 86, 89, 91, 92, 93, 94, 95, 97, 98, 100, 103)
TRAIN_CAMERAS = (2, 3)


def name_fields(name: str) -> dict[str, int] | None:
    """{"setup", "camera", "performer", "replication", "action"} of an NTU sample name, or None."""
    match = NAME_PATTERN.fullmatch(name)
    if not match:
        return None
    return dict(zip(("setup", "camera", "performer", "replication", "action"), map(int, match.groups())))


VERSIONS = {
    "ntu60": {"classes": 60, "setups": 17,
              "splits": {"xsub": lambda f: f["performer"] in TRAIN_PERFORMERS_60,
                         "xview": lambda f: f["camera"] in TRAIN_CAMERAS}},
    "ntu120": {"classes": 120, "setups": 32,
               "splits": {"xsub": lambda f: f["performer"] in TRAIN_PERFORMERS_120,
                          "xset": lambda f: f["setup"] % 2 == 0}},
}


def parse_skeleton_file(path: Path) -> tuple[int, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """-> (frame count, {tracking id: (frame indices (n,), xyz (n, 25, 3))}); DatasetError names the file."""
    try:
        tokens = path.read_bytes().split()
    except OSError as error:
        raise DatasetError(f"{path}: unreadable ({error.strerror})") from None
    body_values = JOINTS * VALUES_PER_JOINT
    frames_of: dict[bytes, list[int]] = defaultdict(list)
    starts_of: dict[bytes, list[int]] = defaultdict(list)
    try:
        frame_count = int(tokens[0])
        position = 1
        for frame in range(frame_count):
            body_count = int(tokens[position])
            position += 1
            for _ in range(body_count):
                body_id = tokens[position]
                joint_count = int(tokens[position + BODY_INFO_VALUES])
                if joint_count != JOINTS:
                    raise DatasetError(f"{path}: frame {frame + 1} has a body with {joint_count} joints, "
                                       f"expected {JOINTS}")
                position += BODY_INFO_VALUES + 1
                frames_of[body_id].append(frame)
                starts_of[body_id].append(position)
                position += body_values
        if position > len(tokens):
            raise IndexError
    except IndexError:
        raise DatasetError(f"{path}: truncated (the file ends before its {tokens[0].decode()} frames do)") from None
    except ValueError as error:
        raise DatasetError(f"{path}: malformed count ({error})") from None
    if frame_count < 0:
        raise DatasetError(f"{path}: negative frame count {frame_count}")
    if position != len(tokens):
        raise DatasetError(f"{path}: {len(tokens) - position} values after the last of its {frame_count} frames")
    tracks = {}
    for body_id, starts in starts_of.items():
        try:
            values = np.array([tokens[s:s + body_values] for s in starts], dtype=np.float64)
        except ValueError as error:
            raise DatasetError(f"{path}: malformed joint value ({error})") from None
        tracks[body_id.decode()] = (np.array(frames_of[body_id]), values.reshape(-1, JOINTS, VALUES_PER_JOINT)[..., :3])
    return frame_count, tracks


def select_bodies(frame_count: int, tracks: dict[str, tuple[np.ndarray, np.ndarray]], persons: int = 2) -> np.ndarray:
    """The module's body selection rule -> (persons, frame_count, 25, 3), absent bodies zero."""
    bodies = list(tracks.values())

    def is_person(frames, xyz) -> bool:
        extent = xyz.max(axis=(0, 1)) - xyz.min(axis=(0, 1))
        return len(frames) >= MIN_BODY_FRAMES and extent[0] <= MAX_SPREAD_RATIO * extent[1]

    people = [b for b in bodies if is_person(*b)] or bodies
    people.sort(key=lambda b: b[1].var(axis=0).sum(), reverse=True)
    out = np.zeros((persons, frame_count, JOINTS, 3))
    taken = np.zeros((persons, frame_count), dtype=bool)
    for frames, xyz in people:
        slot = next((m for m in range(persons) if not taken[m, frames].any()), None)
        if slot is not None:
            out[slot, frames] = xyz
            taken[slot, frames] = True
    return out


def read_ntu_file(path: Path) -> list[RawSample]:
    """One .skeleton file -> [(sample, coordinates (2, T, 25, 3))] by the body selection rule."""
    fields = name_fields(path.name.removesuffix(".skeleton"))
    if fields is None:
        raise DatasetError(f"{path}: file name is not SsssCcccPpppRrrrAaaa.skeleton")
    frame_count, tracks = parse_skeleton_file(path)
    if frame_count == 0 or not tracks:
        raise DatasetError(f"{path}: no skeleton in any frame")
    bodies = select_bodies(frame_count, tracks)
    sample = Sample(path.name.removesuffix(".skeleton"), fields["action"] - 1, fields["performer"],
                    fields["camera"], valid_frame_count(bodies))
    return [(sample, bodies)]


def write_skeleton_file(path: Path, bodies: np.ndarray, rng: np.random.Generator | None = None) -> None:
    """Write (M, T, 25, 3) coordinates in the NTU text format: the inverse of the reader, for tests and the
    preparation benchmark. Body m gets tracking id m+1 and is absent in frames where it is all zero. The
    values NTU records beyond x, y, z (pixel positions, joint orientation) are zero, or, given ``rng``,
    random numbers as long as real ones, so that files have the size and parsing cost of real files."""
    lines = [str(bodies.shape[1])]
    for frame in range(bodies.shape[1]):
        present = [m for m in range(bodies.shape[0]) if np.abs(bodies[m, frame]).sum() > 0]
        lines.append(str(len(present)))
        for m in present:
            lines.append(f"{72057594037930000 + m + 1} 0 1 1 1 1 0 0 0 2")
            lines.append(str(JOINTS))
            extras = ["0 0 0 0 0 0 0 0"] * JOINTS if rng is None else [
                " ".join(f"{v:.7g}" for v in row) for row in rng.uniform([0, 0, 0, 0, -1, -1, -1, -1],
                                                                         [512, 424, 1920, 1080, 1, 1, 1, 1],
                                                                         (JOINTS, 8))]
            lines.extend(f"{x:.7g} {y:.7g} {z:.7g} {extra} 2" for (x, y, z), extra in zip(bodies[m, frame], extras))
    path.write_text("\n".join(lines) + "\n")


def read_exclude_list(path: Path) -> set[str]:
    """Sample names of an official missing-skeleton list (header lines are ignored)."""
    try:
        words = Path(path).read_text().split()
    except OSError as error:
        raise DatasetError(f"{path}: unreadable exclude list ({error.strerror})") from None
    return {w for w in words if NAME_PATTERN.fullmatch(w)}


def prepare_ntu(raw_dir: str | Path, out_dir: str | Path, version: str = "ntu60", exclude: str | Path | None = None,
                preprocessing: Preprocessing = Preprocessing(), **options) -> PrepareReport:
    """Prepare NTU RGB+D 60 or 120 from a directory of .skeleton files (files of the other version's extra
    setups and actions are left out and counted). ``options`` go to :func:`write_prepared`."""
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {', '.join(VERSIONS)}, got {version!r}")
    spec = VERSIONS[version]
    paths = input_files(raw_dir, ".skeleton")
    excluded = read_exclude_list(exclude) if exclude else set()

    def in_version(path: Path) -> bool:
        fields = name_fields(path.name.removesuffix(".skeleton"))
        return fields is None or (fields["action"] <= spec["classes"] and fields["setup"] <= spec["setups"])

    kept = [p for p in paths if p.name.removesuffix(".skeleton") not in excluded and in_version(p)]
    listed = sum(p.name.removesuffix(".skeleton") in excluded for p in paths)
    splits = {benchmark: (lambda s, rule=rule: "train" if rule(name_fields(s.name)) else "test")
              for benchmark, rule in spec["splits"].items()}
    info = {"excluded_by_list": listed, "outside_version": len(paths) - len(kept) - listed}
    return write_prepared(out_dir, name=version, layout=get_layout("ntu25"),
                          class_names=CLASS_NAMES[:spec["classes"]], items=kept, read=read_ntu_file,
                          preprocessing=preprocessing, splits=splits, info=info, **options)
