"""Our bundle behind BentoML, as its documentation sets up a CPU service with adaptive batching.

``@bentoml.service(workers=N)`` runs N worker processes, each an HTTP server with its own model and
dispatcher; ``@bentoml.api(batchable=True, max_batch_size=)`` turns adaptive batching on (the batch
window adapts by itself; ``max_latency_ms`` is left at its default). A batchable input is a batch: a
request posts ``{"sequence": [window]}`` and is answered a list of one. The access log is off, as our
server's request log is in the bench (BentoML's logging configuration). Run in the BentoML venv:
``bentoml serve service:Signs --port PORT`` from this folder.
"""

import os

import bentoml
import numpy as np

from bench.frameworks import common


@bentoml.service(
    workers=int(os.environ.get("SIGNSTREAM_BENCH_WORKERS", "2")),
    logging={"access": {"enabled": False}},
)
class Signs:
    def __init__(self) -> None:
        self.model = common.load()

    @bentoml.api(batchable=True, max_batch_size=int(os.environ.get("SIGNSTREAM_BENCH_MAX_BATCH", "32")))
    def predict(self, sequence: np.ndarray) -> list:
        preds = self.model.predict(list(sequence.astype(np.float32, copy=False)), common.TOP_K)
        return [common.answer(self.model, p) for p in preds]
