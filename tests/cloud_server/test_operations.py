"""Metrics, devices, admin reload, rate limits, shedding and request logs, through the Flask test client."""

import json
import logging
import threading
import time

import numpy as np
import pytest

from cloud_server.app import create_app
from cloud_server.batching import Batcher
from cloud_server.keys import KeyStore, add_key
from cloud_server.limits import RateLimiter
from cloud_server.metrics import Metrics
from cloud_server.model_holder import LoadedModel, ModelHolder
from cloud_server.reloader import FolderSource, ModelWatcher
from cloud_server.settings import ServerSettings
from shared.app.errors import OverloadedError
from shared.contract.protocol import DEVICE_HEADER, MODEL_VERSION_HEADER
from shared.contract.spec import FeatureSpec
from shared.model.bundle import Manifest, now_iso


class ConstRunner:
    """Logits that always favour label ``index``; optionally slow, to fill queues."""

    def __init__(self, n_labels, index=0, delay=0.0):
        self.n_labels, self.index, self.delay = n_labels, index, delay
        self.batches = []

    def logits(self, features):
        self.batches.append(len(features))
        if self.delay:
            time.sleep(self.delay)
        out = np.zeros((len(features), self.n_labels), np.float32)
        out[:, self.index] = 6.0
        return out


def model(version, labels, delay=0.0):
    m = Manifest(name="m", version=version, created=now_iso(), spec=FeatureSpec(), labels=labels)
    return LoadedModel(m, ConstRunner(len(labels), delay=delay), path=None)


def window():
    w = np.zeros((30, 126), np.float32)
    w[:, :63] = 0.5
    return w.tolist()


@pytest.fixture
def keyed(tmp_path):
    """An app with keys: one client key, one admin key."""
    keys_file = tmp_path / "keys.json"
    client_key = add_key(keys_file, "kiosk-1")
    admin_key = add_key(keys_file, "ops", admin=True)
    holder = ModelHolder(loader=lambda p: model("1", ["a", "b"]))
    holder.load("x")
    settings = ServerSettings(model_dir=tmp_path, keys_file=keys_file, rate_limit=0)
    app = create_app(settings, holder, KeyStore(keys_file))
    return app.test_client(), {"Authorization": f"Bearer {client_key}"}, {"Authorization": f"Bearer {admin_key}"}


def test_metrics_count_requests_and_need_the_admin_key(keyed):
    client, user, admin = keyed
    for _ in range(3):
        assert client.post("/predict", json={"sequence": window()}, headers=user).status_code == 200
    assert client.post("/predict", json={"sequence": [[1.0]]}, headers=user).status_code == 400
    assert client.get("/metrics", headers=user).status_code == 403
    r = client.get("/metrics", headers=admin)
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    text = r.data.decode()
    assert 'signstream_requests_total{endpoint="/predict",status="200"} 3.0' in text
    assert 'signstream_requests_total{endpoint="/predict",status="400"} 1.0' in text
    assert 'signstream_errors_total{reason="invalid_request"} 1.0' in text
    assert 'signstream_model_info{name="m",version="1"} 1.0' in text
    assert "signstream_request_seconds_bucket" in text and "signstream_batch_size_bucket" in text


def test_devices_list_last_request_and_local_version(keyed):
    client, user, admin = keyed
    headers = {**user, DEVICE_HEADER: "kiosk-lobby", MODEL_VERSION_HEADER: "20261101"}
    client.post("/predict", json={"sequence": window()}, headers=headers)
    client.post("/predict", data=b"{", content_type="application/json", headers=headers)
    client.post("/predict", json={"sequence": window()}, headers=user)
    assert client.get("/devices", headers=user).status_code == 403
    devices = {d["device"]: d for d in client.get("/devices", headers=admin).get_json()["devices"]}
    lobby = devices["kiosk-lobby"]
    assert (lobby["requests"], lobby["errors"], lobby["last_status"]) == (2, 1, 400)
    assert lobby["local_model_version"] == "20261101" and lobby["key"] == "kiosk-1"
    assert devices["anonymous"]["requests"] == 1


def test_only_callers_with_a_valid_key_write_the_device_table(keyed):
    client, user, admin = keyed
    forged = {DEVICE_HEADER: "kiosk-lobby", MODEL_VERSION_HEADER: "forged"}
    assert client.post("/predict", json={"sequence": window()}, headers=forged).status_code == 401
    bad_key = {**forged, "Authorization": "Bearer not-a-key"}
    assert client.post("/predict", json={"sequence": window()}, headers=bad_key).status_code == 401
    for i in range(5):  # ghosts that would push real devices out of the table
        client.post("/predict", json={"sequence": window()}, headers={DEVICE_HEADER: f"ghost-{i}"})
    assert client.get("/devices", headers=admin).get_json()["devices"] == []
    client.post("/predict", json={"sequence": window()}, headers={**user, DEVICE_HEADER: "kiosk-lobby"})
    (row,) = client.get("/devices", headers=admin).get_json()["devices"]
    assert (row["device"], row["local_model_version"], row["key"]) == ("kiosk-lobby", None, "kiosk-1")


def test_options_needs_no_key(keyed):
    client, _, _ = keyed
    r = client.options("/predict")
    assert r.status_code == 200 and "POST" in r.headers["Allow"]


def test_device_tables_of_workers_are_merged(tmp_path):
    from cloud_server.devices import DeviceTracker

    a, b = DeviceTracker(tmp_path), DeviceTracker(tmp_path)
    a._file = lambda: tmp_path / "devices-1.json"  # two workers: two files
    b._file = lambda: tmp_path / "devices-2.json"
    a.record("pi", 200, "v1", "k")
    b.record("pi", 200, "v2", "k")
    b.record("pi", 503, "v2", "k")
    a.flush()
    b.flush()
    (row,) = a.all_devices()
    assert row["requests"] == 3 and row["errors"] == 1 and row["local_model_version"] == "v2"


def test_rate_limit_answers_429_with_retry_after(tmp_path):
    keys_file = tmp_path / "keys.json"
    key = add_key(keys_file, "busy")
    holder = ModelHolder(loader=lambda p: model("1", ["a", "b"]))
    holder.load("x")
    settings = ServerSettings(model_dir=tmp_path, keys_file=keys_file, rate_limit=1, rate_burst=3)
    client = create_app(settings, holder).test_client()
    codes = [client.post("/predict", json={"sequence": window()}, headers={"X-API-Key": key}).status_code
             for _ in range(5)]  # fmt: skip
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    r = client.post("/predict", json={"sequence": window()}, headers={"X-API-Key": key})
    assert r.get_json()["reason"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1


def test_token_bucket_refills():
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=2, clock=lambda: now[0])
    assert limiter.check("k") is None and limiter.check("k") is None
    wait = limiter.check("k")
    assert wait == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.check("k") is None
    assert limiter.check("other") is None  # keys do not share a bucket


def test_a_full_queue_sheds_with_503_and_retry_after(tmp_path):
    holder = ModelHolder(loader=lambda p: model("1", ["a", "b"], delay=0.3))
    holder.load("x")
    settings = ServerSettings(model_dir=tmp_path, no_auth=True, max_queue=1)
    app = create_app(settings, holder)
    codes, headers = [], []

    def call():
        r = app.test_client().post("/predict", json={"sequence": window()})
        codes.append(r.status_code)
        headers.append(r.headers.get("Retry-After"))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert codes.count(200) >= 1 and codes.count(503) >= 1, codes
    assert set(codes) <= {200, 503}
    assert all(h == "1" for c, h in zip(codes, headers, strict=True) if c == 503)
    text = app.test_client().get("/metrics").data.decode()
    assert f"signstream_shed_total {float(codes.count(503))}" in text


def test_batcher_batches_concurrent_callers_and_answers_each_its_own():
    holder = ModelHolder(loader=lambda p: model("1", ["a", "b", "c"], delay=0.05))
    holder.load("x")
    sizes = []
    batcher = Batcher(holder, max_batch=32, window_s=0.02, max_queue=64, on_batch=sizes.append)
    results = {}

    def call(i):
        n = 1 + i % 3  # callers send 1, 2 or 3 windows
        m, preds = batcher.submit([np.full((30, 126), 0.1, np.float32)] * n, k=1 + i % 2)
        results[i] = (n, m.manifest.version, preds)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 12
    for i, (n, version, preds) in results.items():
        assert len(preds) == n and version == "1"
        assert all(len(p.top_k) == 1 + i % 2 for p in preds)
    assert sum(sizes) == sum(1 + i % 3 for i in range(12))
    assert max(sizes) > 3  # at least one model call served several callers


def test_a_batch_waits_for_a_request_being_served_and_never_for_nobody():
    holder = ModelHolder(loader=lambda p: model("1", ["a", "b"]))
    holder.load("x")
    sizes = []
    batcher = Batcher(holder, max_batch=32, window_s=0.3, on_batch=sizes.append)
    w = [np.full((30, 126), 0.1, np.float32)]
    started = time.perf_counter()
    for _ in range(3):  # a lone caller: nobody else is being served, so no window is waited (3 x 0.3 s before)
        with batcher.serving():
            batcher.submit(w, 1)
    assert time.perf_counter() - started < 0.3 and sizes == [1, 1, 1]

    sizes.clear()
    reading = threading.Event()

    def on_its_way():
        with batcher.serving():
            reading.set()
            time.sleep(0.1)  # still reading its body when the other request reaches the model
            batcher.submit(w, 1)

    t = threading.Thread(target=on_its_way)
    t.start()
    assert reading.wait(5)
    with batcher.serving():
        batcher.submit(w, 1)
    t.join(5)
    assert sizes == [2]  # the batch waited for the request on its way
    assert batcher._serving == 0


def test_without_batching_each_request_runs_the_model_itself_through_the_same_route(tmp_path):
    holder = ModelHolder(loader=lambda p: model("1", ["a", "b"]))
    holder.load("x")
    app = create_app(ServerSettings(model_dir=tmp_path, no_auth=True, batching=False), holder)
    r = app.test_client().post("/predict", json={"sequence": window()})
    assert r.status_code == 200 and r.get_json()["label"] in {"a", "b"}


def test_batcher_refuses_when_full():
    holder = ModelHolder(loader=lambda p: model("1", ["a", "b"], delay=0.5))
    holder.load("x")
    batcher = Batcher(holder, max_batch=1, max_queue=1)
    errors = []

    def call():
        try:
            batcher.submit([np.asarray(window(), np.float32)], 1)  # a hand in every frame: the slow model runs
        except OverloadedError as err:
            errors.append(err)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors, "with one slot and a slow model, some callers must be refused"


def test_admin_reload_swaps_a_repointed_folder_and_refuses_a_broken_one(tmp_path):
    versions = {"v1": model("1", ["a", "b"]), "v2": model("2", ["x", "y", "z"])}
    for name in ("v1", "v2", "broken"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(name)
    link = tmp_path / "current"
    link.symlink_to(tmp_path / "v1")

    def loader(path):
        if path.name not in versions:
            raise ValueError(f"{path.name}: checksum mismatch")
        return versions[path.name]

    metrics = Metrics()
    holder = ModelHolder(loader=loader, on_failed=metrics.model_failed)
    source = FolderSource(link, holder, interval=3600)
    source.prime()
    settings = ServerSettings(model_dir=link, no_auth=True)
    watcher = ModelWatcher(source, state_dir=tmp_path / "run")
    client = create_app(settings, holder, watcher=watcher, metrics=metrics).test_client()

    assert client.post("/admin/reload").get_json()["outcome"] == "unchanged"
    tmp = tmp_path / "next"
    tmp.symlink_to(tmp_path / "v2")
    tmp.replace(link)  # the operator's atomic repoint
    assert client.post("/admin/reload").get_json() == {"outcome": "updated", "version": "2"}
    answer = client.post("/predict", json={"sequence": window()}).get_json()
    assert answer["model"]["version"] == "2" and answer["label"] in ("x", "y", "z")

    tmp.symlink_to(tmp_path / "broken")
    tmp.replace(link)
    assert client.post("/admin/reload").get_json() == {"outcome": "rejected", "version": "2"}
    assert client.post("/predict", json={"sequence": window()}).get_json()["model"]["version"] == "2"
    text = client.get("/metrics").data.decode()
    assert "signstream_model_load_failures_total 1.0" in text
    assert (tmp_path / "run" / "reload-request").exists()  # the other workers are asked too


def test_one_json_log_line_per_request_without_the_key(keyed, caplog):
    client, user, _ = keyed
    with caplog.at_level(logging.INFO, logger="signstream.access"):
        client.post("/predict", json={"sequence": window()}, headers={**user, DEVICE_HEADER: "pi-7"})
    lines = [r.getMessage() for r in caplog.records if r.name == "signstream.access"]
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["device"] == "pi-7" and entry["status"] == 200 and entry["model_version"] == "1"
    assert entry["label"] in ("a", "b") and entry["key"] == "kiosk-1" and entry["ms"] >= 0
    secret = user["Authorization"].split()[1]
    assert secret not in lines[0] and secret.split("_", 2)[2] not in lines[0]  # the secret part may hold "_"
