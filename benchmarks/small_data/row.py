"""One row of benchmarks/small_data/results.csv from a run directory's evaluation results (run.sh calls it).

    python benchmarks/small_data/row.py RUN_DIR TARGET PRETRAIN_DATA
"""

import json
import sys
from pathlib import Path

import yaml

COLUMNS = ("dataset", "method", "pretrain_data", "seed", "knn", "linear", "semi10", "random_knn", "random_linear",
           "scratch_semi10", "commit")
RESULTS = {"knn": "knn", "linear": "linear", "semi10": "semi-10pct", "random_knn": "knn-random-init",
           "random_linear": "linear-random-init", "scratch_semi10": "semi-10pct-from-scratch"}


def row(run: Path, target: str, pretrain_data: str) -> str:
    summary = yaml.safe_load((run / "pretrain_summary.yaml").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    top1 = {column: json.loads((run / "evaluation" / f"{name}.json").read_text())["top1"]
            for column, name in RESULTS.items()}
    values = {"dataset": target, "method": summary["method"], "pretrain_data": pretrain_data,
              "seed": config["train"]["seed"], **top1, "commit": summary["commit"]}
    return ",".join(str(values[column]) for column in COLUMNS)


if __name__ == "__main__":
    csv = Path(__file__).with_name("results.csv")
    if not csv.exists() or not csv.read_text().strip():
        csv.write_text(",".join(COLUMNS) + "\n")
    print(row(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
