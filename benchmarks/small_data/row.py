"""Rows of the small-data benchmark's CSVs (run.sh calls it):

    python benchmarks/small_data/row.py RESULTS_CSV RUN_DIR UNTRAINED_DIR TARGET PRETRAIN_DATA
    python benchmarks/small_data/row.py --cv CV_CSV RUN_DIR TARGET PRETRAIN_DATA

results.csv (or a variant's results-NAME.csv): the run's test-split evaluations and the untrained network's of the
same seed. cv.csv: the run's ``skelemix evaluate cv`` (the linear probe cross-validated over the target's training
subjects: top-1 over every training clip), the number a user compares pretrainings by without the test split. A row
already in its CSV (same dataset, method, pretrain_data and seed) is not printed again.
"""

import json
import sys
from pathlib import Path

import yaml

COLUMNS = ("dataset", "method", "pretrain_data", "seed", "knn", "linear", "semi10", "random_knn", "random_linear",
           "scratch_semi10", "commit")
CV_COLUMNS = ("dataset", "method", "pretrain_data", "seed", "cv", "commit")
PRETRAINED = {"knn": "knn", "linear": "linear", "semi10": "semi-10pct"}
UNTRAINED = {"random_knn": "knn-random-init", "random_linear": "linear-random-init",
             "scratch_semi10": "semi-10pct-from-scratch"}


def _top1(folder: Path, name: str) -> float:
    return json.loads((folder / f"{name}.json").read_text())["top1"]


def _run_fields(run: Path, target: str, pretrain_data: str) -> dict:
    """The columns every row starts and ends with: what was pretrained, on what, with which seed, at which commit."""
    summary = yaml.safe_load((run / "pretrain_summary.yaml").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    return {"dataset": target, "method": summary["method"], "pretrain_data": pretrain_data,
            "seed": config["train"]["seed"], "commit": summary["commit"]}


def results_row(run: Path, untrained: Path, target: str, pretrain_data: str) -> dict:
    top1 = {column: _top1(folder, name) for names, folder in ((PRETRAINED, run / "evaluation"), (UNTRAINED, untrained))
            for column, name in names.items()}
    return {**_run_fields(run, target, pretrain_data), **top1}


def cv_row(run: Path, target: str, pretrain_data: str) -> dict:
    return {**_run_fields(run, target, pretrain_data), "cv": _top1(run / "evaluation", "cv")}


def main(args: list[str]) -> None:
    if args[0] == "--cv":
        csv, columns, values = Path(args[1]), CV_COLUMNS, cv_row(Path(args[2]), args[3], args[4])
    else:
        csv, columns = Path(args[0]), COLUMNS
        values = results_row(Path(args[1]), Path(args[2]), args[3], args[4])
    if not csv.exists() or not csv.read_text().strip():
        csv.write_text(",".join(columns) + "\n")
    new = ",".join(str(values[column]) for column in columns)
    key = new.split(",")[:4]  # dataset, method, pretrain_data, seed
    if not any(line.split(",")[:4] == key for line in csv.read_text().splitlines()):
        print(new)


if __name__ == "__main__":
    main(sys.argv[1:])
