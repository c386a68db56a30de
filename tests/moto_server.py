"""A real S3 API on 127.0.0.1 for tests: moto's server mode in a subprocess, started and stopped here.

Usage (any test folder's conftest.py)::

    from tests.moto_server import moto_server, s3_environment

    @pytest.fixture(scope="session")
    def s3_endpoint():
        with moto_server() as url:
            yield url

    def test_x(s3_endpoint, monkeypatch):
        for key, value in s3_environment(s3_endpoint).items():
            monkeypatch.setenv(key, value)
        ...  # boto3 clients now talk to the moto server

Tests that use it need moto (the dev venv has it; the edge-only venv does not): the helper skips
with a clear reason when it is missing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT = 60.0  # generous: the machine is shared; startup is ~1 s when idle


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_environment(endpoint: str, region: str = "us-east-1") -> dict[str, str]:
    """Environment that points boto3 at ``endpoint`` with dummy credentials and no user AWS config."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "2",
    }


@contextlib.contextmanager
def moto_server(host: str = "127.0.0.1", enforce_iam_after: int | None = None) -> Iterator[str]:
    """Start ``python -m moto.server -H host -p <free port>``, wait until it answers, yield its URL, stop it.

    ``enforce_iam_after``: moto answers that many requests without credentials (to create users and
    policies), then checks every request's signature and the caller's IAM policies (its actions and
    resources, Allow and Deny; moto ignores policy conditions such as ``s3:prefix``).
    """
    # moto is a dev dependency: the edge-only venv skips these tests, the dev venv (make test) runs them.
    import pytest

    pytest.importorskip("moto.server", reason="needs moto[server] (dev venv: pip install -e '.[dev]')")
    port = free_port()
    url = f"http://{host}:{port}"
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finally; not a pipe: moto logs every request and a full pipe would block it
    env = dict(os.environ)
    if enforce_iam_after is not None:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(enforce_iam_after)
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=env,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"moto server exited with {proc.returncode}: {log.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/reset", data=b"", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not answer on {url} within {START_TIMEOUT} s") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def s3_with_iam_users(
    bucket: str, users: dict[str, list[str]], folder: Path, prefix: str = "fleet"
) -> Iterator[tuple[str, Path]]:
    """A moto S3 that enforces IAM: ``bucket`` made, one IAM user per ``users`` entry with those policies
    of deploy/iam/ (``BUCKET`` and ``PREFIX`` filled in) attached, and their access keys in a shared
    credentials file under ``folder``, one profile per user. Yields (endpoint URL, credentials file)."""
    import boto3

    root = Path(__file__).resolve().parents[1] / "deploy" / "iam"
    setup = 1 + sum(2 * len(names) + 2 for names in users.values())  # bucket; per user: user, key, policies
    with moto_server(enforce_iam_after=setup) as url:
        anonymous = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "setup",
                     "aws_secret_access_key": "setup"}  # fmt: skip
        boto3.client("s3", **anonymous).create_bucket(Bucket=bucket)
        iam = boto3.client("iam", **anonymous)
        profiles = []
        for user, names in users.items():
            iam.create_user(UserName=user)
            for name in names:
                doc = (root / f"{name}.json").read_text().replace("BUCKET", bucket).replace("PREFIX", prefix)
                arn = iam.create_policy(PolicyName=f"{user}-{name}", PolicyDocument=doc)["Policy"]["Arn"]
                iam.attach_user_policy(UserName=user, PolicyArn=arn)
            key = iam.create_access_key(UserName=user)["AccessKey"]
            profiles.append(f"[{user}]\naws_access_key_id = {key['AccessKeyId']}\n"
                            f"aws_secret_access_key = {key['SecretAccessKey']}\n")  # fmt: skip
        credentials = folder / "aws-credentials"
        credentials.write_text("\n".join(profiles))
        yield url, credentials
