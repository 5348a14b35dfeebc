"""Finetune and semi-supervised protocols, fusion, the report, figures, and using a model on new data."""

import json
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from skelemix.config import FinetuneEval, load_config
from skelemix.data import PreparedDataset, prepare_nw_ucla, prepare_synthetic
from skelemix.evaluation.finetune import Finetuner, balanced_subset
from skelemix.schedule import lr_factor
from skelemix.evaluation.protocols import evaluate
from skelemix.evaluation.results import fuse, report
from skelemix.layouts import get_layout
from skelemix.models import STGCN
from skelemix.training import pretrain
from skelemix.visualize import clustering_nmi

from conftest import run_skelemix

TINY = ["encoder.hidden_channels=8", "method.queue_size=32", "method.mix.min_frames=1", "method.mix.max_frames=2",
        "train.batch_size=8", "train.knn_every=0", "train.precision=32", "eval.precision=32", "train.epochs=1"]
FAST_EVAL = ["eval.finetune.epochs=3", "eval.finetune.warmup=1", "eval.finetune.milestones=[2]",
             "eval.finetune.batch_size=16", "eval.linear.epochs=3", "eval.linear.milestones=[2]"]


def test_balanced_subset_takes_the_rounded_share_of_every_class_reproducibly():
    labels = [0] * 50 + [1] * 24 + [2] * 5 + [3] * 1
    subset = balanced_subset(labels, 0.1, seed=3)
    counts = np.bincount(np.asarray(labels)[subset], minlength=4)
    assert counts.tolist() == [5, 2, 1, 1]  # round(5.0), round(2.4), at least one, at least one
    assert subset == balanced_subset(labels, 0.1, seed=3) and subset != balanced_subset(labels, 0.1, seed=4)
    assert len(set(subset)) == len(subset) == 9
    assert np.bincount(np.asarray(labels)[balanced_subset(labels, 0.5)], minlength=4).tolist() == [25, 12, 2, 1]
    with pytest.raises(ValueError, match="fraction"):
        balanced_subset(labels, 0.0)


def test_warm_up_then_steps_at_the_papers_epochs():
    factors = {e: lr_factor(e, warmup=10, milestones=[50, 70, 90]) for e in (0, 4, 9, 10, 49, 50, 69, 70, 90, 109)}
    expected = {0: 0.1, 4: 0.5, 9: 1.0, 10: 1.0, 49: 1.0, 50: 0.1, 69: 0.1, 70: 0.01, 90: 0.001, 109: 0.001}
    assert factors == pytest.approx(expected)
    # the optimizer really follows it
    model = Finetuner(STGCN(get_layout("ntu25"), hidden_channels=4), get_layout("ntu25"), "joint", 3,
                      FinetuneEval(lr=0.1, momentum=0.9, weight_decay=1e-4, milestones=[50, 70, 90], warmup=10))
    [optimizer], [schedule] = model.configure_optimizers()
    seen = []
    for _ in range(91):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step(), schedule.step()
    assert seen[0] == pytest.approx(0.01) and seen[9] == pytest.approx(0.1) and seen[50] == pytest.approx(0.01)
    assert seen[90] == pytest.approx(1e-4)


def test_fusion_is_the_weighted_sum_and_refuses_misaligned_runs():
    a = np.array([[0.6, 0.4, 0.0], [0.2, 0.3, 0.5], [0.1, 0.8, 0.1]])
    b = np.array([[0.2, 0.8, 0.0], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])
    labels = np.array([1, 2, 0])
    runs = [{"test_names": ["x", "y", "z"], "stream": s, "checkpoint": s} for s in ("joint", "bone")]
    fused = fuse(runs, [a, b], labels)
    assert np.allclose(fused["scores"], a + b)  # equal weights: ranking as the average
    # by hand: a ranks [0, 2, 1] -> 1/3 right; b ranks [1, 2, 0] -> 3/3; a + b = [[.8,1.2,0],[.3,.4,1.3],[.7,1.1,.2]]
    assert [r["top1"] for r in fused["runs"]] == [33.33, 100.0] and fused["fusion"]["top1"] == 66.67
    assert fuse(runs, [a, b], labels, weights=[0.0, 1.0])["fusion"]["top1"] == 100.0
    shuffled = [runs[0], {**runs[1], "test_names": ["y", "x", "z"]}]
    with pytest.raises(ValueError, match="scored other test samples, or in another order"):
        fuse(shuffled, [a, b], labels)


def test_nmi_of_a_perfect_and_a_random_clustering():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)) * 10
    labels = np.repeat(np.arange(4), 30)
    separated = centres[labels] + rng.normal(size=(120, 16))
    assert clustering_nmi(separated, labels) == pytest.approx(1.0)
    assert clustering_nmi(rng.normal(size=(120, 16)), labels) < 0.2


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("protocols")
    data = prepare_synthetic(root / "data", performers=4, repetitions=2, frames=16).path
    made = {}
    for stream in ("joint", "bone"):
        config = load_config(["synthetic", "skelemixclr"], TINY + [f"data.path={data}", f"data.stream={stream}"])
        made[stream] = pretrain(config, root / stream, progress=False)
    return root, data, made


def test_finetune_semi_from_scratch_report_and_fusion(runs):
    root, data, made = runs
    finetuned = evaluate("finetune", made["joint"], overrides=FAST_EVAL)
    assert finetuned["name"] == "finetune" and finetuned["settings"]["epochs"] == 3
    assert finetuned["test_samples"] == 48 and (made["joint"] / "evaluation" / "finetune-classifier.pt").is_file()
    semi = evaluate("semi", made["joint"], fraction=0.25, overrides=FAST_EVAL)
    prepared = PreparedDataset(data)
    assert semi["name"] == "semi-25pct" and semi["subset"]["size"] == 12 * 1  # 4 training samples per class
    assert np.bincount(prepared.labels[semi["subset"]["indices"]], minlength=12).tolist() == [1] * 12
    assert set(semi["subset"]["indices"]) <= set(prepared.split("xsub")["train"])
    scratch = evaluate("semi", made["joint"], fraction=0.25, random_weights=True, overrides=FAST_EVAL)
    assert scratch["name"] == "semi-25pct-from-scratch" and scratch["weights"] == "from scratch"
    for stream in ("joint", "bone"):
        evaluate("linear", made[stream], overrides=FAST_EVAL)
    rows = report([made["joint"], made["bone"]])
    assert {(r["stream"], r["protocol"], r["weights"]) for r in rows} >= {
        ("joint", "finetune", "pretrained"), ("joint", "semi-25pct", "from scratch"), ("bone", "linear", "pretrained")}
    result = subprocess.run([sys.executable, "-m", "skelemix", "ensemble", str(made["joint"]), str(made["bone"]),
                             "--protocol", "linear", "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    fused = json.loads(result.stdout)
    assert [r["stream"] for r in fused["runs"]] == ["joint", "bone"] and 0 <= fused["fusion"]["top1"] <= 100
    with pytest.raises(ValueError, match="pretrained on the joint stream, not bone; add --force-stream"):
        evaluate("knn", made["joint"], stream="bone")
    assert evaluate("knn", made["joint"], stream="bone", force_stream=True)["stream"] == "bone"


def test_cv_scores_the_training_clips_only_and_reports_its_folds(runs, capsys):
    root, data, made = runs
    prepared = PreparedDataset(data)
    train = prepared.split("xsub")["train"]
    result = evaluate("cv", made["joint"], overrides=FAST_EVAL)
    assert result["evaluated_part"] == "train" and result["test_samples"] == len(train) == 48
    assert result["test_names"] == [prepared.samples[i].name for i in train]
    subjects = sorted({prepared.samples[i].subject for i in train})
    assert result["folds"]["by"] == "subject" and result["folds"]["count"] == len(subjects) == 2
    scores = np.load(made["joint"] / "evaluation" / "cv-scores.npy")
    hits = scores.argmax(axis=1) == np.array(result["test_labels"])
    assert result["top1"] == pytest.approx(100 * hits.mean(), abs=0.01)
    assert result["folds"]["top1_mean"] == pytest.approx(float(np.mean(result["folds"]["top1"])), abs=0.01)
    code, _ = run_skelemix(["evaluate", "cv", str(made["joint"]), "--random-init", "--set", "eval.linear.epochs=2",
                            "--set", "eval.linear.milestones=[1]"], root)
    out = capsys.readouterr().out
    assert code == 0 and "cv-random-init random init" in out and "2 folds by subject" in out


def test_each_figure_command_writes_a_readable_png(runs, tmp_path):
    root, data, made = runs
    commands = [["visualize", "pairs", str(made["joint"]), "--out", str(tmp_path / "pairs.png")],
                ["visualize", "curves", str(made["joint"]), "--out", str(tmp_path / "curves.png")],
                ["visualize", "mix", str(data), "--out", str(tmp_path / "mix.png")],
                ["visualize", "tsne", str(made["joint"]), "--random-init", "--out", str(tmp_path / "random.png")],
                ["visualize", "tsne", str(made["joint"]), "--classes", "4", "--out", str(tmp_path / "tsne.png")]]
    for command in commands:
        result = subprocess.run([sys.executable, "-m", "skelemix", *command], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        image = plt.imread(command[-1])
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200 and image.std() > 0.01
    assert "NMI" in result.stdout


def test_embed_and_predict_on_a_real_nw_ucla_file(nw_ucla_dir, tmp_path):
    data = prepare_nw_ucla(nw_ucla_dir / "all_sqe", tmp_path / "ucla").path
    config = load_config(["nw_ucla_xview", "skelemixclr"], TINY + [f"data.path={data}"])
    run = pretrain(config, tmp_path / "run", progress=False)
    evaluate("linear", run, overrides=FAST_EVAL)
    raw = nw_ucla_dir / "all_sqe" / "a06_s03_e01_v03.json"
    out = tmp_path / "features.npy"
    result = subprocess.run([sys.executable, "-m", "skelemix", "embed", str(run), str(raw), "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    features = np.load(out)
    from skelemix.evaluation.features import load_pretrained
    prepared = PreparedDataset(data)
    index = [s.name for s in prepared.samples].index("a06_s03_e01_v03")
    with torch.inference_mode():
        expected = load_pretrained(run).embed(torch.from_numpy(np.array(prepared.data[index:index + 1])))
    assert features.shape == (1, 256) and np.allclose(features, expected.numpy(), atol=1e-5)  # same preprocessing
    assert out.with_suffix(".txt").read_text().split() == ["a06_s03_e01_v03"]
    classifier = run / "evaluation" / "linear-classifier.pt"
    result = subprocess.run([sys.executable, "-m", "skelemix", "predict", str(classifier), str(raw), "--top-k", "3",
                             "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    [prediction] = json.loads(result.stdout)
    probabilities = [t["probability"] for t in prediction["top"]]
    assert prediction["name"] == "a06_s03_e01_v03" and len(probabilities) == 3
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 1e-6
    scores = np.load(run / "evaluation" / "linear-scores.npy")  # the evaluation's own scores of that test sample
    row = prepared.split("xview")["test"].index(index)
    assert prediction["top"][0]["label"] == int(scores[row].argmax())
    assert prediction["top"][0]["probability"] == pytest.approx(float(scores[row].max()), abs=1e-4)
    assert prediction["top"][0]["class"] == prepared.class_names[prediction["top"][0]["label"]]
