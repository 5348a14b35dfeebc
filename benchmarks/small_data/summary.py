"""The tables of benchmarks/small_data/results.csv: mean and spread (sample standard deviation) over the seeds of
each target, method and pretraining pool, with the margins the issue's targets are about; then the path
docs/OWN_DATA.md recommends: per target, method and seed, pretrain on the pool and on the own clips and keep the
run whose `skelemix evaluate cv` top-1 (training subjects only, cv.csv) is higher.

    python benchmarks/small_data/summary.py [results.csv [cv.csv]]
    python benchmarks/small_data/summary.py --variant NAME

``--variant``: the tables of a variant of the recipe (results-NAME.csv, run.sh's VARIANT), then the variant against
the recipe on the runs both have (same target, method, pool and seed): cv top-1, kNN, linear and semi 10%.
"""

import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path

METRICS = ("knn", "linear", "semi10", "random_knn", "random_linear", "scratch_semi10")
COMPARED = ("cv", "knn", "linear", "semi10")  # a variant against the recipe


def cell(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} +- {statistics.stdev(values):.2f}"


def run_key(row: dict) -> tuple[str, str, str, str]:
    """The run a CSV row is of: (dataset, method, pretrain_data, seed)."""
    return row["dataset"], row["method"], row["pretrain_data"], row["seed"]


def read(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def table(groups: dict[tuple, list[dict]], first_columns: str) -> None:
    print(f"| {first_columns} | seeds | kNN | linear | semi 10% | random kNN | random linear | scratch semi 10% | "
          "linear - random | semi - scratch |")
    print("|" + "---|" * (len(first_columns.split("|")) + 9))
    for key, rows in sorted(groups.items()):
        values = {m: [float(r[m]) for r in rows] for m in METRICS}
        linear_gain = [a - b for a, b in zip(values["linear"], values["random_linear"])]
        semi_gain = [a - b for a, b in zip(values["semi10"], values["scratch_semi10"])]
        seeds = ",".join(r["seed"] for r in rows)
        print(f"| {' | '.join(key)} | {seeds} | " + " | ".join(cell(values[m]) for m in METRICS)
              + f" | {cell(linear_gain)} | {cell(semi_gain)} |")


def chosen_by_cv(results: list[dict], cv: list[dict]) -> dict[tuple, list[dict]]:
    """Per (target, method): for each seed with both pools evaluated and cross-validated, the results row of the pool
    with the higher cv top-1 (the pool on a tie), its ``pretrain_data`` noting the choice."""
    score = {run_key(r): float(r["cv"]) for r in cv}
    by_run = {run_key(r): r for r in results}
    groups = defaultdict(list)
    for dataset, method, seed in sorted({(d, m, s) for d, m, _, s in by_run}):
        runs = [(dataset, method, pool, seed) for pool in ("public", "own")]
        if not all(run in by_run and run in score for run in runs):
            continue
        best = max(runs, key=lambda run: score[run])  # max keeps the first (the pool) on a tie
        groups[(dataset, method)].append(by_run[best])
    return groups


def against_recipe(recipe: list[dict], recipe_cv: list[dict], variant: list[dict], variant_cv: list[dict]) -> None:
    """Per target, method and pool: recipe -> variant means over the seeds both ran, and the paired differences."""
    def by_run(rows: list[dict], cv: list[dict]) -> dict[tuple, dict]:
        scores = {run_key(r): float(r["cv"]) for r in cv}
        return {run_key(r): {m: scores.get(run_key(r)) if m == "cv" else float(r[m]) for m in COMPARED} for r in rows}
    before, after = by_run(recipe, recipe_cv), by_run(variant, variant_cv)
    groups = defaultdict(list)
    for key in sorted(before.keys() & after.keys(), key=lambda k: (k[:3], int(k[3]))):
        groups[key[:3]].append(key)
    print("| target | method | pretrained on | seeds | cv | kNN | linear | semi 10% |")
    print("|---|---|---|---|---|---|---|---|")
    for group, keys in sorted(groups.items()):
        cells = []
        for metric in COMPARED:
            pairs = [(before[k][metric], after[k][metric]) for k in keys]
            if any(value is None for pair in pairs for value in pair):
                cells.append("-")
                continue
            old, new = zip(*pairs)
            cells.append(f"{statistics.mean(old):.2f} -> {statistics.mean(new):.2f} "
                         f"({cell([b - a for a, b in pairs])})")
        print(f"| {' | '.join(group)} | {','.join(k[3] for k in keys)} | {' | '.join(cells)} |")


def main(results_path: Path, cv_path: Path) -> None:
    results = read(results_path)
    groups = defaultdict(list)
    for row in results:
        groups[(row["dataset"], row["pretrain_data"], row["method"])].append(row)
    for rows in groups.values():
        rows.sort(key=lambda r: int(r["seed"]))
    table(groups, "target | pretrained on | method")
    chosen = chosen_by_cv(results, read(cv_path)) if cv_path.exists() else {}
    if chosen:  # needs both pools of a seed
        print()
        print("Pretrained on the pool or on the own clips, whichever `skelemix evaluate cv` rates higher "
              "(per seed: " + "; ".join(f"{d} {m}: {', '.join(r['pretrain_data'] for r in rows)}"
                                        for (d, m), rows in sorted(chosen.items())) + ")")
        print()
        table(chosen, "target | method")


if __name__ == "__main__":
    here = Path(__file__).parent
    if sys.argv[1:2] == ["--variant"]:
        results, cv = here / f"results-{sys.argv[2]}.csv", here / f"cv-{sys.argv[2]}.csv"
        main(results, cv)
        print()
        against_recipe(read(here / "results.csv"), read(here / "cv.csv"), read(results), read(cv))
    else:
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else here / "results.csv",
             Path(sys.argv[2]) if len(sys.argv) > 2 else here / "cv.csv")
