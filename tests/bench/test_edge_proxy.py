"""The benchmark's slow proxy forwards requests and answers unchanged (latency injection for bench edge)."""

import numpy as np

from bench.edge import SlowProxy
from edge_client.transport import CloudClient


def test_slow_proxy_forwards_to_the_server(fake_server):
    proxy = SlowProxy(fake_server.url, delay=0.05).start()
    try:
        client = CloudClient(proxy.url, api_key="k", device_id="d")
        answer = client.predict(np.full((30, 126), 0.5, np.float32))
        client.close()
    finally:
        proxy.stop()
    assert answer.label == fake_server.label and proxy.forwarded == 1
    req = fake_server.requests[-1]
    assert req["path"] == "/predict" and req["headers"]["Authorization"] == "Bearer k"
