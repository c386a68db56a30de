"""The example configurations: env files, nginx (run for real), Prometheus alert rules, IAM policies."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import ROOT, require_binary, skip_or_fail

DEPLOY = ROOT / "deploy"
ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", re.MULTILINE)


def names_in(example: str) -> set[str]:
    """Variables an env example sets or shows (commented out)."""
    return {m.group(1) for m in ASSIGNMENT.finditer((DEPLOY / "env" / example).read_text())}


def active(example: str) -> dict[str, str]:
    """The variables an env example really sets."""
    text = (DEPLOY / "env" / example).read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def check_other_names(names: set[str]) -> None:
    """Non-side variables: the registry's own settings, the sync timer's, the cache, AWS's."""
    from shared.registry.settings import RegistrySettings

    for name in names:
        if name.startswith("AWS_") or name in ("SIGNSTREAM_SYNC_MODEL", "SIGNSTREAM_CACHE", "SIGNSTREAM_KIOSK_URL"):
            continue
        assert name.startswith("SIGNSTREAM_"), name
        assert name.removeprefix("SIGNSTREAM_").lower() in RegistrySettings.model_fields, name


def test_server_env_example_names_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from cloud_server.settings import ServerSettings

    names = names_in("server.env.example")
    side = {n for n in names if n.startswith("SIGNSTREAM_SERVER_")}
    assert {"SIGNSTREAM_SERVER_HOST", "SIGNSTREAM_SERVER_KEYS_FILE", "SIGNSTREAM_SERVER_MODEL_DIR"} <= side
    for name in side:
        assert name.removeprefix("SIGNSTREAM_SERVER_").lower() in ServerSettings.model_fields, name
    check_other_names(names - side)
    # What it sets parses: the only complaint left is the model the operator must choose.
    for key, value in active("server.env.example").items():
        monkeypatch.setenv(key, value)
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="a model is required"):
        ServerSettings()


def test_edge_env_example_names_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        from edge_client.settings import EdgeSettings
    except ImportError:
        skip_or_fail("edge_client.settings is missing")
    names = names_in("edge.env.example")
    side = {n for n in names if n.startswith("SIGNSTREAM_EDGE_")}
    assert {"SIGNSTREAM_EDGE_SERVER", "SIGNSTREAM_EDGE_API_KEY", "SIGNSTREAM_EDGE_SOURCE"} <= side
    for name in side:
        assert name.removeprefix("SIGNSTREAM_EDGE_").lower() in EdgeSettings.model_fields, name
    check_other_names(names - side)
    for key, value in active("edge.env.example").items():
        monkeypatch.setenv(key, value)
    assert EdgeSettings().server == active("edge.env.example")["SIGNSTREAM_EDGE_SERVER"]


# --- nginx ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and signs.example.org, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signs.example.org")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("signs.example.org"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class EchoHandler(BaseHTTPRequestHandler):
    """The upstream: answers with the path and the headers it saw."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"the example no longer has {old!r}"
    return text.replace(old, new)


@pytest.fixture
def nginx_in_front(tmp_path: Path):
    """deploy/nginx/signstream.conf on loopback ports in front of an echo upstream; yields (https, http, cert)."""
    nginx = require_binary("nginx")
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    cert, key = self_signed(tmp_path)
    https_port, http_port = free_port(), free_port()
    site = (DEPLOY / "nginx" / "signstream.conf").read_text()
    site = replace_once(site, "server 127.0.0.1:8000", f"server 127.0.0.1:{upstream.server_address[1]}")
    site = replace_once(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = replace_once(site, "listen [::]:80;", "")
    site = replace_once(site, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    site = replace_once(site, "listen [::]:443 ssl http2;", "")
    site = replace_once(site, "/etc/letsencrypt/live/signs.example.org/fullchain.pem", str(cert))
    site = replace_once(site, "/etc/letsencrypt/live/signs.example.org/privkey.pem", str(key))
    site = replace_once(site, "/var/log/nginx/signstream.access.log", str(tmp_path / "access.log"))
    (tmp_path / "site.conf").write_text(site)
    temps = "\n".join(f"  {kind}_temp_path {tmp_path}/{kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                              "uwsgi", "scgi"))  # fmt: skip
    (tmp_path / "nginx.conf").write_text(
        # user root: the test's temp folders are private to the user running it (ignored when not root).
        f"user root;\nworker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{\n{temps}\n  include {tmp_path}/site.conf;\n}}\n"
    )
    base = [nginx, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(tmp_path / "nginx.conf")]
    check = subprocess.run([*base, "-t"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([*base, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):  # until it listens (bounded)
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", https_port)) == 0:
                    break
            assert proc.poll() is None, (tmp_path / "error.log").read_text()
            time.sleep(0.1)
        yield https_port, http_port, cert
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        upstream.shutdown()
        upstream.server_close()


def test_nginx_terminates_tls_in_front_of_the_server(nginx_in_front: tuple[int, int, Path]) -> None:
    https_port, http_port, cert = nginx_in_front
    with requests.Session() as session:
        answer = session.post(f"https://127.0.0.1:{https_port}/predict", data=b"{}", verify=str(cert), timeout=10)
        assert answer.status_code == 200
        seen = answer.json()
        assert seen["path"] == "/predict"
        assert seen["headers"]["X-Forwarded-Proto"] == "https"
        assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"
        assert "Strict-Transport-Security" in answer.headers
        # Plain HTTP only redirects; bodies over the server's limit stop at nginx.
        plain = session.get(f"http://127.0.0.1:{http_port}/ready", allow_redirects=False, timeout=10)
        assert plain.status_code == 301
        assert plain.headers["Location"].startswith("https://")
        big = session.post(f"https://127.0.0.1:{https_port}/predict", data=b"0" * (5 << 20), verify=str(cert),
                           timeout=30)  # fmt: skip
        assert big.status_code == 413


# --- Prometheus -------------------------------------------------------------------------------------

REQUIRED = {
    "signstream_requests_total",  # error rate
    "signstream_request_seconds_bucket",  # p99 latency
    "signstream_shed_total",
    "signstream_model_load_failures_total",
    "signstream_ready",
    "signstream_edge_fallback_total",
}


def server_metric_names() -> set[str]:
    """Every sample name the server's metrics export (cloud_server/metrics.py)."""
    from cloud_server.metrics import Metrics

    names = set()
    for family in Metrics().registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_{part}" for part in ("bucket", "sum", "count")}
        else:
            names.add(family.name)
    return names


def edge_metric_names() -> set[str]:
    """Every sample name a kiosk's /metrics exports (edge_client/metrics.py), all values known."""
    from prometheus_client.parser import text_string_to_metric_families

    from edge_client.counters import Counters
    from edge_client.metrics import render

    c = Counters()
    c.answer_latency_ms.append(1.0)
    c.label_latency_ms.append(1.0)
    status = {"running": True, "breaker": "closed", "model": {"version": "1"}, "local_model": {"version": "1"},
              "counters": c.snapshot() | {"fallbacks": 0}}  # fmt: skip
    return {s.name for f in text_string_to_metric_families(render(lambda: status).decode()) for s in f.samples}


def test_alert_rules_are_complete_and_use_real_metrics() -> None:
    from shared.registry.sync import OUTCOMES

    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    rules = [rule for group in doc["groups"] for rule in group["rules"]]
    assert len({rule["alert"] for rule in rules}) == len(rules)
    exported = server_metric_names() | edge_metric_names()
    used = set()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and len(rule["annotations"]["description"]) > 40
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s"))
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
        metrics = set(re.findall(r"\bsignstream_[a-z_]+\b", expr))
        assert metrics, rule["alert"]
        for metric in metrics:
            side = "the edge" if metric.startswith("signstream_edge_") else "the server"
            assert metric in exported, f"{rule['alert']}: {side} exports no {metric}"
        used |= metrics
        for values in re.findall(r'outcome=~?"([^"]+)"', expr):
            assert set(values.split("|")) <= set(OUTCOMES), f"{rule['alert']}: unknown sync outcome in {values}"
    assert used >= REQUIRED
    promtool = shutil.which("promtool")  # not required (not a Debian default); used when present
    if promtool:
        proc = subprocess.run([promtool, "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
                              capture_output=True, text=True)  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr


# --- IAM --------------------------------------------------------------------------------------------


def statements(name: str) -> list[dict]:
    doc = json.loads((DEPLOY / "iam" / f"{name}.json").read_text())
    assert doc["Version"] == "2012-10-17"
    for st in doc["Statement"]:
        assert st["Effect"] in ("Allow", "Deny")
        for field in ("Action", "Resource"):
            st[field] = [st[field]] if isinstance(st[field], str) else st[field]
        assert "*" not in st["Resource"] and not any(a.endswith("*") for a in st["Action"])
    return doc["Statement"]


@pytest.mark.parametrize("name", ["server", "kiosk"])
def test_servers_and_kiosks_only_read_models(name: str) -> None:
    for st in statements(name):
        assert st["Effect"] == "Allow"
        if st["Action"] == ["s3:ListBucket"]:
            assert st["Resource"] == ["arn:aws:s3:::BUCKET"]
            assert st["Condition"] == {"StringLike": {"s3:prefix": ["PREFIX/models/*"]}}
        else:
            assert st["Action"] == ["s3:GetObject"]
            assert st["Resource"] == ["arn:aws:s3:::BUCKET/PREFIX/models/*"]


def test_a_teaching_kiosk_adds_versions_and_taught_examples_but_never_promotes_or_deletes() -> None:
    """What it allows is enforced against an S3 API in tests/edge_client/test_teach.py; here, its shape."""
    allowed, denied = set(), set()
    for st in statements("kiosk-teach"):
        assert not any("Delete" in a for a in st["Action"])
        (allowed if st["Effect"] == "Allow" else denied).update((a, r) for a in st["Action"] for r in st["Resource"])
    assert {r for a, r in allowed if a == "s3:PutObject"} == {
        "arn:aws:s3:::BUCKET/PREFIX/models/*",
        "arn:aws:s3:::BUCKET/PREFIX/datasets/taught-*",
    }
    assert denied == {("s3:PutObject", "arn:aws:s3:::BUCKET/PREFIX/models/*/current")}  # the pointer: operators


def test_operator_writes_models_and_datasets_but_deletes_nothing() -> None:
    actions, resources = set(), set()
    for st in statements("operator"):
        assert st["Effect"] == "Allow"
        actions |= set(st["Action"])
        resources |= set(st["Resource"])
    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket"} <= actions
    assert not any("Delete" in a for a in actions)  # versions are immutable; rollback moves a pointer
    assert resources == {
        "arn:aws:s3:::BUCKET",
        "arn:aws:s3:::BUCKET/PREFIX/models/*",
        "arn:aws:s3:::BUCKET/PREFIX/datasets/*",
    }
