"""API keys: the key file, the CLI, and the server's 401/403 with changes picked up live."""

import json
import subprocess
import sys

import pytest

from cloud_server.app import create_app
from cloud_server.keys import ApiKeysFileError, KeyStore, add_key, read_keys, revoke_key
from cloud_server.model_holder import ModelHolder
from cloud_server.settings import ServerSettings
from tests.cloud_server.test_app import _model, _window


def test_keys_are_stored_only_as_hashes(tmp_path):
    path = tmp_path / "keys.json"
    key = add_key(path, "kiosk-1")
    text = path.read_text()
    assert key not in text and key.split("_", 2)[2] not in text
    assert read_keys(path).keys[0].name == "kiosk-1"
    assert path.stat().st_mode & 0o777 == 0o600


def test_names_are_unique_and_checked(tmp_path):
    path = tmp_path / "keys.json"
    add_key(path, "a")
    with pytest.raises(ApiKeysFileError, match="exists already"):
        add_key(path, "a")
    with pytest.raises(ApiKeysFileError, match="must match"):
        add_key(path, "bad name")
    with pytest.raises(ApiKeysFileError, match="no key named"):
        revoke_key(path, "b")
    revoke_key(path, "a")
    with pytest.raises(ApiKeysFileError, match="revoked already"):
        revoke_key(path, "a")


def test_keystore_answers(tmp_path):
    path = tmp_path / "keys.json"
    key = add_key(path, "k")
    store = KeyStore(path, interval=0)
    assert store.check(key)[0] == "ok"
    assert store.check(None)[0] == "missing"
    assert store.check(key[:-1] + ("A" if key[-1] != "A" else "B"))[0] == "invalid"
    assert store.check("ssk_000000000000_x")[0] == "invalid"
    assert store.check("garbage")[0] == "invalid"
    revoke_key(path, "k")
    assert store.check(key)[0] == "revoked"


def test_a_broken_key_file_keeps_the_last_good_keys(tmp_path):
    path = tmp_path / "keys.json"
    key = add_key(path, "k")
    store = KeyStore(path, interval=0)
    path.write_text("{not json")
    assert store.check(key)[0] == "ok"


@pytest.fixture
def secured(tmp_path):
    path = tmp_path / "keys.json"
    key = add_key(path, "kiosk")
    holder = ModelHolder(loader=lambda p: _model())
    holder.load("x")
    settings = ServerSettings(model_dir=tmp_path, keys_file=path)
    app = create_app(settings, holder, KeyStore(path, interval=0))
    return app.test_client(), path, key


def test_missing_wrong_revoked_and_good_keys(secured):
    client, path, key = secured
    body = {"sequence": _window().tolist()}
    r = client.post("/predict", json=body)
    assert r.status_code == 401 and r.json["reason"] == "unauthorized" and r.headers["WWW-Authenticate"] == "Bearer"
    assert client.post("/predict", json=body, headers={"Authorization": "Bearer ssk_0_wrong"}).status_code == 401
    assert client.post("/predict", json=body, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.post("/predict", json=body, headers={"X-API-Key": key}).status_code == 200
    assert client.get("/models", headers={"X-API-Key": key}).status_code == 200
    assert client.get("/models").status_code == 401
    assert client.get("/health").status_code == 200 and client.get("/ready").status_code == 200
    revoke_key(path, "kiosk")
    r = client.post("/predict", json=body, headers={"X-API-Key": key})
    assert r.status_code == 403 and r.json["reason"] == "key_revoked"


def test_a_new_key_works_without_a_restart(secured):
    client, path, _ = secured
    new = add_key(path, "second")
    r = client.post("/predict", json={"sequence": _window().tolist()}, headers={"X-API-Key": new})
    assert r.status_code == 200


def test_settings_need_a_key_file_unless_no_auth(tmp_path):
    with pytest.raises(ValueError, match="key file is required"):
        ServerSettings(model_dir=tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        ServerSettings(model_dir=tmp_path, keys_file=tmp_path / "none.json")


def test_cli_add_list_revoke(tmp_path):
    path = tmp_path / "k.json"

    def run(*args):
        return subprocess.run([sys.executable, "-m", "signstream.cli", "keys", *args, "--file", str(path)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    added = run("add", "ops", "--admin")
    assert added.returncode == 0
    key = added.stdout.strip().splitlines()[-1]
    assert key.startswith("ssk_")
    listed = run("list")
    assert "ops" in listed.stdout and "admin" in listed.stdout and key not in listed.stdout
    assert run("revoke", "ops").returncode == 0
    assert "revoked" in run("list").stdout
    again = run("revoke", "ops")
    assert again.returncode == 2 and "revoked already" in again.stderr
    assert json.loads(path.read_text())["keys"][0]["admin"] is True


@pytest.mark.parametrize("action", [["list"], ["revoke", "ops"]])
def test_cli_refuses_a_key_file_that_is_not_there(tmp_path, action):
    """Before: ``keys list --file /missing`` printed nothing and exited 0."""
    missing = str(tmp_path / "none.json")
    proc = subprocess.run([sys.executable, "-m", "signstream.cli", "keys", *action, "--file", missing],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"signstream keys: error: {tmp_path / 'none.json'}: no such key file "
        "(create one with 'signstream keys add NAME --file FILE')"
    ]
    assert not (tmp_path / "none.json").exists()


def test_cli_lists_an_empty_key_file_as_empty(tmp_path):
    path = tmp_path / "k.json"
    path.write_text('{"version": 1, "keys": []}')
    proc = subprocess.run([sys.executable, "-m", "signstream.cli", "keys", "list", "--file", str(path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout == f"{path}: no keys\n"


def test_a_refused_revoked_key_is_named_in_the_request_log(secured, caplog):
    """Before: a revoked key was logged as "key": null."""
    import logging

    client, path, key = secured
    revoke_key(path, "kiosk")
    with caplog.at_level(logging.INFO, logger="signstream.access"):
        r = client.post("/predict", json={"sequence": _window().tolist()}, headers={"X-API-Key": key})
    assert r.status_code == 403
    (line,) = [json.loads(rec.getMessage()) for rec in caplog.records if rec.name == "signstream.access"]
    assert line["key"] == "kiosk" and line["status"] == 403 and line["reason"] == "key_revoked"
    assert key not in json.dumps(line)


def test_a_keyless_request_is_told_which_header_to_add(secured):
    """the peer's Pi client posts {"sequence": [...]} (40 frames) with no key; the 401
    names the header to add, and the same body with that one header added is answered (docs/server.md)."""
    client, _path, key = secured
    body = {"sequence": _window(40).tolist()}
    r = client.post("/predict", json=body)
    assert r.status_code == 401 and r.json["reason"] == "unauthorized"
    assert r.json["error"] == "missing API key: send it in the X-API-Key header (or Authorization: Bearer <key>)"
    r = client.post("/predict", json=body, headers={"X-API-Key": "ssk_0_wrong"})
    assert r.status_code == 401 and r.json["error"].startswith("unknown API key: ")
    assert "X-API-Key" in r.json["error"] and "ssk_0_wrong" not in r.json["error"]
    assert client.post("/predict", json=body, headers={"X-API-Key": key}).status_code == 200


def test_a_key_just_added_is_accepted_at_once(tmp_path):
    """Workers re-read the key file every second; a new key must not be refused by some of them meanwhile."""
    path = tmp_path / "keys.json"
    add_key(path, "first")
    store = KeyStore(path, interval=60.0)
    new = add_key(path, "second")
    assert store.check(new)[0] == "ok"
