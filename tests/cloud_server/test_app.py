"""The Flask app with a fake runner (no TensorFlow): every endpoint and error path."""

import json

import numpy as np
import pytest

from cloud_server.app import create_app
from cloud_server.model_holder import LoadedModel, ModelHolder
from cloud_server.settings import ServerSettings
from shared.contract.protocol import BINARY_CONTENT_TYPE, encode_binary
from shared.contract.spec import FeatureSpec
from shared.model.bundle import Manifest, now_iso

LABELS = ["hello", "thanks", "yes"]


class FakeRunner:
    """Logits that favour label (number of frames with a hand in slot 1) % 3."""

    def __init__(self):
        self.calls = 0

    def logits(self, features):
        self.calls += 1
        out = np.zeros((len(features), len(LABELS)), np.float32)
        for i, f in enumerate(features):
            out[i, round(float(f[:, -1].sum())) % 3] = 5.0
        return out


def _model(version="1", threshold=0.5):
    m = Manifest(name="fake", version=version, created=now_iso(), spec=FeatureSpec(), labels=LABELS,
                 threshold=threshold)  # fmt: skip
    return LoadedModel(m, FakeRunner(), path=None)


@pytest.fixture
def holder():
    h = ModelHolder(loader=lambda path: _model())
    h.load("fake")
    return h


@pytest.fixture
def client(holder, tmp_path):
    settings = ServerSettings(model_dir=tmp_path, no_auth=True, max_body_bytes=200_000)
    return create_app(settings, holder).test_client()


def _window(frames=30):
    w = np.zeros((frames, 126), np.float32)
    w[:, 63:] = 0.5
    return w


def test_health_ready_models(client):
    assert client.get("/health").json == {"status": "ok"}
    assert client.get("/ready").json["version"] == "1"
    m = client.get("/models").json
    assert m["labels"] == LABELS and m["spec"]["frames"] == 30 and m["loaded_at"] > 0


def test_ready_is_503_until_a_model_is_loaded(tmp_path):
    app = create_app(ServerSettings(model_dir=tmp_path, no_auth=True), ModelHolder())
    c = app.test_client()
    r = c.get("/ready")
    assert r.status_code == 503 and r.json["reason"] == "not_ready"
    assert c.post("/predict", json={"sequence": _window().tolist()}).status_code == 503
    assert c.get("/health").status_code == 200


def test_predict_json_single_matches_the_peer_shape_and_more(client):
    r = client.post("/predict", json={"sequence": _window().tolist(), "top_k": 2})
    assert r.status_code == 200, r.json
    body = r.json
    assert body["label"] == LABELS[30 % 3] and body["index"] == 0
    assert 0.9 < body["confidence"] <= 1.0
    assert len(body["top_k"]) == 2 and body["top_k"][0]["label"] == body["label"]
    assert body["model"] == {"name": "fake", "version": "1"}
    assert body["below_threshold"] is False and body["server_time"] > 0


def test_any_window_length_is_resampled(client):
    for frames in (1, 7, 40, 256):
        r = client.post("/predict", json={"sequence": _window(frames).tolist()})
        assert r.status_code == 200, (frames, r.json)


def test_predict_batch_and_binary(client):
    r = client.post("/predict", json={"sequences": [_window().tolist(), _window(12).tolist()]})
    assert r.status_code == 200 and len(r.json["results"]) == 2
    r = client.post("/predict", data=encode_binary(_window(), "float16"), content_type=BINARY_CONTENT_TYPE)
    assert r.status_code == 200 and r.json["label"] == "hello"
    r = client.post("/predict", data=encode_binary(np.stack([_window()] * 3)), content_type=BINARY_CONTENT_TYPE)
    assert len(r.json["results"]) == 3


@pytest.mark.parametrize(
    "kwargs, status, reason",
    [
        ({"data": "{", "content_type": "application/json"}, 400, "malformed_json"),
        ({"data": "[1]", "content_type": "application/json"}, 400, "malformed_json"),
        ({"data": '{"sequence": [[NaN]]}', "content_type": "application/json"}, 400, "malformed_json"),
        ({"json": {"sequence": [[0.1] * 5]}}, 400, "invalid_request"),
        ({"json": {"sequence": [[0.1] * 126], "bogus": 1}}, 400, "invalid_request"),
        ({"json": {"sequence": [[0.1] * 126], "top_k": True}}, 400, "invalid_request"),
        ({"json": {"sequence": [[0.1] * 126], "top_k": "2"}}, 400, "invalid_request"),
        ({"json": {"sequence": [[0.1] * 126], "top_k": 2.5}}, 400, "invalid_request"),
        ({"json": {"sequence": None, "sequences": None}}, 400, "invalid_request"),
        ({"json": {"sequence": None, "sequences": [[[0.1] * 126]]}}, 400, "invalid_request"),
        ({"json": {"sequence": [[True] + [0.1] * 125]}}, 400, "invalid_request"),  # numpy would read 1.0
        ({"json": {"sequences": [[[0.1] * 125 + [False]]]}}, 400, "invalid_request"),
        ({"json": {"sequence": [[10.000000000000002] + [0.1] * 125]}}, 400, "invalid_request"),  # 10.0 as float32
        ({"data": "x", "content_type": "text/plain"}, 415, "unsupported_media_type"),
        ({"data": "x"}, 415, "unsupported_media_type"),
        ({"data": b"SSWB\x01", "content_type": BINARY_CONTENT_TYPE}, 400, "invalid_request"),
        ({"data": "[" * 100000 + "]" * 100000, "content_type": "application/json"}, 400, "malformed_json"),
        ({"data": b"0" * 300_000, "content_type": "application/json"}, 413, "request_entity_too_large"),
        ({"data": '{"sequence": [[1e400]]}', "content_type": "application/json"}, 400, "malformed_json"),
        ({"data": '{"sequence": [[Infinity]]}', "content_type": "application/json"}, 400, "malformed_json"),
        ({"json": {"sequence": [[1e39] * 126]}}, 400, "invalid_request"),  # inf once cast to float32
        ({"json": {"sequence": [[123456789012345678901234567890] * 126]}}, 400, "invalid_request"),
        ({"json": {"sequence": [[[[0.1]]]] * 3}}, 400, "invalid_request"),
        ({"json": {"sequence": [["0.1"] * 126]}}, 400, "invalid_request"),
        ({"json": {"sequences": [[[0.1] * 126]] * 65}}, 400, "invalid_request"),
        ({"json": {"sequence": [[0.1] * 126] * 257}}, 400, "invalid_request"),
        (
            {"data": '{"sequence": ' + "[" * 2000 + "]" * 2000 + "}", "content_type": "application/json"},
            400,
            "malformed_json",
        ),
    ],
)
def test_bad_requests_get_json_4xx(client, kwargs, status, reason):
    r = client.post("/predict", **kwargs)
    assert r.status_code == status, r.data[:200]
    body = json.loads(r.data)
    assert body["reason"] == reason and body["error"]


@pytest.mark.parametrize("top_k", [4, 7.0, 255])
def test_a_top_k_over_the_labels_gets_them_all(client, top_k):
    # the document cannot know how many labels the served model has: what it allows must not be refused
    r = client.post("/predict", json={"sequence": _window().tolist(), "top_k": top_k})
    assert r.status_code == 200, r.json
    assert sorted(s["label"] for s in r.json["top_k"]) == sorted(LABELS)
    body = encode_binary(_window(), top_k=int(top_k))
    r = client.post("/predict", data=body, content_type=BINARY_CONTENT_TYPE)
    assert r.status_code == 200 and len(r.json["top_k"]) == len(LABELS)


def test_unknown_route_and_method_are_json(client):
    assert client.get("/nope").json["reason"] == "not_found"
    assert client.get("/predict").status_code == 405


def test_an_answer_below_the_threshold_says_so(tmp_path):
    h = ModelHolder(loader=lambda path: _model(threshold=0.99))
    h.load("x")
    c = create_app(ServerSettings(model_dir=tmp_path, no_auth=True), h).test_client()
    assert c.post("/predict", json={"sequence": _window().tolist()}).json["below_threshold"] is True


def test_settings_refuse_no_auth_off_loopback(tmp_path):
    with pytest.raises(ValueError, match="loopback"):
        ServerSettings(model_dir=tmp_path, no_auth=True, host="0.0.0.0")


def test_openapi_document_is_served_and_valid(client):
    from openapi_spec_validator import validate

    doc = client.get("/openapi.json").json
    validate(doc)
    schema = doc["components"]["schemas"]["PredictRequest"]
    assert set(schema["properties"]) == {"sequence", "sequences", "top_k"}
    assert "/predict" in doc["paths"]


def test_a_window_without_hands_is_answered_no_sign_without_the_model(client, holder):
    runner = holder.current.runner
    before = runner.calls
    r = client.post("/predict", json={"sequence": np.zeros((30, 126)).tolist()})
    assert r.status_code == 200
    assert r.json["no_sign"] is True and r.json["label"] == "" and r.json["index"] == -1
    assert runner.calls == before
    r = client.post("/predict", json={"sequence": _window().tolist()})
    assert r.json["no_sign"] is False and r.json["label"] in LABELS and runner.calls == before + 1
