"""Sanity check, not a benchmark: do an NTU-25 encoder's features keep the six Kinect v2 gestures of
../shared/data/pose-estimators/kinect-v2-csv apart?

Each recording (one gesture, 154-213 frames) is cut into non-overlapping windows; every window is embedded (clean
backbone features, the run's preprocessing) and classified by its nearest other window (cosine, leave-one-window-out).
The same for a randomly initialised encoder of the same architecture. Six recordings cannot measure accuracy: this
only shows that reading the CSV, mapping it to NTU-25 and embedding it gives features that separate the gestures.

    python benchmarks/sanity/kinect_gestures.py RUN_DIR [--window 40] [--csv-dir ../shared/data/pose-estimators/kinect-v2-csv]
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from skelemix.data.format import PreparedDataset
from skelemix.data.preprocess import Preprocessing
from skelemix.evaluation.features import load_pretrained, random_init
from skelemix.inference import load_inputs


def nearest_window_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    """Percent of windows whose most cosine-similar other window has the same label."""
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return 100.0 * float(np.mean(labels[similarity.argmax(axis=1)] == labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--window", type=int, default=40)
    parser.add_argument("--csv-dir", type=Path,
                        default=Path(__file__).resolve().parents[3] / "shared/data/pose-estimators/kinect-v2-csv")
    args = parser.parse_args()
    model = load_pretrained(args.run)
    preprocessing = Preprocessing(**PreparedDataset(model.config.data.path).info["preprocessing"])
    names, x = load_inputs([args.csv_dir], model.layout, preprocessing, args.window, args.window)
    labels = np.array([name.split("_")[0] for name in names])  # Ges01 ... Ges06
    random = random_init(model.config, model.layout.name, seed=0)
    with torch.inference_mode():
        pretrained, untrained = model.embed(x).numpy(), random.embed(x).numpy()
    print(f"{len(names)} windows of {args.window} frames from {len(set(labels))} gestures; nearest other window "
          f"has the same gesture: pretrained {nearest_window_accuracy(pretrained, labels):.1f}%, random init "
          f"{nearest_window_accuracy(untrained, labels):.1f}%, chance {100 / len(set(labels)):.1f}%")


if __name__ == "__main__":
    main()
