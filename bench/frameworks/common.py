"""What every framework's service shares with our server: the model, its loading and the answer it gives.

Imported inside a framework's venv (the checkout on ``PYTHONPATH``): TensorFlow, numpy and pydantic only.
"""

from __future__ import annotations

import os
import time

import numpy as np

from cloud_server.inference import runner_factory
from cloud_server.model_holder import LoadedModel, load_model
from shared.contract.protocol import ModelRef, Prediction, PredictResponse

BUNDLE_ENV = "SIGNSTREAM_BENCH_BUNDLE"
TOP_K = 3  # our server's default_top_k


def load() -> LoadedModel:
    """The bundle named by ``$SIGNSTREAM_BENCH_BUNDLE``: verified, one TensorFlow thread (as each of our workers)."""
    return load_model(os.environ[BUNDLE_ENV], runner_factory("savedmodel", threads=1))


def window(value: object) -> np.ndarray:
    """One (T, 126) float32 window from parsed JSON."""
    return np.asarray(value, dtype=np.float32)


def answer(model: LoadedModel, pred: Prediction) -> dict:
    """The body our server answers a one-window request with, as a dict."""
    ref = ModelRef(name=model.manifest.name, version=model.manifest.version)
    body = PredictResponse(**pred.model_dump(), model=ref, threshold=model.manifest.threshold, server_time=time.time())
    return body.model_dump(mode="json")
