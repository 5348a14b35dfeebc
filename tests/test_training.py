"""A short pretraining on tiny synthetic data, the checkpoint it leaves, and the evaluation commands."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from skelemix.config import load_config
from skelemix.data import prepare_synthetic
from skelemix.evaluation.features import load_pretrained, random_init
from skelemix.evaluation.protocols import evaluate
from skelemix.training import pretrain

TINY = ["encoder.hidden_channels=8", "encoder.dropout=0.0", "method.queue_size=64", "method.momentum=0.9", "method.mix.min_frames=1",
        "method.mix.max_frames=3", "train.batch_size=16", "train.lr=0.1", "train.knn_every=0",
        "train.precision=32", "eval.linear.epochs=5", "eval.linear.milestones=[4]"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    data = prepare_synthetic(root / "data", performers=4, repetitions=4, frames=16).path
    config = load_config(["synthetic", "skelemixclr"], TINY + [f"data.path={data}", "train.epochs=30"])
    return pretrain(config, root / "run", progress=False), config


def instance_discrimination_loss(model, x: torch.Tensor) -> float:
    """In-batch InfoNCE of the query encoder on two fixed views: lower means instances are told apart."""
    model.eval()
    with torch.no_grad():
        torch.manual_seed(123)
        a, b = (model.project(model.embed(model.augment(x))) for _ in range(2))
        return F.cross_entropy(a @ b.T / 0.2, torch.arange(len(x))).item()


def test_pretraining_lowers_the_contrastive_loss(tiny_run):
    run_dir, config = tiny_run
    trained = load_pretrained(run_dir)
    untrained = random_init(config, "ntu25", seed=config.train.seed)  # the same start as the run
    from skelemix.data import PreparedDataset

    x = torch.from_numpy(PreparedDataset(config.data.path).data[:48].copy())
    before, after = instance_discrimination_loss(untrained, x), instance_discrimination_loss(trained, x)
    assert after < 0.9 * before, (before, after)  # measured: 3.87 -> 3.03; an untrained model stays at log(48)


def test_checkpoint_holds_config_stream_and_queue(tiny_run):
    run_dir, config = tiny_run
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["hyper_parameters"]["config"]["data"]["stream"] == "joint"
    assert state["hyper_parameters"]["layout"] == "ntu25"
    assert state["state_dict"]["queue.keys"].shape == (64, 128)
    steps = 30 * (96 // 16)
    assert int(state["state_dict"]["queue.pointer"]) == steps * 16 % 64
    assert (run_dir / "config.yaml").is_file() and (run_dir / "logs" / "metrics.csv").is_file()


def test_evaluation_writes_results_and_scores(tiny_run):
    run_dir, _ = tiny_run
    for protocol in ("knn", "linear"):
        result = evaluate(protocol, run_dir)
        saved = json.loads((run_dir / "evaluation" / f"{protocol}.json").read_text())
        scores = np.load(run_dir / "evaluation" / saved["scores_file"])  # (test samples, classes)
        hits = scores.argmax(axis=1) == np.array(saved["test_labels"])
        assert saved["top1"] == result["top1"] == pytest.approx(100 * hits.mean(), abs=0.006)  # the scores' own top-1
        assert saved["top5"] >= saved["top1"] and scores.shape == (96, 12)
        assert saved["test_samples"] == 96 and saved["stream"] == "joint"
    random = evaluate("knn", run_dir, random_weights=True)
    assert random["weights"] == "random init" and (run_dir / "evaluation" / "knn-random-init.json").is_file()


def test_seeds_run_in_their_own_directories_and_report_groups_them(tmp_path, tiny_run):
    from skelemix.evaluation.results import accuracy_rows, report, summarise
    from skelemix.training import pretrain_seeds

    _, config = tiny_run
    short = load_config([], ["train.epochs=1"], base=config)
    runs = pretrain_seeds(short, tmp_path / "sweep", [3, 5], progress=False)
    assert [r.name for r in runs] == ["seed-3", "seed-5"]
    weights = [load_pretrained(r / "checkpoints" / "last.ckpt").encoder.data_bn.weight for r in runs]
    assert [load_pretrained(r / "checkpoints" / "last.ckpt").config.train.seed for r in runs] == [3, 5]
    assert not torch.equal(*weights)  # different seeds, different runs
    assert pretrain_seeds(short, tmp_path / "sweep", [3], progress=False) == runs[:1]  # a finished seed is kept
    for run in runs:
        evaluate("knn", run)
        evaluate("linear", run)
    rows = report(runs)
    assert sorted((r["protocol"], r["seed"]) for r in rows) == [("knn", 3), ("knn", 5), ("linear", 3), ("linear", 5)]
    knn = [r for r in summarise(rows) if r["protocol"] == "knn"]
    values = [r["top1"] for r in rows if r["protocol"] == "knn"]
    assert knn[0]["runs"] == 2 and knn[0]["seeds"] == "3 5"
    assert knn[0]["top1_mean"] == pytest.approx(sum(values) / 2, abs=0.006)
    assert knn[0]["top1_sd"] == pytest.approx(abs(values[0] - values[1]) / 2 ** 0.5, abs=0.006)
    table = accuracy_rows(runs)
    assert [(r["method"], r["seed"], r["epochs"]) for r in table] == [("skelemixclr", 3, 1), ("skelemixclr", 5, 1)]
    assert table[0]["commit"]  # a git hash in a checkout, "unknown" elsewhere


def test_summary_of_hand_made_rows():
    from skelemix.evaluation.results import summarise

    base = {"method": "skelemixclr", "stream": "joint", "dataset": "d", "benchmark": "xview", "protocol": "linear",
            "weights": "pretrained", "epochs": 80, "top5": 99.0}
    rows = [{**base, "seed": s, "top1": t} for s, t in ((0, 80.0), (1, 82.0), (2, 84.0))]
    rows.append({**base, "method": "skeletonclr", "seed": 0, "top1": 70.0})
    summary = {r["method"]: r for r in summarise(rows)}
    assert (summary["skelemixclr"]["top1_mean"], summary["skelemixclr"]["top1_sd"]) == (82.0, 2.0)
    assert (summary["skeletonclr"]["runs"], summary["skeletonclr"]["top1_sd"]) == (1, 0.0)


def test_piped_pretraining_prints_a_line_per_epoch_and_no_noise(tiny_run, tmp_path):
    import subprocess
    import sys

    _, config = tiny_run
    args = [sys.executable, "-m", "skelemix", "pretrain", "synthetic", "skelemixclr", *TINY,
            f"data.path={config.data.path}", "train.epochs=2", "train.knn_every=2", "--run-dir", str(tmp_path / "run")]
    result = subprocess.run(args, capture_output=True, text=True, env={**__import__("os").environ,
                                                                       "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]
    assert all(" samples/s " in line and " ETA " in line and "loss " in line for line in lines)
    assert "kNN " in lines[1] and "kNN " not in lines[0]
    assert "pretraining skelemixclr (R=1, lambda=1) on synthetic xsub train" in result.stdout
    for noise in ("litlogger", "LeafSpec", "Total FLOPs", "GPU available", "is not supported by the model summary"):
        assert noise not in out, noise
