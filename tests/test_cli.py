"""The command line: help, and one-line errors with a non-zero exit code."""

import subprocess
import sys


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
