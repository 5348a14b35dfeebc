"""Two CPU processes with gloo, through Lightning's DDP launcher, as users run it (a script re-executed per rank)."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from skelemix.data import prepare_synthetic

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return prepare_synthetic(tmp_path_factory.mktemp("ddp") / "data", performers=4, repetitions=2, frames=16).path


def run_two_ranks(data, tmp_path, key_batchnorm, key_mode):
    out = tmp_path / f"{key_batchnorm}-{key_mode}"
    out.mkdir()
    result = subprocess.run([sys.executable, str(WORKER), str(data), str(out / "run"), str(out), key_batchnorm,
                             key_mode], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt") for r in (0, 1)]


def test_the_queue_holds_both_ranks_keys_in_rank_order_identically_on_both(data, tmp_path):
    rank0, rank1 = run_two_ranks(data, tmp_path, "local", "train")
    assert rank0["world_size"] == 2 and len(rank0["own"]) == 6  # 48 training samples, global batch 8
    assert rank0["own"][0].shape == (4, 128)  # the global batch is split: 4 per rank
    # per step: rank 0's own keys, then rank 1's, each computed on its own rank
    expected = torch.cat([torch.cat([a, b]) for a, b in zip(rank0["own"], rank1["own"])])
    assert torch.equal(rank0["queue"][:48], expected) and torch.equal(rank1["queue"], rank0["queue"])
    assert rank0["pointer"] == rank1["pointer"] == 48
    assert not torch.allclose(rank0["own"][0], rank1["own"][0])  # different samples on each rank
    # and yet the same weights: each rank's term-by-term gradients were averaged across ranks before each update
    assert all(torch.equal(a, b) for a, b in zip(rank0["parameters"], rank1["parameters"], strict=True))


def test_batch_shuffled_keys_return_to_their_own_samples(data, tmp_path):
    # with the key encoder's BatchNorm in eval mode a key depends on its sample alone, so encoding a batch
    # shuffled across ranks and putting the keys back must give the keys of local encoding
    local = run_two_ranks(data, tmp_path, "local", "eval")
    shuffled = run_two_ranks(data, tmp_path, "shuffle", "eval")
    assert torch.allclose(shuffled[0]["queue"], local[0]["queue"], atol=1e-5)
    assert torch.equal(shuffled[0]["queue"], shuffled[1]["queue"])
    for step in range(6):
        assert torch.allclose(shuffled[1]["own"][step], local[1]["own"][step], atol=1e-5)
