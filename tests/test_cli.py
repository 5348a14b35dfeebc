"""The command line: help, and one-line errors with a non-zero exit code."""

import subprocess
import sys

import pytest


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "skelemix", *args], capture_output=True, text=True, cwd=cwd)


def test_help_lists_the_subcommands():
    result = run("--help")
    assert result.returncode == 0
    for command in ("demo", "prepare", "pretrain", "evaluate"):
        assert command in result.stdout


def test_a_file_that_is_not_a_checkpoint_is_named(tmp_path):
    fake = tmp_path / "fake.ckpt"
    fake.write_bytes(b"\x00garbage" * 10)
    result = run("evaluate", "linear", str(fake))
    assert result.returncode == 1 and str(fake) in result.stderr and "not a readable checkpoint" in result.stderr


def test_a_shared_option_group_reaches_the_command_as_one_dict_with_its_own_defaults():
    import inspect

    import typer
    from typer.testing import CliRunner

    from skelemix.cli import prepare
    from skelemix.cli.options import PREPROCESSING, with_options

    seen = {}
    app = typer.Typer()

    @app.command()
    @with_options(PREPROCESSING, into="preprocessing", persons=1)
    def command(source: str, preprocessing: dict = None):
        seen.update(source=source, **preprocessing)

    result = CliRunner().invoke(app, ["clips", "--frames", "32", "--no-rotate"])
    assert result.exit_code == 0, result.output
    assert seen == {"source": "clips", "frames": 32, "centring": "frame", "rotate": False, "persons": 1,
                    "scale": "none", "workers": None, "strict": False, "progress": True}
    # the real commands: PKU-MMD keeps two bodies and turns them; NW-UCLA one, first-frame centred and min-max scaled
    # as the field's loaders do; 2D clips scale by the torso
    defaults = {name: {p: v.default for p, v in inspect.signature(getattr(prepare, name)).parameters.items()}
                for name in ("pku_mmd", "nw_ucla", "openpose", "kinect_csv")}
    assert (defaults["pku_mmd"]["persons"], defaults["pku_mmd"]["rotate"]) == (2, True)
    assert (defaults["nw_ucla"]["persons"], defaults["nw_ucla"]["centring"], defaults["nw_ucla"]["scale"]) == (
        1, "first_frame", "minmax")
    assert (defaults["openpose"]["scale"], defaults["kinect_csv"]["scale"]) == ("torso", "none")
    with pytest.raises(TypeError, match="not options of the group: person"):
        with_options(PREPROCESSING, into="preprocessing", person=1)
