"""The edge bench's proxy is tested against the edge tests' fake server."""

from tests.edge_client.conftest import fake_server  # noqa: F401 (a fixture)
