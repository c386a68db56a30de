import subprocess
import sys

import pytest

from shared.cli import build_parser, main

COMMANDS = ["demo", "synth", "import-mpdata", "capture", "extract", "train", "evaluate", "serve", "keys",
            "edge", "push", "pull", "promote", "rollback", "models", "bench"]  # fmt: skip


def test_every_subcommand_exists_and_has_help(capsys):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(COMMANDS) <= set(sub.choices)
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "usage: signstream " + name in capsys.readouterr().out


def _run(*args):
    return subprocess.run([sys.executable, "-m", "shared.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "args, message",
    [
        (["synth", "--out", "x.npz", "--classes", "99"], "--classes must be 2..12"),
        (["import-mpdata", "/no/such/dir", "--out", "x.npz"], "no such folder"),
        (["train", "--data", "/no/such.npz", "--out", "b"], "no such file"),
        (["synth"], "required: --out"),
    ],
)
def test_bad_arguments_give_one_line(args, message):
    proc = _run(*args)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreadable_input_gives_one_line(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"junk")
    proc = _run("train", "--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "b"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "not a readable npz" in proc.stderr
    assert not (tmp_path / "b").exists()


def test_synth_writes_a_dataset_and_never_overwrites_half(tmp_path):
    out = tmp_path / "s.npz"
    assert main(["synth", "--out", str(out), "--classes", "3", "--per-class", "4", "--seed", "2"]) == 0
    assert out.is_file()
    assert not list(tmp_path.glob(".*tmp"))


def test_registry_commands_need_a_store(capsys, monkeypatch):
    monkeypatch.delenv("SIGNSTREAM_STORE", raising=False)
    assert main(["models"]) == 2  # issue 5: real now; tests/shared/registry covers them
    assert "give --store URL or set SIGNSTREAM_STORE" in capsys.readouterr().err
