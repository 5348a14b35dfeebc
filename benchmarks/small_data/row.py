"""One row of benchmarks/small_data/results.csv from a run's evaluation results and the untrained network's of the
same seed (run.sh calls it).

    python benchmarks/small_data/row.py RUN_DIR UNTRAINED_DIR TARGET PRETRAIN_DATA
"""

import json
import sys
from pathlib import Path

import yaml

COLUMNS = ("dataset", "method", "pretrain_data", "seed", "knn", "linear", "semi10", "random_knn", "random_linear",
           "scratch_semi10", "commit")
PRETRAINED = {"knn": "knn", "linear": "linear", "semi10": "semi-10pct"}
UNTRAINED = {"random_knn": "knn-random-init", "random_linear": "linear-random-init",
             "scratch_semi10": "semi-10pct-from-scratch"}


def row(run: Path, untrained: Path, target: str, pretrain_data: str) -> str:
    summary = yaml.safe_load((run / "pretrain_summary.yaml").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    top1 = {column: json.loads((folder / f"{name}.json").read_text())["top1"]
            for names, folder in ((PRETRAINED, run / "evaluation"), (UNTRAINED, untrained))
            for column, name in names.items()}
    values = {"dataset": target, "method": summary["method"], "pretrain_data": pretrain_data,
              "seed": config["train"]["seed"], **top1, "commit": summary["commit"]}
    return ",".join(str(values[column]) for column in COLUMNS)


if __name__ == "__main__":
    csv = Path(__file__).with_name("results.csv")
    if not csv.exists() or not csv.read_text().strip():
        csv.write_text(",".join(COLUMNS) + "\n")
    new = row(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4])
    key = new.split(",")[:4]  # dataset, method, pretrain_data, seed: a run already recorded is not added again
    if not any(line.split(",")[:4] == key for line in csv.read_text().splitlines()):
        print(new)
