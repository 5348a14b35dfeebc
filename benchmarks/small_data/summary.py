"""The table of benchmarks/small_data/results.csv: mean and spread (sample standard deviation) over the seeds of
each target, method and pretraining pool, with the margins the issue's targets are about.

    python benchmarks/small_data/summary.py [results.csv]
"""

import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path

METRICS = ("knn", "linear", "semi10", "random_knn", "random_linear", "scratch_semi10")


def cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} +- {statistics.stdev(values):.2f}"


def main(path: Path) -> None:
    groups = defaultdict(list)
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            groups[(row["dataset"], row["pretrain_data"], row["method"])].append(row)
    print("| target | pretrained on | method | seeds | kNN | linear | semi 10% | random kNN | random linear | "
          "scratch semi 10% | linear - random | semi - scratch |")
    print("|" + "---|" * 12)
    for (dataset, data, method), rows in sorted(groups.items()):
        values = {m: [float(r[m]) for r in rows] for m in METRICS}
        linear_gain = [a - b for a, b in zip(values["linear"], values["random_linear"])]
        semi_gain = [a - b for a, b in zip(values["semi10"], values["scratch_semi10"])]
        seeds = ",".join(sorted(r["seed"] for r in rows))
        print(f"| {dataset} | {data} | {method} | {seeds} | " + " | ".join(cell(values[m]) for m in METRICS)
              + f" | {cell(linear_gain)} | {cell(semi_gain)} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("results.csv"))
