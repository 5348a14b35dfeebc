"""Time the authors' SkeleMixCLR+ pretraining step on this CPU, for the ratio against ``skelemix benchmark pretrain``.

Issue 16's "float32 >= 4x the reference" compares skelemix with the authors' code (czhaneva/SkeleMixCLR) on the same
CPU. This script needs a checkout of that repository; it imports their model from it at run time and copies
nothing. The step is what their ``processor/pretrain_skeletonclr_multi_swapv2.py`` does per batch with their NTU
config (``config/CrosSCLR/skelemixclr_multi_swap_ntu.yaml``: quarter-width ST-GCN, queue 32768, three mixes):
their model's forward (query and mixed passes, key pass, logits, enqueue), their masked NCE loss on every logit
set, one backward of the sum, SGD (lr 0.1, momentum 0.9, weight decay 1e-4). Three departures, all about running it
on a CPU: their ``.cuda()`` calls return the tensor unchanged, their enqueue (which offsets by the GPU's number) is
its one-GPU case, and the two views are random tensors instead of their Shear/Temporal Crop output (augmentation is
about 1% of a skelemix step), the same stand-in ``skelemix benchmark pretrain`` uses for data. Their ``torchlight`` package is replaced by its one
function the model needs (``import_class``), because its other modules import h5py.

    python benchmarks/reference_step.py path/to/SkeleMixCLR --steps 3      # float32, all cores
    skelemix benchmark pretrain --method skelemixclr+ --precision 32 --steps 3   # the same shape, skelemix

Prints the lines ``skelemix benchmark`` prints (samples/s, peak RSS, GFLOP and efficiency against the same run's
float32 matmul).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from skelemix.benchmark import describe, measure_steps

CONFIG = "config/CrosSCLR/skelemixclr_multi_swap_ntu.yaml"


def import_class(name: str):
    module, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def masked_nce(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """-log of the softmax mass on the positive columns, averaged over them and the batch (their loss 'ce')."""
    return -torch.log((F.softmax(logits, dim=1) * positives).sum(1) / positives.sum(1)).mean()


def reference_step(repo: Path, batch_size: int, frames: int, persons: int):
    """(step function, model) of the authors' SkeleMixCLR+ at the given shape."""
    sys.path.insert(0, str(repo))
    sys.modules["torchlight"] = types.SimpleNamespace(import_class=import_class)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    config = yaml.safe_load((repo / CONFIG).read_text())
    torch.manual_seed(0)
    model = import_class(config["model"])(**config["model_args"]).train()

    @torch.no_grad()
    def enqueue(keys: torch.Tensor, _labels) -> None:  # theirs offsets by the GPU's number, None on a CPU
        pointer = int(model.queue_ptr)
        model.queue[:, pointer:pointer + len(keys)] = keys.T

    model._dequeue_and_enqueue = enqueue
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=config["base_lr"],
                                momentum=0.9, weight_decay=float(config["weight_decay"]))
    queries, keys = (torch.randn(batch_size, 3, frames, 25, persons) for _ in range(2))

    def step() -> None:
        (logits, positives, query_weights, logits_p, positives_p, logits_c, positives_c,
         mix_weights) = model([queries], keys, None, topk=0)
        model.update_ptr(batch_size)
        loss = sum(w * masked_nce(out, positives) for w, out in zip(query_weights, logits))
        loss = loss + sum(w * (masked_nce(p, positives_p) + masked_nce(c, positives_c)) / 2
                          for w, p, c in zip(mix_weights, logits_p, logits_c))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("repo", type=Path, help="a checkout of czhaneva/SkeleMixCLR")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--persons", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    if not (args.repo / CONFIG).is_file():
        sys.exit(f"{args.repo}: not a checkout of czhaneva/SkeleMixCLR ({CONFIG} is missing)")
    step, model = reference_step(args.repo, args.batch_size, args.frames, args.persons)
    result = measure_steps(step, model, args.batch_size, args.steps, warmup=1)
    print(describe({"method": "reference SkeleMixCLR+ (authors' code)", "frames": args.frames,
                    "persons": args.persons, "precision": "32-true", "kernels": "their", **result}))


if __name__ == "__main__":
    main()
