"""The authors' checkpoints in and out: a file written by their SkeleMixCLR code reproduces its own outputs."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from skelemix.checkpoints import CheckpointError
from skelemix.evaluation.features import load_pretrained
from skelemix.graph import adjacency
from skelemix.interop import export_reference, import_reference
from skelemix.layouts import get_layout

from conftest import SHARED

REFERENCE = SHARED / "reference-checkpoints"


@pytest.fixture
def reference_files():
    if not (REFERENCE / "skelemixclr_ntu25_reference.pt").is_file():
        pytest.skip(f"the reference checkpoint is not at {REFERENCE} (only the project's own checkout has ../shared)")
    return REFERENCE / "skelemixclr_ntu25_reference.pt", np.load(REFERENCE / "skelemixclr_ntu25_reference_outputs.npz")


def test_imported_checkpoint_reproduces_the_authors_features_and_projection(reference_files, tmp_path):
    checkpoint, outputs = reference_files
    model = load_pretrained(import_reference(checkpoint, tmp_path / "run"))
    assert model.config.encoder.graph == "reference" and model.config.method.queue_size == 1024
    x = torch.from_numpy(outputs["x"])
    with torch.no_grad():
        features = model.encoder(x)
        projection = model.projector(features)
    torch.testing.assert_close(features, torch.from_numpy(outputs["features"]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(projection, torch.from_numpy(outputs["projection"]), rtol=1e-5, atol=1e-6)
    # the authors' graph is the one skelemix builds for encoder.graph=reference
    np.testing.assert_array_equal(model.encoder.A.numpy(), adjacency(get_layout("ntu25"), "reference"))


def test_export_gives_back_the_authors_file_bit_for_bit(reference_files, tmp_path):
    checkpoint, _ = reference_files
    export_reference(import_reference(checkpoint, tmp_path / "run"), tmp_path / "back.pt")
    original = torch.load(checkpoint, weights_only=True)
    back = torch.load(tmp_path / "back.pt", weights_only=True)
    assert sorted(original) == sorted(back)
    for key, tensor in original.items():
        assert back[key].dtype == tensor.dtype and torch.equal(back[key], tensor), key


def test_a_partial_or_misshaped_file_is_refused_with_every_key_named(reference_files, tmp_path):
    checkpoint, _ = reference_files
    state = torch.load(checkpoint, weights_only=True)
    del state["encoder_k.st_gcn_networks.3.tcn.2.bias"]
    state["encoder_q.st_gcn_networks.9.tcn.2.weight"] = state["encoder_q.st_gcn_networks.9.tcn.2.weight"][:, :, :5]
    state["encoder_q.fc.4.weight"] = torch.zeros(3)
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    with pytest.raises(CheckpointError) as error:
        import_reference(bad, tmp_path / "run")
    message = str(error.value)
    assert "missing: encoder_k.st_gcn_networks.3.tcn.2.bias" in message
    assert "unexpected: encoder_q.fc.4.weight" in message  # under skelemix's name it would be projector.4.weight
    assert "mis-shaped: encoder_q.st_gcn_networks.9.tcn.2.weight (256, 256, 5, 1) (model (256, 256, 9, 1))" in message
    assert not (tmp_path / "run").exists()  # nothing half-written
    result = subprocess.run([sys.executable, "-m", "skelemix", "import", str(bad), str(tmp_path / "run2")],
                            capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"skelemix: error: {bad}: missing: ")
    assert not (tmp_path / "run2").exists()
