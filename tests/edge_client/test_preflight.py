"""The kiosk's start refuses, in one line, a store or model name that cannot work and a kiosk with nothing
to answer with; a store that is only unreachable now does not stop it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from edge_client.settings import EdgeSettingsError, load_settings


@pytest.fixture
def replay(tmp_path):
    from shared.datasets.dataset import save_dataset
    from shared.datasets.synth import generate

    path = tmp_path / "replay.npz"
    save_dataset(path, generate(classes=2, per_class=1, signers=1, seed=5))
    return path


@pytest.fixture
def store(tmp_path):
    """A file:// store holding one model, msl, pushed but never promoted."""
    (tmp_path / "registry" / "models" / "msl").mkdir(parents=True)
    return f"file://{tmp_path / 'registry'}"


def _build(**settings):
    from edge_client.assembly import build_kiosk

    runner = build_kiosk(load_settings(display="none", web_port=0, startup_wait=5, **settings), out=lambda line: None)
    runner.web.start()  # stopping waits for a serving loop
    runner.web.stop()
    if runner.cloud is not None:
        runner.cloud.close()
    return runner


def test_a_misspelt_model_name_is_refused_naming_the_models_there(clean_env, replay, store, tmp_path):
    with pytest.raises(EdgeSettingsError, match=r"has no model 'mls' \(its models: msl\)"):
        _build(source=str(replay), local_only=True, store=store, model_name="mls", cache_dir=tmp_path / "c")


def test_a_store_that_is_not_there_is_refused(clean_env, replay, tmp_path):
    with pytest.raises(EdgeSettingsError, match="no such"):
        _build(source=str(replay), local_only=True, store=f"file://{tmp_path / 'nowhere'}", model_name="msl",
               cache_dir=tmp_path / "c")  # fmt: skip


def test_a_kiosk_with_nothing_to_answer_with_does_not_start(clean_env, replay, store, tmp_path):
    with pytest.raises(EdgeSettingsError, match="nothing to answer with"):
        _build(source=str(replay), local_only=True, store=store, model_name="msl", cache_dir=tmp_path / "c")


def test_a_server_is_something_to_answer_with(clean_env, replay, store, fake_server, tmp_path):
    runner = _build(source=str(replay), server=fake_server.url, store=store, model_name="msl", cache_dir=tmp_path / "c")
    assert runner.slot.current is None and runner.cloud is not None


def test_the_cli_says_it_in_one_line(replay, store, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNSTREAM_EDGE_")}
    cmd = [sys.executable, "-m", "signstream.cli", "edge", "--headless", "--web-port", "0", "--replay", str(replay),
           "--local-only", "--store", store, "--model-name", "mls", "--cache-dir", str(tmp_path / "c")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().endswith("has no model 'mls' (its models: msl)"), proc.stderr
    assert "Traceback" not in proc.stderr
