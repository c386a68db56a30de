"""Settings from the environment and a systemd-style env file: a bad one stops the start with one line."""

import pytest

from cloud_server.serve import SettingsError, load_settings
from signstream.cli import main


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
        ("SIGNSTREAM_SERVER_MODEL_RUNTIME=onnx", "bad setting model_runtime"),
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


def _serve(*args, env=None):
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "signstream.cli", "serve", "--no-auth", "--port", "0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def test_a_store_that_is_not_there_or_a_model_it_lacks_stops_the_start(tmp_path, tiny_bundle):
    """Before: the server ran unready for ever saying "not ready until one is promoted"."""
    from shared.registry.registry import Registry
    from shared.registry.store import open_store

    proc = _serve("--store", (tmp_path / "nowhere").as_uri(), "--model-name", "signs")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"signstream serve: error: {(tmp_path / 'nowhere').as_uri()}: no such folder {tmp_path / 'nowhere'}"
    ]
    url = (tmp_path / "registry").as_uri()
    (tmp_path / "registry").mkdir()  # an empty store: a server deployed before the first push waits
    Registry(open_store(url)).push_bundle(tiny_bundle)
    proc = _serve("--store", url, "--model-name", "signs")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"signstream serve: error: {url} has no model 'signs' (its models: tiny)"]


def test_a_missing_bucket_stops_the_start(tmp_path):
    from tests.moto_server import moto_server, s3_environment

    with moto_server() as endpoint:
        proc = _serve("--store", "s3://missing-bucket/prod", "--model-name", "signs", env=s3_environment(endpoint))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "signstream serve: error: s3://missing-bucket/prod: no such bucket missing-bucket"
    ]


def test_a_model_pushed_but_not_promoted_is_waited_for(tmp_path, tiny_bundle, caplog):
    import logging

    from shared.registry.preflight import check_store
    from shared.registry.registry import Registry
    from shared.registry.store import open_store

    (tmp_path / "registry").mkdir()
    registry = Registry(open_store((tmp_path / "registry").as_uri()))
    registry.push_bundle(tiny_bundle)
    with caplog.at_level(logging.WARNING, logger="shared.registry.preflight"):
        check_store(registry, "tiny", 10.0)
    assert "model 'tiny' has no promoted version; not ready until one is promoted" in caplog.text


def test_an_empty_store_is_waited_for_a_server_deployed_before_the_first_push(tmp_path, caplog):
    import logging

    from shared.registry.preflight import check_store
    from shared.registry.registry import Registry
    from shared.registry.store import open_store

    (tmp_path / "registry").mkdir()
    with caplog.at_level(logging.WARNING, logger="shared.registry.preflight"):
        check_store(Registry(open_store((tmp_path / "registry").as_uri())), "signs", 10.0)  # the unit starts, waits
    assert "holds no model yet" in caplog.text
