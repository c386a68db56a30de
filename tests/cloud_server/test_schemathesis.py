"""The OpenAPI document against the server that serves it: schemathesis with every check, and the
answers the document describes validated against it."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from werkzeug.serving import make_server

from cloud_server.app import create_app
from cloud_server.keys import KeyStore, add_key
from cloud_server.model_holder import LoadedModel, ModelHolder
from cloud_server.settings import ServerSettings
from shared.contract.protocol import DEVICE_HEADER, MODEL_VERSION_HEADER
from shared.contract.spec import FeatureSpec
from shared.model.bundle import Manifest, now_iso

ROOT = Path(__file__).resolve().parents[2]
ST = Path(sys.executable).with_name("st")  # schemathesis' command line, in the same venv


# Warnings fail the run. The two data checks take schemathesis' default statuses plus 413: the body limit
# (MAX_BODY_BYTES) is a size in bytes, which JSON Schema cannot state, so a body over it - valid or not -
# gets the 413 the document lists for every operation, whatever it holds.
CONFIG = """
[warnings]
fail-on = true

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
"""


class Runner:
    def logits(self, features):
        return np.tile(np.arange(3, dtype=np.float32), (len(features), 1))


class Watcher:
    """A model source that never has anything new (what /admin/reload says most of the time)."""

    def request_reload(self) -> str:
        return "unchanged"


def _app(tmp):
    keys_file = tmp / "keys.json"
    key = add_key(keys_file, "fuzz", admin=True)
    manifest = Manifest(name="m", version="1", created=now_iso(), spec=FeatureSpec(), labels=["a", "b", "c"])
    holder = ModelHolder(loader=lambda p: LoadedModel(manifest, Runner(), path=None))
    holder.load("x")
    settings_ = ServerSettings(model_dir=tmp, keys_file=keys_file, rate_limit=0, runtime_dir=tmp / "run")
    return create_app(settings_, holder, KeyStore(keys_file), watcher=Watcher()), key


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app on 127.0.0.1 (a real HTTP server: schemathesis runs as a separate process)."""
    app, key = _app(tmp_path_factory.mktemp("schema"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}", key
    server.shutdown()
    thread.join(5)


@pytest.mark.slow
def test_schemathesis_with_every_check_passes(served, tmp_path):
    """Every phase (examples, coverage, fuzzing, stateful), positive and negative data, all checks;
    a warning (e.g. an operation that only ever answered 401) fails the run too."""
    _, base, key = served
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.cloud_server.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    cmd = [
        str(ST), "--config-file", str(config), "run", f"{base}/openapi.json", "--checks", "all", "--mode", "all",
        "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "40", "--seed", "14",
        "--generation-database", "none", "--no-color", "--header", f"Authorization: Bearer {key}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-12000:]


def _document(client):
    return client.get("/openapi.json").json


def _validator(doc, name):
    """A validator for components/schemas/<name> of the served document (refs resolved in it)."""
    schema = {"$ref": f"#/components/schemas/{name}", **{"components": doc["components"]}}
    return jsonschema.Draft202012Validator(schema)


def _response_schema(doc, path, method, status="200"):
    content = doc["paths"][path][method]["responses"][status]["content"]["application/json"]
    return jsonschema.Draft202012Validator({**content["schema"], "components": doc["components"]})


def test_every_answer_validates_against_its_documented_schema(served):
    app, _, key = served
    client = app.test_client()
    doc = _document(client)
    admin = {"Authorization": f"Bearer {key}"}
    client.post("/predict", json={"sequence": [[0.5] * 126] * 3}, headers={**admin, DEVICE_HEADER: "pi-1"})
    answers = [
        ("/health", "get", client.get("/health")),
        ("/ready", "get", client.get("/ready")),
        ("/models", "get", client.get("/models", headers=admin)),
        ("/devices", "get", client.get("/devices", headers=admin)),
        ("/admin/reload", "post", client.post("/admin/reload", headers=admin)),
        ("/predict", "post", client.post("/predict", json={"sequence": [[0.5] * 126] * 3}, headers=admin)),
    ]
    for path, method, r in answers:
        assert r.status_code == 200, (path, r.json)
        _response_schema(doc, path, method).validate(r.json)
    assert "pi-1" in {d["device"] for d in client.get("/devices", headers=admin).json["devices"]}
    # an error answer validates against ErrorResponse, for every documented error
    r = client.get("/models")
    assert r.status_code == 401
    _response_schema(doc, "/models", "get", "401").validate(r.json)


def test_the_request_document_allows_exactly_one_of_sequence_and_sequences(served):
    app, _, key = served
    client = app.test_client()
    validator = _validator(_document(client), "PredictRequest")
    window = [[0.5] * 126]
    for body in ({"sequence": window}, {"sequences": [window]}, {"sequence": window, "top_k": 2}):
        assert validator.is_valid(body), body
    refused = [
        {},
        {"sequence": None, "sequences": None},
        {"sequence": window, "sequences": [window]},
        {"sequence": None, "sequences": [window]},
        {"sequence": window, "sequences": None},
        {"top_k": 2},
    ]
    for body in refused:
        assert not validator.is_valid(body), body
        r = client.post("/predict", json=body, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 400 and r.json["reason"] == "invalid_request", (body, r.json)


def test_every_header_the_server_reads_is_described(served):
    app, _, _ = served
    doc = _document(app.test_client())
    schemes = doc["components"]["securitySchemes"]
    assert {"type": "apiKey", "in": "header", "name": "X-API-Key"}.items() <= schemes["apiKey"].items()
    assert schemes["bearer"]["scheme"] == "bearer"
    assert {"bearer": []} in doc["security"] and {"apiKey": []} in doc["security"]
    params = {(p["in"], p["name"]) for p in doc["paths"]["/predict"]["post"]["parameters"]}
    assert {("header", DEVICE_HEADER), ("header", MODEL_VERSION_HEADER)} <= params


def test_a_key_in_x_api_key_works_as_documented(served):
    app, _, key = served
    assert app.test_client().get("/models", headers={"X-API-Key": key}).status_code == 200


@pytest.mark.parametrize(
    "path, wrong, allowed",
    [
        ("/predict", "GET", {"POST", "OPTIONS"}),
        ("/predict", "TRACE", {"POST", "OPTIONS"}),
        ("/models", "POST", {"GET", "HEAD", "OPTIONS"}),
        ("/admin/reload", "GET", {"POST", "OPTIONS"}),
        ("/devices", "DELETE", {"GET", "HEAD", "OPTIONS"}),
        ("/metrics", "PUT", {"GET", "HEAD", "OPTIONS"}),
        ("/health", "PATCH", {"GET", "HEAD", "OPTIONS"}),
        ("/ready", "POST", {"GET", "HEAD", "OPTIONS"}),
        ("/openapi.json", "POST", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_a_405_names_the_allowed_methods(served, path, wrong, allowed):
    app, _, key = served
    r = app.test_client().open(path, method=wrong, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 405 and r.json["reason"] == "method_not_allowed"
    assert {m.strip() for m in r.headers["Allow"].split(",")} == allowed


def test_every_route_is_in_the_document(served):
    app, _, _ = served
    doc = _document(app.test_client())
    routes = {(rule.rule, m.lower()) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
              for m in rule.methods - {"HEAD", "OPTIONS"}}  # fmt: skip
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops if m != "parameters"}
    assert routes == documented
