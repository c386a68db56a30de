"""Following the registry is declared once: the server and the kiosk read it under their own prefix."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cloud_server.settings import ServerSettings
from edge_client.cli import settings_from_args
from edge_client.settings import EdgeSettings, load_settings
from shared.app.envcheck import unknown_variables
from shared.registry.settings import FollowSettings, RegistrySettings, StoreSettings

FOLLOW = ("store", "public_key", "model_name", "cache_dir", "poll_interval", "startup_wait")


@pytest.mark.parametrize("side", [ServerSettings, EdgeSettings])
def test_both_sides_follow_with_one_declaration(side):
    assert issubclass(side, FollowSettings)
    for name in FOLLOW:
        assert side.model_fields[name].description == FollowSettings.model_fields[name].description, name
    own = {n for n, f in side.model_fields.items() if n not in FollowSettings.model_fields}
    assert not own & {"sync_interval", "registry", "store_url"}  # no second name for a following setting


def test_the_registry_tools_share_the_store_and_key_fields():
    assert issubclass(RegistrySettings, StoreSettings)
    for name in ("store", "public_key"):
        assert RegistrySettings.model_fields[name].description == StoreSettings.model_fields[name].description


def test_each_side_reads_its_own_prefix_and_its_own_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SIGNSTREAM_SERVER_STORE", "file:///srv/a")
    monkeypatch.setenv("SIGNSTREAM_SERVER_MODEL_NAME", "signs")
    monkeypatch.setenv("SIGNSTREAM_EDGE_STORE", "file:///srv/b")
    monkeypatch.setenv("SIGNSTREAM_EDGE_MODEL_NAME", "kiosk")
    server = ServerSettings(no_auth=True)
    edge = load_settings(server="http://x")
    assert (server.store, server.model_name) == ("file:///srv/a", "signs")
    assert (edge.store, edge.model_name) == ("file:///srv/b", "kiosk")
    assert server.cache_dir.name == "server-models" and edge.cache_dir.name == "models"
    assert server.cache_dir != edge.cache_dir  # a server and a kiosk on one machine keep apart


def test_the_operators_store_variable_does_not_turn_a_service_into_a_follower(monkeypatch, tmp_path):
    """SIGNSTREAM_STORE is the operator tools' and the pull timer's: a server that serves a folder
    from an env file that also sets it (deploy/env/server.env.example does) must still start."""
    monkeypatch.setenv("SIGNSTREAM_STORE", "file:///srv/registry")
    server = ServerSettings(model_dir=tmp_path, no_auth=True)
    assert server.store is None
    assert load_settings(server="http://x").store is None


def test_the_kiosks_old_interval_name_still_works_and_the_new_one_wins(monkeypatch):
    monkeypatch.setenv("SIGNSTREAM_EDGE_SYNC_INTERVAL", "7")
    assert load_settings(server="http://x").poll_interval == 7
    assert unknown_variables(EdgeSettings) == []
    monkeypatch.setenv("SIGNSTREAM_EDGE_POLL_INTERVAL", "9")
    assert load_settings(server="http://x").poll_interval == 9
    monkeypatch.setenv("SIGNSTREAM_EDGE_SYNC_INTERVL", "9")
    assert unknown_variables(EdgeSettings) == ["SIGNSTREAM_EDGE_SYNC_INTERVL"]


def test_the_kiosks_old_interval_flag_still_works():
    import argparse

    from edge_client.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    for flag in ("--sync-interval", "--poll-interval"):
        args = parser.parse_args(["edge", "--server", "http://x", flag, "12"])
        assert settings_from_args(args).poll_interval == 12


@pytest.mark.parametrize("side", [ServerSettings, EdgeSettings])
def test_a_store_needs_a_model_name_and_the_key_must_exist(side, tmp_path):
    extra = {"no_auth": True} if side is ServerSettings else {"server": "http://x"}
    with pytest.raises(ValidationError, match="--store needs --model-name"):
        side(store="file:///srv/r", **extra)
    with pytest.raises(ValidationError, match="does not exist"):
        side(store="file:///srv/r", model_name="m", public_key=Path(tmp_path / "nope.pem"), **extra)
    assert side(store="file:///srv/r", model_name="m", startup_wait=0, **extra).startup_wait == 0
