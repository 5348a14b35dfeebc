"""The ``skelemix`` command line (Typer): a thin layer over the Python API, one module per group of commands.

``prepare`` (datasets in, and ``export`` / ``import``), ``run`` (config, pretrain, demo, benchmark) and ``evaluate``
(protocols, reports, figures, embed, predict, replay). Options that several commands share are declared once, in ``options``.
Every error a user can cause ends in one line on stderr and exit code 1 (ValueError, OSError and FloatingPointError of
the library: ConfigError, DatasetError and CheckpointError are ValueErrors; ImportError: an optional extra that is
not installed, named with its pip command); a usage error is click's message and exit
code 2; an interrupt exits with 130; anything else (a fault of skelemix, not of the input) prints one line with the
path of a log that holds the traceback, and exits 1. The executable (``command``) first starts itself again on
mimalloc where that is installed (``skelemix.allocator``); ``main`` runs in the calling process.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from pathlib import Path

import typer

from ..allocator import restart_with_mimalloc
from . import evaluate, prepare, run

app = typer.Typer(help="Self-supervised skeleton action recognition: SkeletonCLR, SkeleMixCLR, SkeleMixCLR+.",
                  no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]})
for name, group in (("prepare", prepare.prepare_app), ("export", prepare.export_app),
                    ("evaluate", evaluate.evaluate_app), ("visualize", evaluate.visualize_app),
                    ("benchmark", run.benchmark_app)):
    app.add_typer(group, name=name)
for name, function in (("import", prepare.import_checkpoint), ("check", prepare.check), ("config", run.config),
                       ("pretrain", run.pretrain), ("demo", run.demo), ("report", evaluate.report),
                       ("ensemble", evaluate.ensemble), ("embed", evaluate.embed), ("predict", evaluate.predict),
                       ("replay", evaluate.replay)):
    app.command(name)(function)


def write_traceback() -> Path:
    """The current exception's traceback, with the command line, in a new file of the temporary directory."""
    handle, path = tempfile.mkstemp(prefix="skelemix-error-", suffix=".log")
    with os.fdopen(handle, "w") as log:
        log.write(f"skelemix {' '.join(sys.argv[1:])}\n\n{traceback.format_exc()}")
    return Path(path)


def command() -> None:
    """The ``skelemix`` executable: ``main`` on mimalloc where it is installed (allocator.py)."""
    main(restart_on_mimalloc=True)


def main(restart_on_mimalloc: bool = False) -> None:
    """Run the command in ``sys.argv``; in this process unless ``restart_on_mimalloc`` may replace it."""
    # importing torch is left to the commands that need it
    try:
        if restart_on_mimalloc:
            restart_with_mimalloc()
        code = app(standalone_mode=False)
    except (OSError, ValueError, FloatingPointError, ImportError) as error:  # ImportError: an optional extra missing
        typer.echo(f"skelemix: error: {error}".replace("\n", " "), err=True)
        sys.exit(1)
    except (KeyboardInterrupt, typer.Abort) as error:
        typer.echo(f"skelemix: {error or 'interrupted'}", err=True)
        sys.exit(130)
    except typer.TyperException as error:  # a usage error (missing argument, bad option value), as click words it
        error.show()
        sys.exit(error.exit_code)
    except Exception as error:
        typer.echo(f"skelemix: internal error: {type(error).__name__}: {error} (traceback in "
                   f"{write_traceback()}; please report it)".replace("\n", " "), err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
