"""ONNX export: onnxruntime gives PyTorch's numbers on real clips of several lengths for every stream, the files
pass the onnx checker and carry the preprocessing, and embed / predict run them."""

import json

import numpy as np
import pytest
import torch

from skelemix.config import load_config
from skelemix.data import Preprocessing
from skelemix.data.nw_ucla import read_nw_ucla_file
from skelemix.data.preprocess import preprocess
from skelemix.evaluation.classifier import Classifier, load_classifier, save_classifier
from skelemix.evaluation.features import load_pretrained, random_init
from skelemix.inference import embed, predict
from skelemix.layouts import get_layout

from conftest import NW_UCLA, pretrain_tiny

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install \"skelemix[onnx]\")")
pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install \"skelemix[onnx]\")")
from skelemix.onnx_model import OnnxModel, export_onnx  # noqa: E402

KINECT_V1 = get_layout("kinect_v1")
PREPARATION = {"centring": "first_frame", "rotate": True, "persons": 1, "scale": "minmax"}


def real_clips(frames: int) -> torch.Tensor:
    """Four NW-UCLA clips of different actions and raw lengths, prepared at ``frames`` frames: (4, 3, T, 20, 1)."""
    if not (NW_UCLA / "all_sqe").is_dir():
        pytest.skip(f"real NW-UCLA data not found at {NW_UCLA}")
    names = ["a01_s01_e00_v01", "a04_s02_e00_v02", "a06_s01_e00_v03", "a12_s01_e00_v01"]
    arrays = [preprocess(read_nw_ucla_file(NW_UCLA / "all_sqe" / f"{name}.json")[0][1], KINECT_V1,
                         Preprocessing(frames=frames, **PREPARATION)) for name in names]
    return torch.from_numpy(np.stack(arrays))


@pytest.mark.parametrize("stream", ["joint", "motion", "bone"])
def test_an_exported_classifier_gives_pytorchs_probabilities(stream, tmp_path):
    config = load_config(["nw_ucla_xview", "skelemixclr"], [f"data.stream={stream}"])
    torch.manual_seed(0)
    classifier = Classifier(random_init(config, "kinect_v1", seed=1).encoder, KINECT_V1, stream, 10)
    torch.nn.init.normal_(classifier.head.weight, std=0.5)  # confident enough that probabilities differ
    classifier.mean.normal_(), classifier.std.uniform_(0.5, 2.0)
    source = save_classifier(tmp_path / "linear-classifier.pt", classifier, "linear", config,
                             [f"action {i}" for i in range(10)], Preprocessing(frames=64, **PREPARATION).to_dict())
    info = export_onnx(source, tmp_path / "model.onnx")
    onnx.checker.check_model(onnx.load(str(tmp_path / "model.onnx")), full_check=True)
    assert info["kind"] == "classifier" and info["stream"] == stream and info["preprocessing"]["scale"] == "minmax"
    model, (loaded, _) = OnnxModel(tmp_path / "model.onnx"), load_classifier(source)
    assert model.info == info
    for frames in (32, 64, 100):
        x = real_clips(frames)
        with torch.no_grad():
            expected = loaded(x).softmax(dim=1)
        assert torch.allclose(model(x), expected, rtol=1e-4, atol=1e-6), frames
        assert expected.max() > 0.3  # not a flat distribution that any graph would match


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return pretrain_tiny(tmp_path_factory.mktemp("onnx"), "skeletonclr", "data.stream=bone")


def test_an_exported_encoder_gives_the_features_embed_gives(tiny_run, tmp_path):
    run, data = tiny_run
    info = export_onnx(run, tmp_path / "features.onnx")
    assert info["kind"] == "features" and info["stream"] == "bone" and info["layout"] == "ntu25"
    names, expected = embed(run, [data])
    exported_names, features = embed(tmp_path / "features.onnx", [data])
    assert names == exported_names and np.allclose(features, expected, rtol=1e-4, atol=1e-5)
    x = torch.randn(3, 3, 24, 25, 2)
    with torch.no_grad():
        assert torch.allclose(OnnxModel(tmp_path / "features.onnx")(x), load_pretrained(run).embed(x), rtol=1e-4,
                              atol=1e-5)
    with pytest.raises(ValueError, match="an exported features model; use it with skelemix embed"):
        predict(tmp_path / "features.onnx", [data])


def test_predict_runs_an_exported_classifier(tiny_run, tmp_path):
    from skelemix.evaluation.protocols import evaluate

    run, data = tiny_run
    evaluate("linear", run, overrides=["eval.linear.epochs=3"])
    source = run / "evaluation" / "linear-classifier.pt"
    export_onnx(source, tmp_path / "classifier.onnx")
    expected, exported = predict(source, [data], top_k=3), predict(tmp_path / "classifier.onnx", [data], top_k=3)
    assert [e["name"] for e in exported] == [e["name"] for e in expected]
    for a, b in zip(exported, expected):
        assert [t["label"] for t in a["top"]] == [t["label"] for t in b["top"]]
        assert np.allclose([t["probability"] for t in a["top"]], [t["probability"] for t in b["top"]], rtol=0,
                           atol=1e-3)  # this 1-epoch encoder's near-constant features, standardised, magnify
    # float32 rounding: the numbers are pinned on real clips above; here that predict runs the file
    assert json.loads(onnx.load(str(tmp_path / "classifier.onnx")).metadata_props[0].value)["classifier"] == "linear"
