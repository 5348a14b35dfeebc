"""Choose settings on training data only: leave-one-subject-out linear-probe accuracy on a run's training split.

    python benchmarks/small_data/cv.py RUN_DIR [RUN_DIR ...] [--random-init]

For each run, the clean backbone features of its target dataset's training split (the benchmark it was pretrained
with) are computed once; then, for each training subject in turn, the run's linear probe (its eval.linear settings)
is trained on the other subjects' clips and tested on that subject's. Prints the mean and spread over subjects per
run: two recipes (a step budget, a pretraining pool) are compared by this number, never by the test split's.
"""

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

import torch

from skelemix.data.format import PreparedDataset
from skelemix.data.loading import split_loader
from skelemix.evaluation.features import extract_features, load_pretrained, random_init
from skelemix.evaluation.linear import linear_probe
from skelemix.runtime import quiet_lightning


def subject_cv(run: Path, untrained: bool = False) -> list[float]:
    model = load_pretrained(run)
    config = model.config
    if untrained:
        model = random_init(config, model.layout.name, seed=config.train.seed)
    prepared = PreparedDataset(config.data.target)
    train = prepared.split(config.data.benchmark)["train"]
    features, labels = extract_features(model, split_loader(prepared, config.data.benchmark, "train", 256), "cpu")
    subjects = torch.tensor([prepared.samples[i].subject for i in train])
    accuracies = []
    for subject in sorted(set(subjects.tolist())):
        held = subjects == subject
        scores, *_ = linear_probe(features[~held], labels[~held], features[held], prepared.num_classes,
                                  **dataclasses.asdict(config.eval.linear), seed=config.train.seed)
        accuracies.append(100.0 * float((scores.argmax(dim=1) == labels[held]).float().mean()))
    return accuracies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--random-init", action="store_true", help="the same networks, untrained")
    args = parser.parse_args()
    quiet_lightning()
    for run in args.runs:
        accuracies = subject_cv(run, args.random_init)
        print(f"{run}: {statistics.mean(accuracies):.2f} +- {statistics.stdev(accuracies):.2f} over "
              f"{len(accuracies)} held-out training subjects ({', '.join(f'{a:.1f}' for a in accuracies)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
