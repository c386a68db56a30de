"""Our bundle behind LitServe, as its documentation sets up CPU serving with dynamic batching.

``LitAPI(max_batch_size=, batch_timeout=)`` turns batching on; ``LitServer(accelerator="cpu",
workers_per_device=N)`` runs N inference worker processes, and ``run()`` as many HTTP (uvicorn) processes
as inference workers (its default). Run inside the LitServe venv: ``python service.py PORT``.
"""

import os
import sys

import litserve as ls

from bench.frameworks import common


class SignsAPI(ls.LitAPI):
    def setup(self, device):
        self.model = common.load()

    def decode_request(self, request):
        return common.window(request["sequence"])

    def batch(self, inputs):
        return list(inputs)  # windows may differ in length: the predictor takes a list

    def predict(self, windows):
        return self.model.predict(windows, common.TOP_K)

    def unbatch(self, output):
        return output

    def encode_response(self, output):
        return common.answer(self.model, output)


if __name__ == "__main__":
    api = SignsAPI(
        max_batch_size=int(os.environ["SIGNSTREAM_BENCH_MAX_BATCH"]),
        batch_timeout=float(os.environ["SIGNSTREAM_BENCH_BATCH_TIMEOUT_S"]),
    )
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=int(os.environ["SIGNSTREAM_BENCH_WORKERS"]))
    server.run(host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", generate_client_file=False)
