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


def test_user_errors_are_one_line_and_exit_non_zero(tmp_path):
    cases = [
        (("pretrain", "demo", "train.epohcs=1"), "unknown key 'train.epohcs'"),
        (("pretrain", "demo", f"data.path={tmp_path / 'nowhere'}"), "no such prepared dataset directory"),
        (("prepare", "nw-ucla", str(tmp_path / "missing"), str(tmp_path / "out")), "no such directory"),
        (("evaluate", "knn", str(tmp_path / "nothing.ckpt")), "no such checkpoint"),
    ]
    for args, message in cases:
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_a_file_that_is_not_a_checkpoint_is_named(tmp_path):
    fake = tmp_path / "fake.ckpt"
    fake.write_bytes(b"\x00garbage" * 10)
    result = run("evaluate", "linear", str(fake))
    assert result.returncode == 1 and str(fake) in result.stderr and "not a readable checkpoint" in result.stderr


def test_usage_errors_print_click_s_message_and_exit_2(tmp_path):
    for args, message in ((("prepare", "ntu60"), "Missing argument"),
                          (("prepare", "numpy", "x.npz", "out", "--train-subjects", "1,x"), "comma-separated integers")):
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
