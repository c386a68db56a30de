"""docs/registry.md's bucket commands for a local S3 API, run as written against a moto server."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.moto_server import s3_environment

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "registry.md"


def _moto_block() -> list[str]:
    section = DOC.read_text().split("### Creating the bucket", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def _run(line: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", line], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("maker", ["python", "aws"])
def test_the_documented_bucket_commands_make_a_store_the_cli_can_use(s3_endpoint, maker):
    lines = _moto_block()
    assert lines[0].startswith(".venv/bin/moto_server ") and lines[1].startswith("export AWS_ENDPOINT_URL=")
    make = next(line for line in lines if line.startswith(".venv/bin/python" if maker == "python" else "aws "))
    models = next(line for line in lines if line.startswith(".venv/bin/signstream models"))
    env = {**os.environ, **s3_environment(s3_endpoint)}  # dummy credentials, no user AWS config
    if maker == "aws" and (shutil.which("aws") is None or _run("aws --version", env).returncode != 0):
        pytest.skip("no AWS CLI here (it is optional; the python line is the one always run)")
    bucket = f"doc-bucket-{maker}"
    make, models = make.replace("signstream-models", bucket), models.replace("signstream-models", bucket)
    before = _run(models, env)
    assert before.returncode == 2 and f"no such bucket {bucket}" in before.stderr, before.stderr
    made = _run(make, env)
    assert made.returncode == 0, made.stderr
    after = _run(models, env)
    assert after.returncode == 0, after.stderr
