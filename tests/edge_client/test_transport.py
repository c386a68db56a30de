"""Transport against a fake server on 127.0.0.1: binary form, headers, retries with backoff, the breaker."""

import random

import pytest

from edge_client.transport import Backoff, CircuitBreaker, CircuitOpenError, CloudClient, TransportError
from shared.contract.protocol import BINARY_CONTENT_TYPE, DEVICE_HEADER, MODEL_VERSION_HEADER, decode_binary

from .conftest import hand


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def window(n: int = 30):
    import numpy as np

    return np.stack([hand(0.4)] * n)


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    b = Backoff(base=0.1, cap=1.0, rng=random.Random(0))
    for attempt in range(8):
        d = min(1.0, 0.1 * 2**attempt)
        samples = [b.delay(attempt) for _ in range(50)]
        assert all(d / 2 <= s <= d for s in samples)
        assert len(set(samples)) > 1  # jitter: a fleet does not retry in step


def test_breaker_opens_after_failures_then_lets_one_trial_through():
    clock = Clock()
    br = CircuitBreaker(failures=3, reset_after=10, clock=clock)
    for _ in range(2):
        assert br.allow()
        br.failure()
    assert br.state == "closed"
    br.failure()
    assert br.state == "open" and not br.allow() and br.opened == 1
    clock.now += 10
    assert br.state == "half-open"
    assert br.allow() and not br.allow()  # one trial at a time
    br.failure()
    assert br.state == "open" and br.opened == 2
    clock.now += 10
    assert br.allow()
    br.success()
    assert br.state == "closed" and br.allow()


def test_a_success_resets_the_failure_streak():
    br = CircuitBreaker(failures=2, reset_after=10, clock=Clock())
    br.failure()
    br.success()
    br.failure()
    assert br.state == "closed"


def test_binary_request_with_key_device_and_local_version(fake_server):
    client = CloudClient(fake_server.url + "/", api_key="k1", local_version="7", device_id="kiosk-1")
    ans = client.predict(window())
    assert ans.label == fake_server.label and ans.model.version == "C1"
    req = fake_server.requests[-1]
    assert req["path"] == "/predict"
    h = req["headers"]
    assert h["Content-Type"] == BINARY_CONTENT_TYPE and h["Authorization"] == "Bearer k1"
    assert h[MODEL_VERSION_HEADER] == "7" and h[DEVICE_HEADER] == "kiosk-1"
    assert h.get("Connection", "keep-alive").lower() == "keep-alive"
    client.set_local_version("8")
    client.predict(window())
    assert fake_server.requests[-1]["headers"][MODEL_VERSION_HEADER] == "8"
    client.close()


def test_binary_body_decodes_to_the_window(fake_server):
    import numpy as np

    w = window(12)
    client = CloudClient(fake_server.url)
    client.predict(w)
    # the fake server records sizes; re-encode to compare what went out with what the protocol expects
    from shared.contract.protocol import encode_binary

    assert fake_server.requests[-1]["size"] == len(encode_binary(w))
    assert np.allclose(decode_binary(encode_binary(w)).windows[0], w, atol=1e-3)


def test_retries_with_backoff_then_succeeds(fake_server):
    fake_server.fail_first = 2
    waits = []
    client = CloudClient(fake_server.url, retries=2, backoff=Backoff(0.05, 1.0, random.Random(1)), sleep=waits.append)
    assert client.predict(window()).label == fake_server.label
    assert len(fake_server.requests) == 3 and len(waits) == 2
    assert 0.025 <= waits[0] <= 0.05 and 0.05 <= waits[1] <= 0.1
    assert client.breaker.state == "closed"


def test_a_refused_request_is_not_retried_and_does_not_trip_the_breaker(fake_server):
    fake_server.mode, fake_server.status = "status", 401
    client = CloudClient(fake_server.url, retries=3, sleep=lambda s: None, breaker=CircuitBreaker(failures=1))
    with pytest.raises(TransportError, match="HTTP 401"):
        client.predict(window())
    assert len(fake_server.requests) == 1 and client.breaker.state == "closed"


def test_breaker_stops_calling_a_failing_server_and_recovers(fake_server):
    clock = Clock()
    fake_server.mode = "status"
    client = CloudClient(fake_server.url, retries=0, breaker=CircuitBreaker(3, 5.0, clock), sleep=lambda s: None)
    for _ in range(3):
        with pytest.raises(TransportError, match="HTTP 503"):
            client.predict(window())
    with pytest.raises(CircuitOpenError):
        client.predict(window())
    assert len(fake_server.requests) == 3  # the open breaker sent nothing
    fake_server.mode = "ok"
    clock.now += 5
    assert client.predict(window()).label == fake_server.label
    assert client.breaker.state == "closed"


def test_a_down_server_is_a_transport_error(down_url):
    client = CloudClient(down_url, retries=1, sleep=lambda s: None)
    with pytest.raises(TransportError, match="ConnectionError"):
        client.predict(window())


def test_a_stop_during_backoff_ends_the_retries(fake_server):
    fake_server.mode = "status"
    client = CloudClient(fake_server.url, retries=5, sleep=lambda s: True)  # Event.wait -> True: stopping
    with pytest.raises(TransportError):
        client.predict(window())
    assert len(fake_server.requests) == 1


def test_json_form(fake_server):
    client = CloudClient(fake_server.url, binary=False)
    client.predict(window(3))
    assert fake_server.requests[-1]["headers"]["Content-Type"] == "application/json"


def _self_signed(tmp_path):
    """A certificate for 127.0.0.1 and its key, as PEM files (the certificate is its own CA)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signstream test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


def test_tls_is_verified_with_the_ca_bundle_setting(tmp_path):
    from .conftest import FakeServer

    cert, key = _self_signed(tmp_path)
    server = FakeServer(tls=(cert, key))
    try:
        assert server.url.startswith("https://")
        trusted = CloudClient(server.url, verify=str(cert), retries=0)
        assert trusted.predict(window()).label == server.label
        default = CloudClient(server.url, retries=0)  # the system CAs do not know this certificate
        with pytest.raises(TransportError, match="SSLError"):
            default.predict(window())
    finally:
        server.close()
