import os
import sys
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


def pretrain_tiny(root: Path, method: str, *overrides: str) -> tuple[Path, Path]:
    """A one-epoch pretraining of a narrow network on 96 synthetic 16-frame clips in ``root``: (run, dataset)."""
    from skelemix.config import load_config
    from skelemix.data import prepare_synthetic
    from skelemix.training import pretrain

    data = prepare_synthetic(root / "data", performers=4, repetitions=2, frames=16).path
    config = load_config(["synthetic", method], [
        f"data.path={data}", "encoder.hidden_channels=8", "method.queue_size=32", "train.batch_size=16",
        "train.epochs=1", "train.precision=32", "train.knn_every=0", "method.mix.min_frames=1",
        "method.mix.max_frames=2", *overrides])
    return pretrain(config, root / "run", progress=False), data


def run_skelemix(args: list[str], cwd: Path, capsys=None) -> tuple[int, str]:
    """``skelemix ARGS`` in this process, from ``cwd`` -> (exit code, stderr; empty without ``capsys``)."""
    from skelemix.cli import main

    previous = os.getcwd()
    os.chdir(cwd)
    sys.argv = ["skelemix", *args]
    try:
        main()
    except SystemExit as exit:
        code = exit.code
    finally:
        os.chdir(previous)
    return code, capsys.readouterr().err if capsys else ""
