"""MSR Action3D (Li, Zhang and Liu, CVPR Workshops 2010): ``*_skeleton3D.txt`` files -> prepared dataset.

Each ``aAA_sSS_eEE_skeleton3D.txt`` (action 1-20, subject 1-10, execution 1-3) holds one line per joint,
``x y z confidence`` in metres (y up, z away from the camera), 20 consecutive lines per frame, one performer. The
joints are in the dataset's own order, not the Kinect SDK's; ``MSR_TO_KINECT_V1`` puts them in the ``kinect_v1``
order that NW-UCLA and UTKinect use. Frames whose joints are all zero (the tracker lost the performer) are dropped
by preprocessing; a file with no other frame is skipped. Benchmark ``xsub``: odd subjects train, even subjects test
(the common cross-subject protocol over all 20 actions).

The mapping, worked out from the 19 bones of the dataset's viewer (``drawskt.m``) and its data: joint 3 joins
joints 1, 2, 20 (the head, the higher) and 4, so it is the shoulder centre; joints 1 and 2 start the arms 1-8-10-12
and 2-9-11-13; 4-7 is the spine down to the hip centre 7, from which the legs 5-14-16-18 and 6-15-17-19 hang. The
right side is the one with the larger x when the performer faces the camera (as in the Kinect SDK's camera space of
NW-UCLA and UTKinect) and the arm that moves in the one-handed actions (a right-handed majority): joint 13.

Example:
    >>> prepare_msr_action3d("MSRAction3D/real_world_coordinates", "prepared/msr")   # doctest: +SKIP
"""

from __future__ import annotations

import re
from pathlib import Path

from ..layouts import get_layout
from .format import DatasetError, PrepareReport, RawSample, Sample, input_files, read_number_table, write_prepared
from .preprocess import Preprocessing

CLASS_NAMES = ("high arm wave", "horizontal arm wave", "hammer", "hand catch", "forward punch", "high throw",
               "draw x", "draw tick", "draw circle", "hand clap", "two hand wave", "side boxing", "bend",
               "forward kick", "side kick", "jogging", "tennis swing", "tennis serve", "golf swing",
               "pick up and throw")
NAME_PATTERN = re.compile(r"a(\d+)_s(\d+)_e(\d+)_skeleton3D")
JOINTS = 20
# 0-based MSR joint of each kinect_v1 joint: hip centre, spine, shoulder centre, head, left arm (shoulder, elbow,
# wrist, hand), right arm, left leg (hip, knee, ankle, foot), right leg
MSR_TO_KINECT_V1 = (6, 3, 2, 19, 0, 7, 9, 11, 1, 8, 10, 12, 4, 13, 15, 17, 5, 14, 16, 18)


def read_msr_action3d_file(path: Path) -> list[RawSample]:
    """One skeleton file -> [(sample, coordinates (1, T, 20, 3) in kinect_v1 order)]; DatasetError names the file."""
    match = NAME_PATTERN.fullmatch(path.stem)
    if not match:
        raise DatasetError(f"{path}: file name is not aAA_sSS_eEE_skeleton3D.txt")
    values = read_number_table(path, 4, "x y z confidence")
    if not len(values) or len(values) % JOINTS:
        raise DatasetError(f"{path}: {len(values)} joint lines, not a positive multiple of {JOINTS}")
    action, subject, _ = (int(g) for g in match.groups())
    if not 1 <= action <= len(CLASS_NAMES):
        raise DatasetError(f"{path}: action {action} outside 1..{len(CLASS_NAMES)}")
    skeleton = values[:, :3].reshape(-1, JOINTS, 3)[:, list(MSR_TO_KINECT_V1)]
    return [(Sample(path.stem.removesuffix("_skeleton3D"), action - 1, subject, 1, len(skeleton)),
             skeleton[None])]


DEFAULT_PREPROCESSING = Preprocessing(frames=64, centring="first_frame", rotate=True, persons=1, scale="minmax")
"""The Kinect v1 datasets' normalisation, as NW-UCLA's (``nw_ucla.DEFAULT_PREPROCESSING``)."""


def prepare_msr_action3d(skeleton_dir: str | Path, out_dir: str | Path,
                         preprocessing: Preprocessing = DEFAULT_PREPROCESSING, **options) -> PrepareReport:
    """Read every ``*_skeleton3D.txt`` of ``skeleton_dir`` and write the prepared dataset (benchmark ``xsub``).

    ``options`` go to :func:`write_prepared` (workers, strict, progress).
    """
    paths = input_files(skeleton_dir, "_skeleton3D.txt")
    splits = {"xsub": lambda s: "train" if s.subject % 2 else "test"}
    return write_prepared(out_dir, name="msr-action3d", layout=get_layout("kinect_v1"), class_names=CLASS_NAMES,
                          items=paths, read=read_msr_action3d_file, preprocessing=preprocessing, splits=splits,
                          **options)
