"""Files made by other tools: a restricted unpickler, and samples held in one array (CrosSCLR, pyskl, numpy).

Pickles can run arbitrary code when loaded. :func:`load_pickle` admits only plain containers (dict, list,
tuple, str, numbers, None, OrderedDict) and numpy arrays, dtypes and scalars; anything else stops the load
with an error naming the file and the class it asked for.

Example:
    >>> import pickle, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "labels.pkl")
    >>> with open(path, "wb") as f: pickle.dump((["S001C001P001R001A001"], [0]), f)
    >>> load_pickle(path)
    (['S001C001P001R001A001'], [0])
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import ntu
from .format import DatasetError, RawSample, Sample
from .preprocess import valid_frame_count

_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    *((f"numpy.{core}.multiarray", name) for core in ("core", "_core") for name in ("_reconstruct", "scalar")),
    *((f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path: Path):
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS or (module.startswith("numpy.dtypes") and name.endswith("DType")):
            return super().find_class(module, name)
        raise DatasetError(f"{self.path}: the pickle asks for {module}.{name}, which is not a plain container or "
                           f"a numpy array; refusing to load it (pickles can run code)")


def load_pickle(path: str | Path):
    """Unpickle ``path`` admitting only plain containers and numpy arrays."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            return _RestrictedUnpickler(f, path).load()
    except OSError as error:
        raise DatasetError(f"{path}: unreadable ({error.strerror})") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise DatasetError(f"{path}: not a valid pickle, or truncated ({error or type(error).__name__})") from None


def class_names_for(labels, names) -> tuple[str, ...]:
    """NTU's action names when every sample has an NTU name, else "class 1", "class 2", ..."""
    count = int(max(labels)) + 1 if len(labels) else 0
    if names and count <= len(ntu.CLASS_NAMES) and all(ntu.name_fields(n) for n in names):
        return ntu.CLASS_NAMES[:60 if count <= 60 else 120]
    return tuple(f"class {i + 1}" for i in range(count))


# Kinect v1 datasets name clips by underscore-separated fields: NW-UCLA a01_s03_e02_v01, MSR Action3D a01_s03_e02,
# UTD-MHAD a27_s8_t4 (s: subject, v: view)
NAME_FIELD = {"subject": re.compile(r"(?:^|_)s(\d+)(?=_|$)"), "view": re.compile(r"(?:^|_)v(\d+)(?=_|$)")}


def subject_and_view(name: str) -> tuple[int, int]:
    """(performer, camera) of an NTU-style name, or the ``s``/``v`` fields of an underscore-separated one
    (``a27_s8_t4`` -> (8, 0)); 0 where unknown."""
    fields = ntu.name_fields(name)
    if fields:
        return fields["performer"], fields["camera"]
    found = {key: pattern.search(name) for key, pattern in NAME_FIELD.items()}
    return tuple(int(match.group(1)) if match else 0 for match in found.values())


@dataclass
class SampleArray:
    """Samples held in one array, as CrosSCLR, numpy and (after loading) pyskl inputs hold them.

    ``data`` is (N, M, T, V, C) (a view: a memory map stays a memory map); ``part`` is the benchmark part
    ("train" / "test") every sample of this array belongs to, or None.
    """

    path: Path
    data: np.ndarray
    names: list[str]
    labels: np.ndarray
    subjects: np.ndarray
    views: np.ndarray
    frames: np.ndarray | None = None
    part: str | None = None

    def __post_init__(self) -> None:
        n = len(self.data)
        for field, values in (("names", self.names), ("labels", self.labels), ("subjects", self.subjects),
                              ("views", self.views)):
            if len(values) != n:
                raise DatasetError(f"{self.path}: {len(values)} {field} for {n} samples")

    def entries(self) -> list[Entry]:
        return [Entry(self, i) for i in range(len(self.data))]


@dataclass
class Entry:
    """One sample of a :class:`SampleArray`, as a preparation item; its text names the file and the sample."""

    array: SampleArray
    index: int

    def __str__(self) -> str:
        return f"{self.array.path} [sample {self.index}: {self.array.names[self.index]}]"


def read_entry(entry: Entry) -> list[RawSample]:
    """(M, T, V, C) coordinates of one array sample; C=2 (x, y) gets a score channel of ones."""
    array, i = entry.array, entry.index
    bodies = np.asarray(array.data[i], dtype=np.float64)
    if bodies.shape[-1] == 2:
        bodies = np.concatenate([bodies, np.ones_like(bodies[..., :1])], axis=-1)
    frames = int(array.frames[i]) if array.frames is not None else valid_frame_count(bodies)
    try:
        label = int(array.labels[i])
    except (TypeError, ValueError):
        raise DatasetError(f"{entry}: label {array.labels[i]!r} is not an integer") from None
    return [(Sample(str(array.names[i]), label, int(array.subjects[i]), int(array.views[i]), frames), bodies)]
