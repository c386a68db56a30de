"""Property-based requests generated from the OpenAPI document: the server never answers 5xx."""

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from cloud_server.app import create_app
from cloud_server.keys import KeyStore, add_key
from cloud_server.model_holder import LoadedModel, ModelHolder
from cloud_server.settings import ServerSettings
from shared.bundle import Manifest, now_iso
from shared.spec import FeatureSpec


class Runner:
    def logits(self, features):
        return np.tile(np.arange(3, dtype=np.float32), (len(features), 1))


def _app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schema")
    keys_file = tmp / "keys.json"
    key = add_key(keys_file, "fuzz", admin=True)
    manifest = Manifest(name="m", version="1", created=now_iso(), spec=FeatureSpec(), labels=["a", "b", "c"])
    holder = ModelHolder(loader=lambda p: LoadedModel(manifest, Runner(), path=None))
    holder.load("x")
    settings_ = ServerSettings(model_dir=tmp, keys_file=keys_file, rate_limit=0, max_body_bytes=200_000)
    return create_app(settings_, holder, KeyStore(keys_file)), key


@pytest.fixture(scope="module")
def app_and_key(tmp_path_factory):
    return _app(tmp_path_factory)


def test_no_server_errors_on_any_generated_request(app_and_key):
    # Operations are driven with hypothesis directly: schemathesis' pytest plugin does not load under pytest 9.
    app, key = app_and_key
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/predict", "/models", "/metrics", "/devices", "/admin/reload"}
    calls = []
    for op in operations:

        @given(case=op.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
            case.call_and_validate(checks=[not_a_server_error])
            calls.append(case.path)

        run()
    assert calls.count("/predict") >= 10
