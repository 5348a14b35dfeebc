"""``skelemix evaluate``, ``report``, ``ensemble``, ``visualize``, ``embed`` and ``predict``: what a pretrained encoder
is worth, and its use on new sequences."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..config import EvalConfig
from .options import (EVALUATION, BenchmarkOpt, DataOpt, JsonOpt, PngOpt, RandomInit, RunDirs, Source, from_hub,
                      int_list, with_options)

evaluate_app = typer.Typer(help="Evaluate a pretrained encoder with a protocol of the field.", no_args_is_help=True)
visualize_app = typer.Typer(help="Figures, written as PNG.", no_args_is_help=True)

FromScratch = Annotated[bool, typer.Option(help="Train the same network from random weights: the supervised "
                                                "reference.")]
DEFAULTS = EvalConfig()  # what a recipe's eval section starts from; the run's own config may set other values
Epochs = Annotated[Optional[int], typer.Option(min=1, help=f"Epochs [default: the run's config; without a recipe's "
                                                          f"value {DEFAULTS.finetune.epochs}, linear "
                                                          f"{DEFAULTS.linear.epochs}].")]


def _evaluate(protocol: str, source: Path, untrained: bool, evaluation: dict, settings: dict,
              fraction: Optional[float] = None) -> None:
    from ..evaluation.protocols import evaluate

    options = dict(evaluation)
    settings = {**settings, "precision": options.pop("precision")}
    overrides = [*(options.pop("overrides") or []), *(f"eval.{k}={v}" for k, v in settings.items() if v is not None)]
    as_json, data = options.pop("as_json"), options.pop("data")
    result = evaluate(protocol, source, data_path=str(data) if data else None, random_weights=untrained,
                      overrides=overrides, config_files=options.pop("config_files") or [], fraction=fraction,
                      **options)
    if as_json:
        shown = {k: v for k, v in result.items() if k not in ("test_names", "test_labels", "subset")}
        typer.echo(json.dumps(shown, indent=2))
    else:
        folds = result.get("folds")
        over = (f" (training clips out of fold; {folds['count']} folds by {folds['by']}: {folds['top1_mean']:.2f} +- "
                f"{folds['top1_sd']:.2f})" if folds else "")
        typer.echo(f"{result['name']} {result['weights']} {result['method']} {result['stream']} on "
                   f"{result['dataset']} {result['benchmark']}: top-1 {result['top1']:.2f}  top-5 {result['top5']:.2f}"
                   f"{over}  -> {result['path']}")


@evaluate_app.command("knn")
@with_options(EVALUATION, into="evaluation")
def knn(source: Source, random_init: RandomInit = False,
        k: Annotated[Optional[int], typer.Option(help=f"Neighbours [default: the run's config; without a recipe's "
                                                      f"value {DEFAULTS.knn.k}].")] = None,
        temperature: Annotated[Optional[float], typer.Option(help=f"Vote temperature [default: the run's config; "
                                                                  f"without a recipe's value "
                                                                  f"{DEFAULTS.knn.temperature}].")] = None,
        evaluation: dict = None):
    """Weighted kNN on clean backbone features (cosine similarity)."""
    _evaluate("knn", source, random_init, evaluation, {"knn.k": k, "knn.temperature": temperature})


@evaluate_app.command("linear")
@with_options(EVALUATION, into="evaluation")
def linear(source: Source, random_init: RandomInit = False, epochs: Epochs = None,
           lr: Annotated[Optional[float], typer.Option(help=f"SGD learning rate [default: the run's config; without a "
                                                            f"recipe's value {DEFAULTS.linear.lr}].")] = None,
           batch_size: Annotated[Optional[int], typer.Option(help=f"Batch size [default: the run's config; without a "
                                                                  f"recipe's value {DEFAULTS.linear.batch_size}].")]
           = None,
           evaluation: dict = None):
    """Linear classifier on the frozen encoder; reports the final epoch."""
    _evaluate("linear", source, random_init, evaluation,
              {"linear.epochs": epochs, "linear.lr": lr, "linear.batch_size": batch_size})


@evaluate_app.command("cv")
@with_options(EVALUATION, into="evaluation")
def cv(source: Source, random_init: RandomInit = False,
       folds: Annotated[Optional[int], typer.Option(min=2, help=f"Folds of clips when the training split records one "
                                                               f"subject [default: the run's config; without a "
                                                               f"recipe's value {DEFAULTS.cv.folds}].")] = None,
       evaluation: dict = None):
    """The linear probe (the run's eval.linear) cross-validated on the training split alone: leave one subject out,
    or class-balanced folds of clips when the split records a single subject. Compare pretrainings with it, never
    with the test split."""
    _evaluate("cv", source, random_init, evaluation, {"cv.folds": folds})


@evaluate_app.command("finetune")
@with_options(EVALUATION, into="evaluation")
def finetune(source: Source, from_scratch: FromScratch = False, epochs: Epochs = None, evaluation: dict = None):
    """Encoder and a linear head trained on every labelled training sample (eval.finetune of the run's config)."""
    _evaluate("finetune", source, from_scratch, evaluation, {"finetune.epochs": epochs})


@evaluate_app.command("semi")
@with_options(EVALUATION, into="evaluation")
def semi(source: Source,
         fraction: Annotated[float, typer.Option(help="Labelled share of the training set (0.01, 0.1).")],
         from_scratch: FromScratch = False, epochs: Epochs = None,
         seed: Annotated[Optional[int], typer.Option(help=f"Draws the subset [default: the run's config; without a "
                                                         f"recipe's value {DEFAULTS.semi.seed}].")] = None,
         evaluation: dict = None):
    """Finetune on a class-balanced subset: round(fraction x class count) per class, at least one (recorded)."""
    _evaluate("semi", source, from_scratch, evaluation, {"finetune.epochs": epochs, "semi.seed": seed},
              fraction=fraction)


def ensemble(
    runs: RunDirs,
    protocol: Annotated[str, typer.Option(help="Which saved evaluation to fuse, e.g. linear, knn, finetune, "
                                               "semi-10pct.")] = "linear",
    weights: Annotated[Optional[str], typer.Option(help="Comma-separated weights [default: equal].")] = None,
    as_json: JsonOpt = False,
):
    """Score-level fusion of several runs, such as the joint, motion and bone streams, on the same test samples."""
    from ..evaluation.results import ensemble as fuse_runs

    try:
        given = [float(w) for w in weights.split(",")] if weights else None
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated numbers, got {weights!r}") from None
    fused = fuse_runs(runs, protocol, given)
    if as_json:
        typer.echo(json.dumps({k: v for k, v in fused.items() if k != "scores"}, indent=2))
        return
    for run, entry in zip(runs, fused["runs"]):
        typer.echo(f"{entry['stream']:>7} {protocol}  top-1 {entry['top1']:6.2f}  top-5 {entry['top5']:6.2f}  "
                   f"(weight {entry['weight']:g}, {run})")
    typer.echo(f" fusion {protocol}  top-1 {fused['fusion']['top1']:6.2f}  top-5 {fused['fusion']['top5']:6.2f}")


def report(
    runs: RunDirs,
    csv_path: Annotated[Optional[Path], typer.Option("--csv", help="Also write the table as CSV here.")] = None,
    group: Annotated[bool, typer.Option(help="One row per setting: mean and standard deviation over the runs' "
                                             "seeds.")] = False,
    accuracy_csv: Annotated[Optional[Path], typer.Option(
        help="Append one row per run (method, stream, seed, epochs, knn_top1, linear_top1, commit) to this CSV, "
             "as in benchmarks/accuracy/.")] = None,
):
    """One markdown table of every evaluation of the given runs (and CSV with --csv)."""
    from ..evaluation import results

    rows, columns = results.report(runs), results.REPORT_COLUMNS
    if group:
        rows, columns = results.summarise(rows), results.SUMMARY_COLUMNS
    typer.echo(results.as_markdown(rows, columns))
    if csv_path:
        csv_path.write_text(results.as_csv(rows, columns))
        typer.echo(f"wrote {csv_path}")
    if accuracy_csv:
        typer.echo(f"appended {results.append_accuracy_rows(runs, accuracy_csv)} rows to {accuracy_csv}")


@visualize_app.command("tsne")
def tsne(source: Source, data: DataOpt = None, benchmark: BenchmarkOpt = None,
         classes: Annotated[str, typer.Option(help="How many classes (the first N), or 0-based labels separated by "
                                                   "commas.")] = "10",
         seed: Annotated[int, typer.Option(help="Seed of t-SNE and k-means.")] = 0, out: PngOpt = None,
         random_init: RandomInit = False):
    """t-SNE of test-set embeddings and the NMI of k-means on them (Fig. 5)."""
    from ..checkpoints import checkpoint_path, run_directory
    from ..visualize import tsne_figure

    chosen = int_list(classes)
    out = out or run_directory(checkpoint_path(source)) / "figures" / "tsne.png"
    path, nmi = tsne_figure(source, out, str(data) if data else None, benchmark,
                            chosen[0] if len(chosen) == 1 else chosen, seed, random_init)
    typer.echo(f"NMI {nmi:.3f}; wrote {path}")


RunDir = Annotated[Path, typer.Argument(help="A pretraining run directory.")]


@visualize_app.command("pairs")
def pairs(run_dir: RunDir, out: PngOpt = None):
    """Mean cosine similarity of query-key, query-queue, trimmed-key, truncated-key and trimmed-truncated pairs
    per epoch (Fig. 4)."""
    from ..visualize import pair_similarity_figure

    typer.echo(f"wrote {pair_similarity_figure(run_dir, out or run_dir / 'figures' / 'pairs.png')}")


@visualize_app.command("curves")
def curves(run_dir: RunDir, out: PngOpt = None):
    """Pretraining loss and kNN top-1 per epoch."""
    from ..visualize import training_curves_figure

    typer.echo(f"wrote {training_curves_figure(run_dir, out or run_dir / 'figures' / 'curves.png')}")


@visualize_app.command("mix")
def mix(data: Annotated[Path, typer.Argument(help="A prepared dataset.")],
        samples: Annotated[Optional[str], typer.Option(
            help="Two sample indices A,B [default: the first, and the first of another class].")] = None,
        seed: Annotated[int, typer.Option(help="Draws the region.")] = 0,
        out: Annotated[Path, typer.Option("--out", help="The PNG to write.")] = Path("skelemix-mix.png")):
    """Two skeletons and A with a SkeleMix region of B pasted in, the moved parts in red (Fig. 2)."""
    from ..visualize import mix_figure

    pair = int_list(samples)
    if pair is not None and len(pair) != 2:
        raise typer.BadParameter(f"expected two indices A,B, got {samples!r}")
    typer.echo(f"wrote {mix_figure(data, out, tuple(pair) if pair else None, seed=seed)}")


Inputs = Annotated[list[Path], typer.Argument(help="Prepared dataset directories, raw .skeleton / NW-UCLA .json files, or "
                                                 "recordings: OpenPose folders, MediaPipe / keypoints .json, "
                                                 "MediaPipe / Kinect .csv.")]
Window = Annotated[Optional[int], typer.Option(min=1, help="Cut each raw sequence into windows of this many frames, "
                                                         "each a sample named <name>@<first frame> (long recordings).")]
Stride = Annotated[Optional[int], typer.Option(min=1, help="Frames between window starts [default: the window].")]


EmbedSource = Annotated[Path, typer.Argument(callback=from_hub, help="A run directory, checkpoint, model folder (or "
                                                                    "hub://OWNER/NAME), or features model exported with "
                                                 "`skelemix export onnx` (run on onnxruntime).")]


def embed(source: EmbedSource, inputs: Inputs,
          out: Annotated[Path, typer.Option("--out", help="Features (N, D) .npy; names go to .txt beside.")],
          window: Window = None, stride: Stride = None):
    """Clean backbone features of a pretrained encoder for new sequences."""
    from ..inference import embed as embed_inputs, save_embeddings

    names, features = embed_inputs(source, inputs, window, stride)
    names_file = save_embeddings(out, names, features)
    typer.echo(f"wrote {features.shape[0]} x {features.shape[1]} features to {out} (names: {names_file})")


def _top_line(top: list[dict]) -> str:
    return ", ".join(f"{t['class']} {100 * t['probability']:.1f}%" for t in top)


def predict(
    classifier: Annotated[Path, typer.Argument(callback=from_hub, help="evaluation/<protocol>-classifier.pt of a "
                                               "linear, finetune or semi evaluation, its model folder (or "
                                               "hub://OWNER/NAME), or its export by `skelemix export onnx`.")],
    inputs: Annotated[Optional[list[Path]], Inputs.__metadata__[0]] = None,
    top_k: Annotated[int, typer.Option(min=1, help="Classes to show per sample.")] = 5,
    as_json: JsonOpt = False, window: Window = None, stride: Stride = None,
    stream: Annotated[Optional[str], typer.Option(
        help="Read poses one frame per line from this file or - (standard input; OpenPose, MediaPipe, keypoints "
             "JSON or Kinect CSV lines) and print a prediction per hop as the frames arrive.")] = None,
    hop: Annotated[int, typer.Option(min=1, help="With --stream: frames between predictions.")] = 8,
):
    """Top-k actions with probabilities for new sequences, or live over a stream of poses (--stream)."""
    if stream is not None:
        if inputs:
            raise typer.BadParameter("give either INPUTS or --stream, not both")
        _predict_stream(classifier, stream, top_k, as_json, window or 64, hop)
        return
    if not inputs:
        raise typer.BadParameter("no INPUTS (or --stream - for live poses)")
    from ..inference import predict as predict_inputs

    predictions = predict_inputs(classifier, inputs, top_k, window, stride)
    if as_json:
        typer.echo(json.dumps(predictions, indent=2))
        return
    for entry in predictions:
        typer.echo(entry["name"] + ": " + _top_line(entry["top"]))


def _predict_stream(classifier: Path, source: str, top_k: int, as_json: bool, window: int, hop: int) -> None:
    from ..inference import load_predictor
    from ..stream import stream_predictions

    predictor = load_predictor(classifier)
    with (open(source) if source != "-" else contextlib.nullcontext(sys.stdin)) as lines:
        for p in stream_predictions(predictor, lines, window, hop, top_k, source):
            typer.echo(json.dumps(p) if as_json else
                       f"{p['time']:8.2f} s  frames {p['start']}-{p['end']}: {_top_line(p['top'])}  "
                       f"({p['latency_ms']:.1f} ms)")
            sys.stdout.flush()


def replay(recording: Annotated[Path, typer.Argument(help="A recorded clip: an OpenPose folder, a MediaPipe or "
                                                          "keypoints .json, a MediaPipe or Kinect .csv.")],
           fps: Annotated[Optional[float], typer.Option(
               min=0, help="Frames per second [default: the recording's, else 30; 0: all at once].")] = None):
    """Print a recording one frame per line at its frame rate, as a live pose estimator would: pipe it into
    `skelemix predict MODEL --stream -`."""
    from ..stream import replay as replay_lines

    for line in replay_lines(recording, fps):
        typer.echo(line)
        sys.stdout.flush()
