"""The edge bench is tested with the edge tests' fake server and clean environment."""

from tests.edge_client.conftest import clean_env, fake_server  # noqa: F401 (fixtures)
