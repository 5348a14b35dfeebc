"""Reading saved evaluation results: score-level fusion of streams, and the table of many runs.

Every evaluation writes ``RUN/evaluation/<name>.json`` and ``<name>-scores.npy`` (test-set class probabilities,
rows in the order of the JSON's ``test_names``). Fusion adds the runs' probabilities with weights (equal by
default), after checking that they scored the same test samples in the same order.

Example:
    >>> fused = ensemble(["runs/joint", "runs/motion", "runs/bone"], name="linear")   # doctest: +SKIP
    >>> fused["fusion"]["top1"]                                                      # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import yaml

REPORT_COLUMNS = ("run", "method", "stream", "dataset", "benchmark", "protocol", "weights", "epochs", "seed", "top1",
                  "top5")
GROUP_KEYS = ("method", "stream", "dataset", "benchmark", "protocol", "weights", "epochs")
SUMMARY_COLUMNS = (*GROUP_KEYS, "runs", "seeds", "top1_mean", "top1_sd", "top5_mean", "top5_sd")
ACCURACY_COLUMNS = ("method", "stream", "seed", "epochs", "knn_top1", "linear_top1", "commit")


RESULT_KEYS = ("protocol", "checkpoint", "weights", "method", "stream", "dataset", "benchmark", "epochs", "top1",
               "top5", "scores_file", "test_names", "test_labels")


def load_result_json(path: Path) -> dict:
    """An evaluation's JSON; ValueError naming the file when it does not parse or lacks a key evaluate writes."""
    try:
        result = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    missing = [key for key in RESULT_KEYS if not isinstance(result, dict) or key not in result]
    if missing:
        raise ValueError(f"{path}: missing key {missing[0]!r}; not an evaluation result written by skelemix evaluate, "
                         f"or a damaged one")
    return result


def read_result(path: str | Path, name: str) -> tuple[dict, np.ndarray]:
    """(result JSON, scores (N_test, classes)) of evaluation ``name`` in a run directory or evaluation folder."""
    path = Path(path)
    folder = path / "evaluation" if (path / "evaluation").is_dir() else path
    json_path = folder / f"{name}.json"
    if not json_path.is_file():
        found = sorted(p.stem for p in folder.glob("*.json"))
        raise FileNotFoundError(f"{json_path}: no such evaluation result (found: {', '.join(found) or 'none'})")
    result = load_result_json(json_path)
    scores = np.load(folder / result["scores_file"])
    if len(scores) != len(result["test_names"]):
        raise ValueError(f"{folder / result['scores_file']}: {len(scores)} rows for {len(result['test_names'])} "
                         f"test samples")
    return result, scores


def top_k_accuracy(ranking, labels, k: int) -> float:
    """Percentage of samples whose label is among the first k of their ranking (N, classes); numpy arrays or torch
    tensors."""
    hits = (ranking[:, :min(k, ranking.shape[1])] == labels[:, None]).any(1)
    return 100.0 * float(hits.sum()) / len(hits)


def accuracies(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Top-1 and top-5 accuracy (%) of scores (N, classes) against labels (N,)."""
    ranking = np.argsort(-scores, axis=1, kind="stable")
    return round(top_k_accuracy(ranking, labels, 1), 2), round(top_k_accuracy(ranking, labels, 5), 2)


def fuse(results: list[dict], scores: list[np.ndarray], labels: np.ndarray,
         weights: list[float] | None = None) -> dict:
    """Weighted sum of the runs' scores; ValueError if they did not score the same samples in the same order."""
    if len(results) < 2:
        raise ValueError("fusion needs at least two runs")
    weights = [1.0] * len(results) if weights is None else list(weights)
    if len(weights) != len(results):
        raise ValueError(f"{len(weights)} weights for {len(results)} runs")
    if not all(np.isfinite(w) and w >= 0 for w in weights) or not any(weights):
        raise ValueError(f"fusion weights must be finite, >= 0 and not all zero, got {weights}")
    reference = results[0]["test_names"]
    for result in results[1:]:
        if result["test_names"] != reference:
            raise ValueError(f"{result['checkpoint']}: scored other test samples, or in another order, than "
                             f"{results[0]['checkpoint']}; fusion needs the same dataset and benchmark")
    if len({s.shape for s in scores}) != 1:
        raise ValueError(f"score arrays differ in shape: {[s.shape for s in scores]}")
    fused = sum(w * s for w, s in zip(weights, scores))
    runs = [{"stream": r["stream"], "checkpoint": r["checkpoint"], "weight": w,
             **dict(zip(("top1", "top5"), accuracies(s, labels)))} for r, s, w in zip(results, scores, weights)]
    return {"runs": runs, "fusion": dict(zip(("top1", "top5"), accuracies(fused, labels))), "scores": fused}


def ensemble(run_dirs: list[str | Path], name: str, weights: list[float] | None = None) -> dict:
    """Fuse evaluation ``name`` (e.g. "linear") of several runs; labels are the ones the results recorded."""
    loaded = [read_result(run, name) for run in run_dirs]
    results, scores = [r for r, _ in loaded], [s for _, s in loaded]
    return {"name": name, **fuse(results, scores, np.asarray(results[0]["test_labels"]), weights)}


def _run_info(run: Path) -> tuple[int | str, str]:
    """(training seed, commit) of a run directory, from its config.yaml and pretrain_summary.yaml ("" if absent)."""
    config = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").is_file() else {}
    summary = run / "pretrain_summary.yaml"
    commit = (yaml.safe_load(summary.read_text()) or {}).get("commit", "") if summary.is_file() else ""
    return (config or {}).get("train", {}).get("seed", ""), commit


def report(run_dirs: list[str | Path]) -> list[dict]:
    """One row per saved evaluation of each run (see REPORT_COLUMNS)."""
    rows = []
    for run in run_dirs:
        seed, _ = _run_info(Path(run))
        folder = Path(run) / "evaluation"
        paths = sorted(folder.glob("*.json"))
        if not paths:
            raise FileNotFoundError(f"{folder}: no evaluation results (run `skelemix evaluate ...` first)")
        for path in paths:
            result = load_result_json(path)
            protocol = result.get("name", result["protocol"]).split("-from-scratch")[0].split("-random-init")[0]
            rows.append({"run": str(run), "method": result["method"] + ("+" if result.get("mixes", 1) > 1 else ""),
                         "stream": result["stream"], "dataset": result["dataset"], "benchmark": result["benchmark"],
                         "protocol": protocol, "weights": result["weights"], "epochs": result["epochs"],
                         "seed": seed, "top1": result["top1"], "top5": result["top5"]})
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Rows of one setting (GROUP_KEYS) over seeds -> one row with the count, the seeds, the mean and the sample
    standard deviation (0 for a single run) of top-1 and top-5."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in GROUP_KEYS), []).append(row)
    summary = []
    for key, members in groups.items():
        stats = {}
        for metric in ("top1", "top5"):
            values = np.array([m[metric] for m in members], dtype=float)
            stats[f"{metric}_mean"] = round(float(values.mean()), 2)
            stats[f"{metric}_sd"] = round(float(values.std(ddof=1)) if len(values) > 1 else 0.0, 2)
        summary.append({**dict(zip(GROUP_KEYS, key)), "runs": len(members),
                        "seeds": " ".join(str(m["seed"]) for m in members), **stats})
    return summary


def accuracy_rows(run_dirs: list[str | Path]) -> list[dict]:
    """One row per run with its pretrained kNN and linear top-1 (ACCURACY_COLUMNS: the benchmarks/accuracy files)."""
    rows = []
    for run in map(Path, run_dirs):
        seed, commit = _run_info(run)
        knn, _ = read_result(run, "knn")
        linear, _ = read_result(run, "linear")
        method = knn["method"] + ("+" if knn.get("mixes", 1) > 1 and knn["method"] == "skelemixclr" else "")
        rows.append({"method": method, "stream": knn["stream"], "seed": seed, "epochs": knn["epochs"],
                     "knn_top1": knn["top1"], "linear_top1": linear["top1"], "commit": commit})
    return rows


def append_accuracy_rows(run_dirs: list[str | Path], path: str | Path) -> int:
    """Append one ``ACCURACY_COLUMNS`` row per run to the CSV at ``path`` (its header only into a new file); returns
    the number of rows."""
    rows = accuracy_rows(run_dirs)
    table = as_csv(rows, ACCURACY_COLUMNS)
    with Path(path).open("a") as out:
        out.write(table if out.tell() == 0 else table.split("\n", 1)[1])
    return len(rows)


def as_markdown(rows: list[dict], columns: tuple[str, ...] = REPORT_COLUMNS) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c]) for c in columns)
              + " |" for row in rows]
    return "\n".join(lines)


def as_csv(rows: list[dict], columns: tuple[str, ...] = REPORT_COLUMNS) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
