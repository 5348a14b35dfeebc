"""Model folders: written from a run and from a classifier, read by every command that takes a run or a classifier,
refused when their files disagree."""

import json
import shutil

import numpy as np
import pytest
import torch

from skelemix.checkpoints import CheckpointError
from skelemix.evaluation.features import load_pretrained
from skelemix.evaluation.protocols import evaluate
from skelemix.inference import embed, predict

from conftest import pretrain_tiny

safetensors = pytest.importorskip("safetensors", reason="safetensors is not installed (pip install \"skelemix[hub]\")")
from skelemix.model_folder import export_model, read_model_folder  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir, data = pretrain_tiny(tmp_path_factory.mktemp("folder"), "skelemixclr", "eval.linear.epochs=3",
                                  "data.stream=motion")
    evaluate("knn", run_dir)
    evaluate("linear", run_dir)
    return run_dir, data


def test_an_encoder_folder_gives_the_runs_features_and_evaluations(run, tmp_path):
    run_dir, data = run
    card = export_model(run_dir, tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert card["kind"] == "encoder" and card["stream"] == "motion" and card["pretrained_on"][0]["samples"] == 96
    tensors = safetensors.torch.load_file(str(tmp_path / "model" / "model.safetensors"))
    assert all(k.startswith(("encoder.", "projector.")) for k in tensors)  # no key side, queue or optimizer
    assert np.allclose(embed(tmp_path / "model", [data])[1], embed(run_dir, [data])[1])
    x = torch.randn(2, 3, 16, 25, 1)
    with torch.no_grad():
        assert torch.equal(load_pretrained(tmp_path / "model").embed(x), load_pretrained(run_dir).embed(x))
    assert evaluate("knn", tmp_path / "model")["top1"] == json.loads((run_dir / "evaluation" / "knn.json").read_text())["top1"]
    readme = (tmp_path / "model" / "README.md").read_text()
    assert readme.startswith("---\nlibrary_name: skelemix") and "| knn |" in readme and "`skelemix evaluate knn RUN`" in readme


def test_a_classifier_folder_predicts_as_its_file(run, tmp_path):
    run_dir, data = run
    source = run_dir / "evaluation" / "linear-classifier.pt"
    card = export_model(source, tmp_path / "classifier")
    assert card["kind"] == "classifier" and card["classifier"] == "linear" and len(card["class_names"]) == 12
    assert predict(tmp_path / "classifier", [data], top_k=2) == predict(source, [data], top_k=2)
    with pytest.raises(ValueError, match="a classifier model folder; use it with skelemix predict"):
        load_pretrained(tmp_path / "classifier")


def test_a_folder_whose_files_disagree_is_refused(run, tmp_path):
    run_dir, _ = run
    export_model(run_dir, tmp_path / "model")
    wrong = tmp_path / "wrong-layout"
    shutil.copytree(tmp_path / "model", wrong)
    card = json.loads((wrong / "config.json").read_text())
    (wrong / "config.json").write_text(json.dumps({**card, "layout": "kinect_v1"}))
    with pytest.raises(CheckpointError, match="is for 25 joints, config.json says layout kinect_v1"):
        read_model_folder(wrong)
    narrow = tmp_path / "narrow"
    shutil.copytree(tmp_path / "model", narrow)
    (narrow / "config.json").write_text(json.dumps({**card, "config": {**card["config"], "encoder": {
        **card["config"]["encoder"], "hidden_channels": 16}}}))
    with pytest.raises(CheckpointError, match="does not fit config.json's network"):
        load_pretrained(narrow)
    with pytest.raises(FileExistsError, match="exists and is not empty"):
        export_model(run_dir, tmp_path / "model")


def test_a_hub_source_is_the_folder_huggingface_hub_downloads(run, tmp_path, monkeypatch, capsys):
    """hub://OWNER/NAME goes to huggingface_hub.snapshot_download(repo_id="OWNER/NAME") (a stand-in here: no network)
    and the command then reads the folder it returns."""
    import sys
    import types

    from conftest import run_skelemix

    run_dir, data = run
    export_model(run_dir / "evaluation" / "linear-classifier.pt", tmp_path / "downloaded")
    asked = []
    hub = types.ModuleType("huggingface_hub")
    hub.snapshot_download = lambda repo_id: asked.append(repo_id) or str(tmp_path / "downloaded")
    monkeypatch.setitem(sys.modules, "huggingface_hub", hub)
    code, _ = run_skelemix(["predict", "hub://someone/ucla-linear", str(data), "--top-k", "2", "--json"], tmp_path)
    assert code == 0 and asked == ["someone/ucla-linear"]
    assert json.loads(capsys.readouterr().out) == predict(tmp_path / "downloaded", [data], top_k=2)
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # not installed: one line naming the extra
    code, error = run_skelemix(["evaluate", "knn", "hub://someone/encoder"], tmp_path, capsys)
    assert code == 1 and error == 'skelemix: error: hub://someone/encoder: reading the Hugging Face Hub needs ' \
                                  'huggingface_hub: pip install "skelemix[hub]"\n'
