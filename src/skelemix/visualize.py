"""Figures, written as PNG: t-SNE of embeddings with the NMI of k-means (Fig. 5), pair similarities during
pretraining (Fig. 4), training curves, and a SkeleMix example (Fig. 2).

t-SNE, k-means and NMI are scikit-learn's; plots are matplotlib's (Agg, no display needed). Training figures read
the run's CSV logs (``logs/metrics.csv`` and, after resuming, ``logs/resumed-N/metrics.csv``).

Example:
    >>> path, nmi = tsne_figure("runs/ucla", "runs/ucla/tsne.png")        # doctest: +SKIP
    >>> pair_similarity_figure("runs/ucla", "runs/ucla/pairs.png")        # doctest: +SKIP
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

PAIRS = {"train/sim/query_key": "query-key", "train/sim/query_queue": "query-queue",
         "train/sim/trimmed_key": "trimmed-key", "train/sim/truncated_key": "truncated-key",
         "train/sim/trimmed_truncated": "trimmed-truncated"}


def clustering_nmi(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    """NMI between the labels and k-means (k = number of classes) on L2-normalised features."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    features = features / np.linalg.norm(features, axis=1, keepdims=True).clip(1e-12)
    clusters = KMeans(n_clusters=len(np.unique(labels)), n_init=10, random_state=seed).fit_predict(features)
    return float(normalized_mutual_info_score(labels, clusters))


def tsne_figure(source: str | Path, out: str | Path, data_path: str | None = None, benchmark: str | None = None,
                classes: int | list[int] = 10, seed: int = 0, random_weights: bool = False) -> tuple[Path, float]:
    """t-SNE of the test set's clean backbone features for some classes (the first ``classes`` of the dataset,
    or these 0-based ones), titled with the NMI of k-means on the features themselves. ``random_weights``: the
    same network freshly initialised, the reference for the NMI."""
    from sklearn.manifold import TSNE

    from .data.format import PreparedDataset
    from .data.loading import SplitDataset
    from .evaluation.features import extract_features, load_pretrained, random_init

    model = load_pretrained(source)
    if random_weights:
        model = random_init(model.config, model.layout.name, seed=model.config.train.seed)
    prepared = PreparedDataset(data_path or model.config.data.target)
    benchmark = benchmark or model.config.data.benchmark
    chosen = list(range(min(classes, prepared.num_classes))) if isinstance(classes, int) else list(classes)
    test = [i for i in prepared.split(benchmark)["test"] if prepared.labels[i] in chosen]
    if len(test) < 5:
        raise ValueError(f"{prepared.path}: only {len(test)} test samples of the chosen classes; t-SNE needs more")
    loader = torch.utils.data.DataLoader(SplitDataset(prepared, test), batch_size=256)
    features, labels = (t.numpy() for t in extract_features(model, loader, "cpu"))
    nmi = clustering_nmi(features, labels, seed)
    points = TSNE(n_components=2, init="pca", perplexity=min(30.0, (len(test) - 1) / 3), random_state=seed
                  ).fit_transform(features)
    figure, axes = plt.subplots(figsize=(7, 6))
    colours = plt.get_cmap("tab10" if len(chosen) <= 10 else "tab20")
    for n, label in enumerate(chosen):
        mine = labels == label
        axes.scatter(points[mine, 0], points[mine, 1], s=10, color=colours(n % colours.N),
                     label=prepared.class_names[label])
    weights = "randomly initialised" if random_weights else model.config.method.name
    axes.set_title(f"t-SNE of {weights} {model.config.data.stream} features, "
                   f"{prepared.name} {benchmark} test\nNMI of k-means: {nmi:.3f}")
    axes.legend(fontsize=7, markerscale=2, loc="best")
    axes.set_xticks([]), axes.set_yticks([])
    return _save(figure, out), nmi


def read_metrics(run_dir: str | Path) -> list[dict[str, float]]:
    """Every row of the run's CSV logs (resumed sessions after the first), values as floats."""
    run_dir = Path(run_dir)
    files = [run_dir / "logs" / "metrics.csv", *sorted((run_dir / "logs").glob("resumed-*/metrics.csv"))]
    files = [f for f in files if f.is_file()]
    if not files:
        raise FileNotFoundError(f"{run_dir / 'logs' / 'metrics.csv'}: no training log (is this a pretraining run?)")
    rows = []
    for path in files:
        with path.open(newline="") as f:
            rows += [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]
    return rows


def _per_epoch(rows: list[dict[str, float]], column: str) -> tuple[list[int], list[float]]:
    points = {int(r["epoch"]) + 1: r[column] for r in rows if column in r and "epoch" in r}
    return sorted(points), [points[e] for e in sorted(points)]


def pair_similarity_figure(run_dir: str | Path, out: str | Path) -> Path:
    """Mean cosine similarity of each pair kind per epoch (Fig. 4)."""
    rows = read_metrics(run_dir)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    drawn = 0
    for column, label in PAIRS.items():
        epochs, values = _per_epoch(rows, column)
        if epochs:
            axes.plot(epochs, values, marker=".", label=label)
            drawn += 1
    if not drawn:
        raise ValueError(f"{run_dir}: the logs hold no pair similarities (train/sim/*)")
    axes.set_xlabel("epoch"), axes.set_ylabel("mean cosine similarity"), axes.legend()
    axes.set_title(f"pair similarities during pretraining: {Path(run_dir).name}")
    axes.grid(alpha=0.3)
    return _save(figure, out)


def training_curves_figure(run_dir: str | Path, out: str | Path) -> Path:
    """Pretraining loss and (where monitored) kNN top-1 per epoch."""
    rows = read_metrics(run_dir)
    epochs, loss = _per_epoch(rows, "train/loss_epoch")
    if not epochs:
        raise ValueError(f"{run_dir}: the logs hold no epoch losses yet")
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.plot(epochs, loss, color="tab:blue", label="loss")
    axes.set_xlabel("epoch"), axes.set_ylabel("loss", color="tab:blue")
    knn_epochs, knn = _per_epoch(rows, "monitor/knn_top1")
    if knn_epochs:
        twin = axes.twinx()
        twin.plot(knn_epochs, knn, color="tab:red", marker="o", label="kNN top-1")
        twin.set_ylabel("kNN top-1 (%)", color="tab:red")
    axes.set_title(f"pretraining: {Path(run_dir).name}")
    return _save(figure, out)


def mix_figure(data_path: str | Path, out: str | Path, samples: tuple[int, int] | None = None, frames: int = 4,
               seed: int = 0, min_frames: int = 7, max_frames: int = 11) -> Path:
    """Two sequences and the first with a SkeleMix region of the second pasted in (moved joints in red)."""
    from .data.format import PreparedDataset
    from .mixing import SkeleMix
    from .models.stgcn import TEMPORAL_DOWNSAMPLING

    prepared = PreparedDataset(data_path)
    if samples is None:  # the first sample, and the first of another class (the second sample if all share one)
        others = np.flatnonzero(prepared.labels != prepared.labels[0])
        if len(prepared) < 2:
            raise ValueError(f"{prepared.path}: mixing needs two samples, the dataset has {len(prepared)}")
        samples = (0, int(others[0]) if len(others) else 1)
    receiver, donor = (np.asarray(prepared.data[i], dtype=np.float32) for i in samples)  # (C, T, V, M)
    t = receiver.shape[1]
    feature_frames = t // TEMPORAL_DOWNSAMPLING
    mixer = SkeleMix(prepared.layout, min_frames=min(min_frames, feature_frames),
                     max_frames=min(max_frames, feature_frames))
    # the training code's own mixing; in a batch of two, each sample's partner is the other
    mixed, _, region = mixer(torch.from_numpy(np.stack([receiver, donor])), torch.Generator().manual_seed(seed))
    mixed = mixed[0].numpy()
    region = np.repeat(region.numpy(), TEMPORAL_DOWNSAMPLING, axis=0)  # (T, V) at the input frame rate
    span = np.flatnonzero(region.any(axis=1))
    shown = np.linspace(max(0, span[0] - 2), min(t - 1, span[-1] + 2), frames).round().astype(int)
    rows = [("sequence A " + prepared.samples[samples[0]].name, receiver, None),
            ("sequence B " + prepared.samples[samples[1]].name, donor, None),
            ("A with B's region (red)", mixed, region)]
    figure, grid = plt.subplots(3, frames, figsize=(2.4 * frames, 7.5), squeeze=False)
    for r, (title, sequence, moved) in enumerate(rows):
        for c, frame in enumerate(shown):
            axes = grid[r][c]
            _draw_skeleton(axes, sequence[:, frame, :, 0], prepared.layout.edges,
                           None if moved is None else moved[frame])
            axes.set_title(f"{title}\nframe {frame + 1}" if c == 0 else f"frame {frame + 1}", fontsize=7)
    figure.suptitle(f"SkeleMix: {len(np.flatnonzero(region.any(axis=0)))} joints over frames "
                    f"{span[0] + 1}-{span[-1] + 1}")
    return _save(figure, out)


def _draw_skeleton(axes, pose: np.ndarray, edges: list[tuple[int, int]], moved: np.ndarray | None) -> None:
    """pose (C, V): bones drawn in the x-y plane; bones of moved joints in red."""
    for child, parent in edges:
        red = moved is not None and (moved[child] or moved[parent])
        axes.plot(pose[0, [child, parent]], pose[1, [child, parent]], color="tab:red" if red else "tab:gray",
                  linewidth=2 if red else 1.2)
    axes.set_aspect("equal"), axes.set_xticks([]), axes.set_yticks([])


def _save(figure, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out
