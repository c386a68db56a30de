"""Settings (SIGNSTREAM_EDGE_*, typed, extra forbidden) and the CLI's one-line errors."""

import subprocess
import sys

import pytest

from edge_client.cli import settings_from_args
from edge_client.settings import EdgeSettings, EdgeSettingsError, load_settings
from signstream.cli import build_parser


def test_every_setting_has_a_description():
    assert all(f.description for f in EdgeSettings.model_fields.values())


def test_environment_with_the_prefix(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("SIGNSTREAM_EDGE_SERVER", "https://signs.example")
    monkeypatch.setenv("SIGNSTREAM_EDGE_WEB_PORT", "9090")
    monkeypatch.setenv("SIGNSTREAM_EDGE_API_KEY", "secret")
    monkeypatch.setenv("SIGNSTREAM_EDGE_SOURCE", "/dev/video2")
    s = load_settings()
    assert s.server == "https://signs.example" and s.web_port == 9090 and s.live
    assert s.api_key.get_secret_value() == "secret" and "secret" not in repr(s)
    assert s.web_host == "127.0.0.1"  # bound to loopback unless configured


def test_cli_flags_override_the_environment(clean_env, monkeypatch):
    monkeypatch.setenv("SIGNSTREAM_EDGE_SERVER", "http://a:1")
    args = build_parser().parse_args(["edge", "--server", "http://b:2", "--headless", "--source", "clip.mp4"])
    s = settings_from_args(args)
    assert s.server == "http://b:2" and s.display == "none" and s.source == "clip.mp4" and not s.live


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "give a server"),
        ({"server": "ftp://x"}, "http:// or https://"),
        ({"local_only": True}, "local_only needs a local model"),
        ({"server": "http://x", "smooth_k": 4}, "must not exceed"),
        ({"server": "http://x", "store": "file:///tmp/r"}, "--store needs --model-name"),
        ({"server": "http://x", "local_model": "/nonexistent/bundle"}, "does not exist"),
        ({"server": "http://x", "web_port": 70000}, "web_port"),
    ],
)
def test_bad_settings_are_one_line(clean_env, overrides, message):
    with pytest.raises(EdgeSettingsError, match=message) as err:
        load_settings(**overrides)
    assert "\n" not in str(err.value)


def test_unknown_setting_is_refused(clean_env):
    with pytest.raises(EdgeSettingsError, match="servr"):
        load_settings(server="http://x", servr="http://typo")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source", "missing.mp4", "--server", "http://127.0.0.1:9", "--headless"], "no such video file"),
        (["--headless"], "give a server"),
        (["--source", "x.npz", "--server", "http://127.0.0.1:9", "--headless"], "no such dataset file"),
    ],
)
def test_cli_errors_are_one_line_without_traceback(argv, message, tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("SIGNSTREAM_EDGE_")}
    proc = subprocess.run([sys.executable, "-m", "signstream.cli", "edge", *argv], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=env)  # fmt: skip
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if "error" in line]) == 1


def test_a_misspelt_environment_variable_is_refused(monkeypatch):
    monkeypatch.setenv("SIGNSTREAM_EDGE_SEVRER", "http://127.0.0.1:8000")
    with pytest.raises(EdgeSettingsError, match="unknown setting SIGNSTREAM_EDGE_SEVRER"):
        load_settings()


def test_cors_origins_are_off_by_default_and_read_as_browsers_send_them(clean_env, monkeypatch):
    """An allow-list of origins for frontends served elsewhere (integrators' pages); empty unless set."""

    assert load_settings(server="http://x").cors_origins == []
    monkeypatch.setenv("SIGNSTREAM_EDGE_CORS_ORIGINS", "http://127.0.0.1:3000, HTTPS://Kiosk.example:443/")
    assert load_settings(server="http://x").cors_origins == ["http://127.0.0.1:3000", "https://kiosk.example"]
    from signstream.cli import build_parser

    args = build_parser().parse_args(["edge", "--server", "http://x", "--cors-origins", "http://localhost:5173"])
    assert settings_from_args(args).cors_origins == ["http://localhost:5173"]  # flags win over the environment


@pytest.mark.parametrize("origin", ["*", "127.0.0.1:3000", "http://a:3000/page", "file:///tmp/x.html", "http://"])
def test_a_bad_cors_origin_is_one_line(clean_env, origin):
    with pytest.raises(EdgeSettingsError, match="cors_origins: an origin") as err:
        load_settings(server="http://x", cors_origins=origin)
    assert "\n" not in str(err.value)
