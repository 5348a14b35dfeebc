from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NW_UCLA = SHARED / "nw-ucla"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def nw_ucla_dir() -> Path:
    if not (NW_UCLA / "all_sqe").is_dir():
        pytest.skip(f"real NW-UCLA data not found at {NW_UCLA} (only the project's own checkout has ../shared)")
    return NW_UCLA
