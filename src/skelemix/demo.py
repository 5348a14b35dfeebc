"""``skelemix demo``: the whole pipeline on the built-in synthetic data in a few minutes on a laptop CPU.

Generates the synthetic dataset, pretrains SkeleMixCLR on the training performers (config ``demo``),
then evaluates kNN and linear classification on the held-out performers, next to the same encoder
randomly initialised.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .config import load_config
from .data import PreparedDataset, prepare_synthetic
from .evaluation.protocols import evaluate
from .training import pretrain


def run_demo(out_dir: str | Path = "skelemix-demo", epochs: int | None = None, echo: Callable[[str], None] = print,
             progress: bool = True) -> dict[str, dict[str, float]]:
    """Returns {"pretrained": {"knn": top1, "linear": top1}, "random init": {...}}."""
    out_dir = Path(out_dir)
    data_dir = out_dir / "data"
    if not (data_dir / "dataset.json").is_file():
        echo(f"generating the synthetic dataset in {data_dir} ...")
        prepare_synthetic(data_dir, frames=32)
    overrides = [f"data.path={data_dir}"] + ([f"train.epochs={epochs}"] if epochs is not None else [])
    config = load_config(["demo"], overrides)
    prepared = PreparedDataset(data_dir, verify=False)  # its numbers are read, and checked, by pretrain
    split = prepared.split(config.data.benchmark)
    echo(f"pretraining SkeleMixCLR for {config.train.epochs} epochs on {len(split['train'])} sequences "
         f"({config.data.benchmark} train performers) ...")
    run_dir = out_dir / "run"
    index = 1
    while (run_dir / "checkpoints" / "last.ckpt").exists():
        index += 1
        run_dir = out_dir / f"run{index}"
    pretrain(config, run_dir, progress=progress)
    table: dict[str, dict[str, float]] = {"pretrained": {}, "random init": {}}
    for weights, random_weights in (("pretrained", False), ("random init", True)):
        for protocol in ("knn", "linear"):
            echo(f"evaluating {protocol} ({weights}) ...")
            table[weights][protocol] = evaluate(protocol, run_dir, random_weights=random_weights)["top1"]
    echo("")
    echo(f"top-1 accuracy (%) on {len(split['test'])} sequences of held-out performers, {prepared.num_classes} classes")
    echo(f"{'encoder':<14}{'kNN':>8}{'linear':>9}")
    for weights, row in table.items():
        echo(f"{weights:<14}{row['knn']:>8.2f}{row['linear']:>9.2f}")
    echo(f"\noutputs: {run_dir} (checkpoints/, logs/, evaluation/*.json), data: {data_dir}")
    return table
