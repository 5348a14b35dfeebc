"""NW-UCLA Multiview Action3D (Wang et al., CVPR 2014): the CTR-GCN json release -> prepared dataset.

Each ``aAA_sSS_eEE_vVV.json`` holds ``skeletons`` (T x 20 x 3, Kinect v1 joints, metres) and ``label``
(1..10). Benchmarks: ``xview`` (train views 1 and 2, test view 3: 1020 / 464 sequences, the standard
protocol) and ``xsub`` (train subjects 1-5, test subjects 6-10; not a published protocol).

Example:
    >>> prepare_nw_ucla("data/NW-UCLA/all_sqe", "prepared/nw-ucla")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..layouts import get_layout
from .format import DatasetError, Sample, write_prepared
from .preprocess import preprocess

CLASS_NAMES = ("pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down",
               "stand up", "donning", "doffing", "throw", "carry")
NAME_PATTERN = re.compile(r"a(\d+)_s(\d+)_e(\d+)_v(\d+)")
TRAIN_VIEWS = (1, 2)
TRAIN_SUBJECTS = (1, 2, 3, 4, 5)


def read_nw_ucla_file(path: Path) -> tuple[Sample, np.ndarray]:
    """One json file -> (sample, coordinates (1, T, 20, 3)); DatasetError names the file and the problem."""
    match = NAME_PATTERN.fullmatch(path.stem)
    if not match:
        raise DatasetError(f"{path}: file name is not aAA_sSS_eEE_vVV.json")
    try:
        record = json.loads(path.read_text())
        skeletons = np.asarray(record["skeletons"], dtype=np.float64)
        label = int(record["label"])
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: not valid JSON ({error})") from None
    except KeyError as error:
        raise DatasetError(f"{path}: missing key {error}") from None
    except (TypeError, ValueError) as error:
        raise DatasetError(f"{path}: malformed skeletons or label ({error})") from None
    if skeletons.ndim != 3 or skeletons.shape[1:] != (20, 3):
        raise DatasetError(f"{path}: skeletons have shape {skeletons.shape}, expected (T, 20, 3)")
    if len(skeletons) == 0:
        raise DatasetError(f"{path}: the sequence has no frames")
    if not np.isfinite(skeletons).all():
        raise DatasetError(f"{path}: NaN or infinite coordinates")
    if not 1 <= label <= len(CLASS_NAMES):
        raise DatasetError(f"{path}: label {label} outside 1..{len(CLASS_NAMES)}")
    _, subject, _, view = (int(g) for g in match.groups())
    return Sample(path.stem, label - 1, subject, view, len(skeletons)), skeletons[None]


def prepare_nw_ucla(json_dir: str | Path, out_dir: str | Path, frames: int = 64, centring: str = "frame") -> Path:
    """Read every json file of ``json_dir`` and write the prepared dataset to ``out_dir``."""
    json_dir = Path(json_dir)
    if not json_dir.is_dir():
        raise DatasetError(f"{json_dir}: no such directory")
    paths = sorted(json_dir.glob("*.json"))
    if not paths:
        raise DatasetError(f"{json_dir}: no .json files")
    layout = get_layout("kinect_v1")
    records = [read_nw_ucla_file(p) for p in paths]
    samples = [s for s, _ in records]

    def fill(data: np.ndarray) -> None:
        for i, (_, coordinates) in enumerate(records):
            data[i] = preprocess(coordinates, layout.centre, frames, persons=1, centring=centring)

    def split(is_train) -> dict[str, list[int]]:
        return {"train": [i for i, s in enumerate(samples) if is_train(s)],
                "test": [i for i, s in enumerate(samples) if not is_train(s)]}

    splits = {"xview": split(lambda s: s.view in TRAIN_VIEWS), "xsub": split(lambda s: s.subject in TRAIN_SUBJECTS)}
    return write_prepared(out_dir, name="nw-ucla", layout=layout, class_names=CLASS_NAMES, samples=samples,
                          fill=fill, frames=frames, persons=1, splits=splits,
                          preprocessing={"centring": centring, "centre_joint": layout.centre, "frames": frames})
