"""Our bundle behind MLServer, as a custom inference runtime with adaptive batching and parallel workers.

``parallel_workers`` (server settings) runs the inference in N worker processes beside the HTTP
process; ``max_batch_size`` / ``max_batch_time`` (model settings) turn adaptive batching on. Requests
use the V2 inference protocol: one FP32 input ``sequence`` of shape [1, T, 126]; the answer's outputs
are the label, its confidence and the model version, one row per window.
"""

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec, StringCodec
from mlserver.types import InferenceRequest, InferenceResponse

from bench.frameworks import common


class SignsRuntime(MLModel):
    async def load(self) -> bool:
        self.model = common.load()
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        batch = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32, copy=False)
        preds = self.model.predict(list(batch), common.TOP_K)
        answers = [common.answer(self.model, p) for p in preds]
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                StringCodec.encode_output("label", [a["label"] for a in answers]),
                NumpyCodec.encode_output("confidence", np.array([a["confidence"] for a in answers], np.float32)),
                StringCodec.encode_output("version", [a["model"]["version"] for a in answers]),
            ],
        )
