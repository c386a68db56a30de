"""Settings from the environment and a systemd-style env file: a bad one stops the start with one line."""

import pytest

from cloud_server.serve import SettingsError, load_settings
from shared.cli import main


def test_env_file_values_and_precedence(tmp_path, monkeypatch):
    env = tmp_path / "server.env"
    env.write_text("# comment\nSIGNSTREAM_SERVER_NO_AUTH=true\nSIGNSTREAM_SERVER_PORT=9001\nAWS_REGION=eu-west-1\n")
    s = load_settings(env_file=env, model_dir=tmp_path, port=9002)
    assert s.no_auth and s.port == 9002  # the command line wins over the file; other variables are ignored
    assert load_settings(env_file=env, model_dir=tmp_path).port == 9001


@pytest.mark.parametrize(
    "line, expected",
    [
        ("SIGNSTREAM_SERVER_WORKRS=2", "bad setting workrs"),
        ("SIGNSTREAM_SERVER_PORT=eighty", "bad setting port"),
        ("SIGNSTREAM_SERVER_HOST=0.0.0.0", "no_auth is allowed only on a loopback address"),
        ("SIGNSTREAM_SERVER_BATCH_WINDOW_MS=-1", "bad setting batch_window_ms"),
    ],
)
def test_bad_settings_file_is_refused_with_one_line(tmp_path, capsys, line, expected):
    env = tmp_path / "server.env"
    env.write_text(f"SIGNSTREAM_SERVER_NO_AUTH=true\n{line}\n")
    code = main(["serve", "--model", str(tmp_path), "--env-file", str(env)])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err


def test_missing_settings_file_and_unknown_environment_variable(tmp_path, monkeypatch):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(env_file=tmp_path / "nope.env", model_dir=tmp_path, no_auth=True)
    monkeypatch.setenv("SIGNSTREAM_SERVER_THREAD", "8")
    with pytest.raises(SettingsError, match="unknown setting SIGNSTREAM_SERVER_THREAD"):
        load_settings(model_dir=tmp_path, no_auth=True)
