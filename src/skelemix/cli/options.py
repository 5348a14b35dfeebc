"""Options shared by several commands, each declared once, and the decorator that adds a group of them.

``with_options(GROUP, into="name")`` appends a group's options to a command's signature (Typer reads signatures),
with per-command defaults where given, and hands their values to the command as one dict argument ``name``.

Example:
    >>> @with_options(PREPROCESSING, into="preprocessing", persons=1)    # doctest: +SKIP
    ... def command(source: Path, preprocessing: dict): ...
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

Frames = Annotated[int, typer.Option(help="Frames per sequence after resizing the valid frames.")]
Workers = Annotated[Optional[int], typer.Option(help="Reader processes [default: one per CPU core; 0: none].")]
Strict = Annotated[bool, typer.Option(help="Fail on the first bad sample instead of skipping and counting it.")]
Progress = Annotated[bool, typer.Option(help="Show a progress bar with the rate.")]
OutDir = Annotated[Path, typer.Argument(help="Where to write the prepared dataset (must not exist or be empty).")]
Layout = Annotated[str, typer.Option(help="Skeleton layout (skelemix/layouts.py), e.g. ntu25, kinect_v1, coco17.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def from_hub(source: Path) -> Path:
    """A ``hub://OWNER/NAME`` argument -> the downloaded model folder (``model_folder.from_hub``); others unchanged."""
    from ..model_folder import from_hub as resolve

    return resolve(source)


Source = Annotated[Path, typer.Argument(callback=from_hub, help="A checkpoint file, a run directory (uses "
                                        "checkpoints/last.ckpt), a model folder or hub://OWNER/NAME.")]
DataOpt = Annotated[Optional[Path], typer.Option(help="Prepared dataset [default: the one pretrained on].")]
BenchmarkOpt = Annotated[Optional[str], typer.Option(help="Benchmark of splits.json [default: the pretraining one].")]
RunDirs = Annotated[list[Path], typer.Argument(help="Run directories (each with evaluation/ results).")]
PngOpt = Annotated[Optional[Path], typer.Option("--out", help="The PNG to write [default: in the run directory].")]
RandomInit = Annotated[bool, typer.Option(help="The same network randomly initialised.")]

# (annotation, default) of each option of a group
PREPROCESSING: dict[str, tuple[Any, Any]] = {
    "frames": (Frames, 64),
    "centring": (Annotated[str, typer.Option(help="frame: centre joint of every frame (the paper); first_frame: its "
                                                  "first-frame position (pyskl style); none.")], "frame"),
    "rotate": (Annotated[bool, typer.Option(help="Turn each sequence about the vertical axis so the shoulders are "
                                                 "parallel to x (3D layouts).")], True),
    "persons": (Annotated[int, typer.Option(help="Bodies kept per sample (M).")], 2),
    "scale": (Annotated[str, typer.Option(help="none; minmax: each axis of a sequence to [-1, 1] by its range (the "
                                               "field's NW-UCLA loaders); torso: divided by the median torso "
                                               "length (2D pixels of different cameras comparable).")], "none"),
    "workers": (Workers, None),
    "strict": (Strict, False),
    "progress": (Progress, True),
}
EVALUATION: dict[str, tuple[Any, Any]] = {
    "data": (DataOpt, None),
    "benchmark": (BenchmarkOpt, None),
    "out_dir": (Annotated[Optional[Path], typer.Option(help="Where to write results [default: RUN_DIR/evaluation].")],
                None),
    "as_json": (JsonOpt, False),
    "stream": (Annotated[Optional[str], typer.Option(help="joint | motion | bone [default: the pretraining "
                                                          "stream].")], None),
    "force_stream": (Annotated[bool, typer.Option(help="Allow a stream other than the pretraining one.")], False),
    "config_files": (Annotated[Optional[list[str]], typer.Option(
        "--config", help="YAML with an eval section (e.g. semi_pku2_1pct); repeatable.")], None),
    "overrides": (Annotated[Optional[list[str]], typer.Option(
        "--set", help="An eval.key=value override (e.g. eval.finetune.epochs=30); repeatable.")], None),
    "precision": (Annotated[Optional[str], typer.Option(
        help="32 | bf16 | auto (eval.precision [default: the run's, 32]; auto: bf16 only where the hardware runs it "
             "fast; bf16 can cost a random-weights baseline accuracy).")], None),
}


def with_options(group: dict[str, tuple[Any, Any]], into: str, **defaults):
    """Add ``group``'s options (with ``defaults`` overriding theirs) to a command, passed to it as dict ``into``."""
    unknown = set(defaults) - set(group)
    if unknown:
        raise TypeError(f"not options of the group: {', '.join(sorted(unknown))}")

    def decorate(function):
        signature = inspect.signature(function, eval_str=True)
        own = [p for name, p in signature.parameters.items() if name != into]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                   default=defaults.get(name, default)) for name, (annotation, default) in group.items()]

        @functools.wraps(function)
        def command(**values):
            grouped = {name: values.pop(name) for name in group}
            return function(**values, **{into: grouped})

        command.__signature__ = signature.replace(parameters=own + added)
        return command

    return decorate


def int_list(text: Optional[str]) -> Optional[list[int]]:
    """'1,2,3' -> [1, 2, 3]; a usage error otherwise."""
    try:
        return [int(v) for v in text.split(",")] if text else None
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}") from None
