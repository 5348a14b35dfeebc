"""A model folder anyone can load: weights without pickle, a config, and a model card, as the Hugging Face Hub lays out
a model repository (``huggingface-cli upload OWNER/NAME FOLDER`` publishes it unchanged).

``export_model(SOURCE, FOLDER)`` writes:

- ``model.safetensors``: the tensors only; from a pretraining run the query encoder and its projection head
  (``encoder.*``, ``projector.*``: what evaluation and embedding use), from a classifier file of
  ``evaluate linear/finetune/semi`` the encoder, the head and the feature standardisation;
- ``config.json``: kind (``encoder`` or ``classifier``), layout, stream, preprocessing, class names, method, the
  datasets it was pretrained on, the full resolved config and skelemix's version;
- ``README.md``: a model card written from the run: what it was trained on, its evaluations with their numbers
  and the commands that made them, its limits.

``read_model_folder`` checks the three agree (a known kind, the layout's joint count in the weights, every tensor
the kind needs and no other) and refuses a folder that does not, naming the file and the problem.

``hub://OWNER/NAME`` names such a folder published on the Hugging Face Hub (``from_hub``; every command that takes a
run or a classifier reads it).

Example:
    >>> export_model("runs/ucla", "models/ucla-skelemixclr")            # doctest: +SKIP
    >>> skelemix evaluate knn models/ucla-skelemixclr                   # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import torch

from .checkpoints import CheckpointError, checkpoint_path, run_directory
from .data.format import DATASETS_FILE
from .files import with_default_permissions

WEIGHTS, CONFIG, CARD = "model.safetensors", "config.json", "README.md"
KINDS = ("encoder", "classifier")
PREFIXES = {"encoder": ("encoder.", "projector."), "classifier": ("encoder.", "head.", "mean", "std")}


def is_model_folder(path: str | Path) -> bool:
    """A directory holding a model folder's weights or config (and no run's checkpoints)."""
    path = Path(path)
    return ((path / WEIGHTS).is_file() or (path / CONFIG).is_file()) and not (path / "checkpoints").is_dir()


HUB_SCHEME = re.compile(r"hub:/+([^/\s]+/[^/\s]+)/*")  # hub://owner/name; a Path has folded "//" into "/"


def from_hub(source: str | Path) -> Path:
    """``hub://OWNER/NAME`` -> the local folder of that Hugging Face Hub model repository (downloaded by
    ``huggingface_hub.snapshot_download``, cached by it); any other source unchanged."""
    match = HUB_SCHEME.fullmatch(str(source))
    if match is None:
        return Path(source)
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ImportError(f'hub://{match[1]}: reading the Hugging Face Hub needs huggingface_hub: pip install '
                          f'"skelemix[hub]"') from None
    return Path(snapshot_download(repo_id=match[1]))


def _safetensors():
    try:
        from safetensors.torch import load_file as load, save_file as save
    except ImportError:
        raise ImportError('safetensors is not installed: pip install "skelemix[hub]" (or safetensors)') from None
    return load, save


def export_model(source: str | Path, folder: str | Path) -> dict:
    """Write the model of ``source`` (a run directory, pretraining checkpoint or classifier file) as a model folder;
    returns its config.json. The folder must not exist or be empty; it appears complete or not at all."""
    from . import __version__
    from .evaluation.classifier import is_classifier, load_classifier
    from .evaluation.features import load_pretrained
    from .inference import pretraining_preprocessing

    _, save = _safetensors()
    source, folder = Path(source), Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder}: exists and is not empty")
    if is_classifier(source):
        classifier, info = load_classifier(source)
        run_dir = source if source.is_dir() else source.parent.parent  # RUN/evaluation/<protocol>-classifier.pt
        config = info["config"]
        tensors = classifier.state_dict()
        card = {"kind": "classifier", "layout": info["layout"], "stream": classifier.stream,
                "preprocessing": info["preprocessing"], "class_names": info["class_names"],
                "classifier": info["kind"]}
    else:
        model = load_pretrained(source)
        run_dir = run_directory(checkpoint_path(source))
        config = model.config.to_dict()
        tensors = {k: v for k, v in model.state_dict().items() if k.startswith(PREFIXES["encoder"])}
        card = {"kind": "encoder", "layout": model.layout.name, "stream": model.config.data.stream,
                "preprocessing": pretraining_preprocessing(model, source).to_dict(), "class_names": None}
    datasets = run_dir / DATASETS_FILE
    card.update({"method": config["method"]["name"], "mixes": config["method"]["mix"]["repeats"],
                 "pretrained_on": json.loads(datasets.read_text()) if datasets.is_file() else [],
                 "config": config, "skelemix_version": __version__, "format": "skelemix-model", "format_version": 1})
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = with_default_permissions(Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent)))
    try:
        save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(staging / WEIGHTS),
             metadata={"format": "pt"})
        (staging / CONFIG).write_text(json.dumps(card, indent=2))
        (staging / CARD).write_text(model_card(card, run_dir))
        if folder.exists():
            folder.rmdir()
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return card


def model_card(card: dict, run_dir: Path) -> str:
    """README.md of a model folder: Hub front matter, then what the model is, how it was made and measured."""
    datasets = card["pretrained_on"]
    trained_on = ", ".join(f"{d['name']} ({d['samples']} clips)" for d in datasets) or "not recorded"
    config = card["config"]
    rows = []
    for result_file in sorted((run_dir / "evaluation").glob("*.json")) if (run_dir / "evaluation").is_dir() else []:
        try:
            result = json.loads(result_file.read_text())
            rows.append(f"| {result['name']} | {result['dataset']} {result['benchmark']} | {result['weights']} | "
                        f"{result['top1']:.2f} | {result['top5']:.2f} | `skelemix evaluate {result['protocol']} "
                        f"RUN{' --fraction ' + str(result['subset']['fraction']) if 'subset' in result else ''}"
                        f"{' --random-init' if result['weights'] == 'random init' else ''}"
                        f"{' --from-scratch' if result['weights'] == 'from scratch' else ''}` |")
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    evaluations = "\n".join(["| evaluation | data | weights | top-1 | top-5 | command |", "|---|---|---|---|---|---|",
                             *rows]) if rows else "No evaluation was saved with this run."
    use = ("predict THIS_FOLDER clips/" if card["kind"] == "classifier"
           else "evaluate linear THIS_FOLDER --data prepared/mine")
    what = ("an action classifier (encoder, linear head, softmax) over " + ", ".join(card["class_names"])
            if card["kind"] == "classifier" else "a skeleton sequence encoder: 256-d backbone features for kNN, "
                                                 "linear probes, finetuning and retrieval")
    return f"""---
library_name: skelemix
tags: [skeleton-based-action-recognition, self-supervised-learning, {config['method']['name']}]
---

# {config['method']['name']} ({card['kind']}, {card['layout']} joints, {card['stream']} stream)

This is {what}, pretrained without labels by {config['method']['name']}
(R = {card['mixes']}) with [skelemix](https://pypi.org/project/skelemix/) {card['skelemix_version']}.

- Pretrained on: {trained_on}; benchmark `{config['data']['benchmark']}`, {config['train']['epochs']} epochs of batch
  {config['train']['batch_size']}, lr {config['train']['lr']}, queue {config['method']['queue_size']}, temperature
  {config['method']['temperature']}, seed {config['train']['seed']}.
- Input: joint coordinates (N, 3, T, V, M) of the `{card['layout']}` layout, prepared as `config.json`'s
  `preprocessing` says (skelemix's `embed` and `predict` do it from raw files).

## Evaluations

{evaluations}

## Use

```bash
skelemix embed THIS_FOLDER clips/ --out features.npy
skelemix {use}
```

## Limits

Measured only on the data above; skeletons of another layout need a joint mapping, and another preparation of the
coordinates than the one recorded changes what the features mean. The evaluations' numbers are one seed's.
"""


def read_model_folder(folder: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(config.json, tensors) of a model folder, after checking that they agree; CheckpointError otherwise."""
    from .layouts import get_layout

    load, _ = _safetensors()
    folder = Path(folder)
    for name in (WEIGHTS, CONFIG):
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder}: not a skelemix model folder (no {name})")
    try:
        card = json.loads((folder / CONFIG).read_text())
        tensors = load(str(folder / WEIGHTS))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{folder / CONFIG}: not valid JSON ({error})") from None
    except Exception as error:  # safetensors raises its own types for damaged files
        raise CheckpointError(f"{folder / WEIGHTS}: not readable safetensors ({error})") from None
    if card.get("kind") not in KINDS or card.get("format") != "skelemix-model":
        raise CheckpointError(f"{folder / CONFIG}: not a skelemix model folder's config (kind must be one of "
                              f"{', '.join(KINDS)})")
    try:
        joints = get_layout(card["layout"]).num_joints
    except (KeyError, ValueError) as error:
        raise CheckpointError(f"{folder / CONFIG}: {error}") from None
    stray = [k for k in tensors if not k.startswith(PREFIXES[card["kind"]])]
    if stray:
        raise CheckpointError(f"{folder}: {WEIGHTS} holds {stray[0]}, which a {card['kind']} has not; the folder's "
                              f"files disagree")
    graph = next((v for k, v in tensors.items() if k.endswith(".A")), None)
    if graph is not None and graph.shape[-1] != joints:
        raise CheckpointError(f"{folder}: {WEIGHTS} is for {graph.shape[-1]} joints, {CONFIG} says layout "
                              f"{card['layout']} ({joints}); the folder's files disagree")
    return card, tensors


def load_weights(model: torch.nn.Module, tensors: dict, folder: Path) -> list[str]:
    """Load a folder's tensors into ``model``; each must fit. Returns the model's tensors the folder did not hold."""
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as error:
        raise CheckpointError(f"{folder}: {WEIGHTS} does not fit {CONFIG}'s network "
                              f"({str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else error})"
                              ) from None
    if unexpected:
        raise CheckpointError(f"{folder}: {WEIGHTS} holds {unexpected[0]}, which the network of {CONFIG} has not")
    return missing

