"""Servers following the fleet registry on S3 (moto): security, bad versions, store outage, disk full, load."""

from __future__ import annotations

import base64
import json
import resource
import shutil
import time

import boto3
import numpy as np
import pytest

from shared.model.bundle import SAVED_MODEL_DIR, read_manifest, write_manifest
from shared.model.signing import sign_bytes
from shared.registry.registry import signed_bytes
from tests.system.conftest import AWS_SECRET, http, wait_until
from tests.workers import all_workers_serve

pytestmark = pytest.mark.slow


def body(seed: int = 0) -> bytes:
    w = np.random.default_rng(seed).uniform(0.2, 0.8, (30, 126)).astype(np.float32)
    return json.dumps({"sequence": w.tolist()}).encode()


def metric(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture(scope="module")
def fleet(system):
    """One server (2 workers) following `signs` on the fleet registry, through the cuttable proxy."""
    base, proc, log = system.start_server("fleet")
    return base, proc, log


def predict(system, base, seed=0, **kw):
    headers = {"Content-Type": "application/json", "Connection": "close", **system.auth()}
    return http("POST", base + "/predict", body(seed), headers, **kw)


def versions(system, base, n=8) -> set[str]:
    out = set()
    for i in range(n):
        status, answer, _ = predict(system, base, i)
        out.add(answer["model"]["version"] if status == 200 else f"HTTP {status}")
    return out


def promote(system, version):
    proc = system.cli("promote", "signs", version, "--store", system.store, "--by", "ci",
                      "--signing-key", str(system.private_key), check=False)  # fmt: skip
    assert proc.returncode == 0 or "already current" in proc.stderr, proc.stderr


def test_security_keys_admin_and_bad_input(system, fleet):
    base, _, log = fleet
    url = base + "/predict"
    ctype = {"Content-Type": "application/json"}
    assert http("POST", url, body(), ctype)[0] == 401
    status, err, hdrs = http("POST", url, body(), {**ctype, "Authorization": "Bearer ssk_nope_nope"})
    assert status == 401 and err["reason"] == "unauthorized" and hdrs.get("WWW-Authenticate") == "Bearer"
    revoked = system.cli("keys", "add", "old-kiosk", "--file", str(system.keys_file)).stdout.split()[-1]
    system.cli("keys", "revoke", "old-kiosk", "--file", str(system.keys_file))
    assert wait_until(lambda: http("POST", url, body(), {**ctype, "Authorization": f"Bearer {revoked}"})[0] == 403, 10)
    for path, method in (("/metrics", "GET"), ("/devices", "GET"), ("/admin/reload", "POST")):
        assert http(method, base + path, b"" if method == "POST" else None)[0] == 401
        status, err, _ = http(method, base + path, b"" if method == "POST" else None, system.auth())
        assert status == 403 and err["reason"] == "admin_required", path
        assert http(method, base + path, b"" if method == "POST" else None, system.auth(admin=True))[0] == 200
    auth = {**ctype, **system.auth()}
    bad = [
        (b"{" * 10, auth, 400),
        (b'{"sequence": [[NaN]]}', auth, 400),
        (b'{"sequence": [[1e39]]}', auth, 400),
        (json.dumps({"sequence": [[0.5] * 125] * 30}).encode(), auth, 400),
        (b"[" * 5000 + b"]" * 5000, auth, 400),
        (body(), {**system.auth(), "Content-Type": "text/plain"}, 415),
        (b"[" + b"0.5," * 2_000_000 + b"0.5]", auth, 413),
    ]
    for payload, headers, expected in bad:
        status, err, _ = http("POST", url, payload, headers, timeout=30)
        assert status == expected and isinstance(err, dict) and err["error"], (expected, status, err)
    assert predict(system, base)[0] == 200
    text = log.read_text()
    for secret in (system.client_key, system.admin_key, revoked, AWS_SECRET):
        assert secret not in text
        assert secret.split("_", 2)[-1] not in text  # a key's secret part (it may hold "_" itself)
    assert '"key": "kiosk-1"' in text  # the key's name is logged, never the key


def test_store_paths_outside_the_prefix_are_refused(system, tmp_path):
    for args in (("pull", "../other", "--out", str(tmp_path / "x")), ("promote", "signs", "../../x"),
                 ("pull", "signs", "1/../../2", "--out", str(tmp_path / "y"))):  # fmt: skip
        proc = system.cli(*args, "--store", system.store, check=False)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def refusals(system, base) -> float:
    """Registry checks that refused a version: a bad one, or one whose objects are missing (store_error)."""
    text = http("GET", base + "/metrics", headers=system.auth(admin=True))[1]
    return sum(metric(text, "signstream_model_sync_total", outcome=o) for o in ("bad_version", "store_error"))


def _push_variant(system, bundles, tmp_path, version, sign=True):
    folder = tmp_path / f"v{version}"
    shutil.copytree(bundles["1"], folder)
    write_manifest(folder, read_manifest(folder).model_copy(update={"version": version}))
    args = ["push", str(folder), "--store", system.store]
    system.cli(*args, *(["--signing-key", str(system.private_key)] if sign else []))


def _force_pointer(system, version):
    """Write the pointer as a careless tool with the signing key would: signed, the version not verified."""
    s3 = boto3.client("s3", region_name="us-east-1")
    key = "prod/models/signs/current"
    pointer = json.loads(s3.get_object(Bucket=system.bucket, Key=key)["Body"].read())
    pointer.pop("signature", None)
    pointer.update(version=version, previous=pointer["version"], serial=pointer.get("serial", 0) + 1)
    signature = sign_bytes(signed_bytes("signs", pointer), system.private_key)
    pointer["signature"] = base64.b64encode(signature).decode()
    s3.put_object(Bucket=system.bucket, Key=key, Body=json.dumps(pointer).encode())


def test_corrupted_partial_and_unsigned_versions_are_refused(system, fleet, bundles, tmp_path, monkeypatch):
    base, _, log = fleet
    promote(system, "1")
    assert wait_until(lambda: all_workers_serve(base, "1"), 60)
    monkeypatch.setenv("AWS_ENDPOINT_URL", system.s3_direct)
    for key, value in system.operator_env().items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    s3 = boto3.client("s3", region_name="us-east-1")
    _push_variant(system, bundles, tmp_path, "3")  # corrupted after upload
    victim = next(o["Key"] for o in s3.list_objects_v2(Bucket=system.bucket, Prefix="prod/models/signs/3/")["Contents"]
                  if SAVED_MODEL_DIR in o["Key"] and o["Size"] > 100)  # fmt: skip
    data = bytearray(s3.get_object(Bucket=system.bucket, Key=victim)["Body"].read())
    data[10] ^= 0xFF
    s3.put_object(Bucket=system.bucket, Key=victim, Body=bytes(data))
    _push_variant(system, bundles, tmp_path, "4")  # partial: an object goes missing
    s3.delete_object(Bucket=system.bucket, Key=victim.replace("/3/", "/4/"))
    _push_variant(system, bundles, tmp_path, "5", sign=False)  # unsigned
    for version in ("3", "4", "5"):
        if version != "5":  # the CLI refuses to promote what does not verify
            proc = system.cli("promote", "signs", version, "--store", system.store, check=False)
            assert proc.returncode == 2 and proc.stderr.strip(), proc.stderr
        else:
            proc = system.cli("promote", "signs", "5", "--store", system.store, "--public-key",
                              str(system.public_key), check=False)  # fmt: skip
            assert proc.returncode == 2, proc.stderr
        _force_pointer(system, version)
        before = refusals(system, base)
        assert wait_until(lambda b=before: refusals(system, base) >= b + 2, 60)  # both workers refused it
        assert versions(system, base, 6) == {"1"}, f"v{version} must not be served"
        assert all_workers_serve(base, "1"), f"v{version} must not be served by any worker"
    assert "refusing 3" in log.read_text() and "refusing 5" in log.read_text()
    promote(system, "1")


def test_store_outage_keeps_the_last_good_model_and_recovers(system, fleet):
    base, _, _ = fleet
    promote(system, "1")
    assert wait_until(lambda: all_workers_serve(base, "1"), 60)
    system.proxy.down()
    try:
        promote(system, "2")  # the operator still reaches S3; the servers do not
        assert wait_until(lambda: metric(http("GET", base + "/metrics", headers=system.auth(admin=True))[1],
                                         "signstream_model_sync_total", outcome="store_error") >= 2, 30)  # fmt: skip
        assert versions(system, base) == {"1"}  # still answering, from the last good model
        assert all_workers_serve(base, "1")
        # A server (re)started while the store is down serves its cached last good version.
        shutil.copytree(system.root / "fleet-cache", system.root / "restart-cache")
        base2, proc2, _ = system.start_server("restart", workers=1, extra_env={
            "SIGNSTREAM_SERVER_CACHE_DIR": str(system.root / "restart-cache")})  # fmt: skip
        assert versions(system, base2, 3) == {"1"}
    finally:
        system.proxy.up()
    assert wait_until(lambda: all_workers_serve(base, "2"), 90), "servers must recover after the outage"
    assert wait_until(lambda: all_workers_serve(base2, "2", workers=1), 90)
    assert versions(system, base, 6) == {"2"}
    from shared.app.processes import stop_server

    stop_server(proc2)
    promote(system, "1")


def test_a_store_that_hangs_delays_a_start_by_at_most_the_startup_wait(system, fleet):
    """The start-up policy: the store first, for STARTUP_WAIT seconds, then the cached last good
    version; the first check goes on and the server follows once the store answers again. A store
    that accepted connections and never answered used to hold the start for boto's read timeouts
    (60 s a try) and the booting worker past gunicorn's timeout."""
    base, _, _ = fleet
    promote(system, "1")
    assert wait_until(lambda: all_workers_serve(base, "1"), 60)
    shutil.copytree(system.root / "fleet-cache", system.root / "hang-cache")
    system.proxy.stall()
    try:
        started = time.monotonic()
        base2, proc2, log = system.start_server("hang", workers=1, extra_env={
            "SIGNSTREAM_SERVER_CACHE_DIR": str(system.root / "hang-cache"),
            "SIGNSTREAM_SERVER_STARTUP_WAIT": "3"})  # fmt: skip
        took = time.monotonic() - started
        assert versions(system, base2, 3) == {"1"}
        assert took < 45, f"ready after {took:.0f} s with a hanging store (startup wait 3 s)"
        assert "did not answer within 3 s" in log.read_text()
        promote(system, "2")  # the operator reaches S3; this server does not, yet
    finally:
        system.proxy.down()
        system.proxy.up()
    try:
        assert wait_until(lambda: all_workers_serve(base2, "2", workers=1), 90), (
            "the server follows once the store answers"
        )
    finally:
        from shared.app.processes import stop_server

        stop_server(proc2)
        promote(system, "1")


def test_disk_full_during_pull_leaves_nothing_loadable(system, bundles, tmp_path):
    out = tmp_path / "pulled"
    # the disk fills half way through the bundle's largest file
    limit = max(f.stat().st_size for f in bundles["1"].rglob("*") if f.is_file()) // 2

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = system.cli("pull", "signs", "1", "--store", system.store, "--out", str(out), check=False,
                      preexec_fn=small_files)  # fmt: skip
    assert proc.returncode != 0 and proc.stderr.strip()
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not out.exists(), "a failed pull must not leave a folder a reader could load"
    system.cli("pull", "signs", "1", "--store", system.store, "--out", str(out))
    assert read_manifest(out).version == "1"


def test_bad_settings_file_stops_the_start_with_one_line(system, tmp_path):
    env_file = tmp_path / "server.env"
    env_file.write_text(f"SIGNSTREAM_SERVER_KEYS_FILE={system.keys_file}\nSIGNSTREAM_SERVER_WORKRS=4\n")
    args = ("serve", "--store", system.store, "--model-name", "signs")
    # A server that starts despite the typo would run until the timeout: that fails the test too.
    proc = system.cli(*args, "--env-file", str(env_file), check=False, env=system.env, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "workrs" in proc.stderr and str(env_file) in proc.stderr
    env = {**system.env, "SIGNSTREAM_SERVER_KEYS_FILE": str(system.keys_file), "SIGNSTREAM_SERVER_THREDS": "8"}
    proc = system.cli(*args, check=False, env=env, timeout=120)
    assert proc.returncode == 2 and "SIGNSTREAM_SERVER_THREDS" in proc.stderr, proc.stderr
