import argparse
import re
import subprocess
import sys

import pytest

from signstream.cli import build_parser, main

COMMANDS = ["demo", "synth", "import-mpdata", "capture", "extract", "train", "evaluate", "serve", "keys",
            "edge", "push", "pull", "promote", "rollback", "models", "bench", "audit", "review"]  # fmt: skip


def test_every_subcommand_exists_and_has_help(capsys):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(COMMANDS) <= set(sub.choices)
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "usage: signstream " + name in capsys.readouterr().out


def _run(*args):
    return subprocess.run([sys.executable, "-m", "signstream.cli", *args], capture_output=True, text=True, timeout=120)


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
    assert main(["models"]) == 2  # tests/shared/registry covers them
    assert "give --store URL or set SIGNSTREAM_STORE" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--version", "v 1/2"], "invalid name 'v 1/2'"),
        (["--name", "../x"], "invalid name '../x'"),
        (["--fps", "-5"], "argument --fps: -5 must be greater than 0"),
        (["--fps", "0"], "argument --fps: 0 must be greater than 0"),
        (["--fps", "500"], "argument --fps: 500 is above 120"),
        (["--fps", "nan"], "argument --fps: 'nan' is not a finite number"),
        (["--epochs", "0"], "argument --epochs: 0 must be at least 1"),
    ],
)
def test_train_refuses_a_bad_argument_in_one_line_before_any_work(args, message, tmp_path):
    """Before: a bad --version used to fail after the whole run; --fps 0 was ignored."""
    from shared.datasets.dataset import save_dataset
    from shared.datasets.synth import generate

    save_dataset(tmp_path / "d.npz", generate(classes=2, per_class=2, signers=1, seed=0))
    proc = _run("train", "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "b"), *args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.splitlines() == [proc.stderr.strip()], proc.stderr  # one line, no usage block
    assert proc.stderr.startswith("signstream train: error: ") and message in proc.stderr
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["capture", "--label", "a", "--root", "r", "--seconds", "0"], "argument --seconds: 0 must be greater than 0"),
        (["capture", "--label", "a", "--root", "r", "--countdown", "-1"], "argument --countdown: -1 must not be"),
        (["push", "x", "--version", "a b"], "argument --version: invalid name 'a b'"),
        (["bench", "server", "--model", ".", "--duration", "0"], "argument --duration: 0 must be greater than 0"),
        (["bench", "edge", "--model", ".", "--parts", "speed"], "argument --parts: 'speed': give some of"),
        (["synth"], "the following arguments are required: --out"),
    ],
)
def test_every_bad_argument_is_one_line_and_exit_2(args, message):
    proc = _run(*args)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()], proc.stderr
    assert proc.stderr.startswith(f"signstream {args[0]}") and message in proc.stderr


def test_train_bundle_checks_its_name_version_and_fps_before_training(tmp_path):
    pytest.importorskip("tensorflow")
    from cloud_server.training.train import TrainConfig, train_bundle
    from shared.app.errors import SignstreamError
    from shared.datasets.synth import generate

    ds = generate(classes=2, per_class=2, signers=1, seed=0)
    with pytest.raises(SignstreamError, match="invalid model version"):
        train_bundle(ds, tmp_path / "b", version="v 1/2")
    with pytest.raises(SignstreamError, match="fps 0"):
        train_bundle(ds, tmp_path / "b", config=TrainConfig(fps=0))
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "content, what",
    [
        (b"X,y\n1,2\n", "this is a text file"),
        (b"", "this is an empty file"),
        (bytes(range(256)), "this is 256 bytes of binary data"),
    ],
)
def test_a_dataset_that_is_not_an_npz_is_named_for_what_it_is(tmp_path, content, what):
    """Before: a text .npz was called "pickled data"."""
    (tmp_path / "d.npz").write_bytes(content)
    proc = _run("train", "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "b"))
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert (
        line
        == f"signstream train: error: {tmp_path / 'd.npz'}: not a readable npz file (an .npz is a zip archive; {what})"
    )
    assert "pickle" not in proc.stderr


def _all_parsers(parser=None, path=("signstream",)):
    """Every (command path, parser), the subcommands' subcommands included."""
    parser = parser or build_parser()
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _all_parsers(child, (*path, name))


def _settings_defaults(path):
    """The settings object whose defaults an option left at None falls back to, by field name."""
    if path[1:2] == ("serve",):
        from cloud_server.settings import ServerSettings

        return {n: f.default for n, f in ServerSettings.model_fields.items()}
    if path[1:2] == ("edge",):
        from edge_client.settings import EdgeSettings

        return {n: f.default for n, f in EdgeSettings.model_fields.items()}
    return {}


def _same(documented: str, value) -> bool:
    try:
        return float(documented) == float(value)
    except (TypeError, ValueError):
        return documented == str(value)


def test_every_help_text_is_true():
    """No help promises later work, a group's help names its commands, and every literal default a
    help states is the option's default (argparse's, else the settings field it falls back to)."""
    for path, parser in _all_parsers():
        for action in parser._actions:
            text = action.help or ""
            assert not re.search(r"later issue|not (built )?yet|TODO", text, re.I), (path, text)
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}  # a subcommand's line in the list
                assert all(helps.get(name) for name in action.choices), (path, helps)
                for name, line in helps.items():
                    assert not re.search(r"later issue|not (built )?yet|TODO", line, re.I), (path, name, line)
            match = re.search(r"\bdefault:? ([\w.$/-]+)\)", text)
            if not match or match.group(1).startswith("$"):
                continue
            default = action.default
            if default is None:
                default = _settings_defaults(path).get(action.dest)
            if default is None:
                continue
            assert _same(match.group(1), default), (path, action.dest, text, default)
    root = build_parser()
    group = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    bench_help = next(a.help for a in group._choices_actions if a.dest == "bench")
    bench_commands = next(a for a in group.choices["bench"]._actions if isinstance(a, argparse._SubParsersAction))
    assert all(name in bench_help for name in bench_commands.choices), bench_help


def test_a_bug_keeps_its_traceback_instead_of_reading_as_a_usage_error(monkeypatch, tmp_path):
    """A ValueError from code (not from the user's input) must not be shown as a one-line usage error."""
    import shared.datasets.synth

    def broken(*_args, **_kwargs):
        raise ValueError("a bug in the code")

    monkeypatch.setattr(shared.datasets.synth, "generate", broken)
    with pytest.raises(ValueError, match="a bug in the code"):
        main(["synth", "--out", str(tmp_path / "d.npz")])
