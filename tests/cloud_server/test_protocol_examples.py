"""The curl example of the binary form in docs/protocol.md, run as written against a live server."""

import json
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from werkzeug.serving import make_server

from cloud_server.app import create_app
from cloud_server.keys import KeyStore, add_key
from cloud_server.model_holder import LoadedModel, ModelHolder
from cloud_server.settings import ServerSettings
from shared.contract.spec import FeatureSpec
from shared.model.bundle import Manifest, now_iso
from tests.conftest import require_binary

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
LABELS = ["hello", "thanks", "yes"]


class Runner:
    """Logits from the features, so the answer depends on what was sent."""

    def logits(self, features):
        return np.stack([f.mean(axis=0)[:3] * 10 for f in features]).astype(np.float32)


def _curl_block() -> str:
    after = DOC.read_text().split("With curl:", 1)[1]
    return after.split("```sh\n", 1)[1].split("```", 1)[0]


@pytest.fixture
def server(tmp_path):
    keys_file = tmp_path / "keys.json"
    key = add_key(keys_file, "docs")
    manifest = Manifest(name="signs", version="3", created=now_iso(), spec=FeatureSpec(), labels=LABELS)
    holder = ModelHolder(loader=lambda p: LoadedModel(manifest, Runner(), path=None))
    holder.load("x")
    settings = ServerSettings(model_dir=tmp_path, keys_file=keys_file, runtime_dir=tmp_path / "run")
    app = create_app(settings, holder, KeyStore(keys_file))
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{httpd.server_port}", key
    httpd.shutdown()
    thread.join(5)


def test_the_documented_binary_curl_example_works(server, tmp_path):
    require_binary("curl")
    require_binary("python3")
    app, base, key = server
    block = _curl_block()
    first, rest = block.split("\n", 1)
    assert first.startswith("KEY=ssk_...; S=")  # the placeholders a reader replaces
    script = f"KEY={key}; S={base}\n{rest}"
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["label"] in LABELS and len(answer["top_k"]) == 2 and answer["model"]["version"] == "3"
    assert (tmp_path / "window.bin").stat().st_size == 20 + 30 * 126 * 4
    # the same window as JSON gets the same answer
    window = [[0.0] * 63 + [0.5] * 63] * 30
    same = app.test_client().post("/predict", json={"sequence": window, "top_k": 2}, headers={"X-API-Key": key})
    assert (same.json["label"], same.json["top_k"]) == (answer["label"], answer["top_k"])
