"""The TFLite runner on a real bundle's file: safe to call from several threads at once."""

import threading

import numpy as np
import pytest

from shared.contract.normalize import feature_dim
from shared.model.bundle import TFLITE_FLOAT, load_manifest
from shared.model.tflite import TFLiteRunner

pytestmark = pytest.mark.slow


def test_one_runner_called_from_many_threads_answers_each_call_as_alone(tiny_bundle):
    spec = load_manifest(tiny_bundle).spec
    runner = TFLiteRunner(tiny_bundle / TFLITE_FLOAT)
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(3, spec.frames, feature_dim(spec))).astype(np.float32) for _ in range(6)]
    alone = [runner.logits(b) for b in batches]
    wrong, errors = [], []

    def caller(i: int) -> None:
        try:
            for _ in range(100):
                if not np.array_equal(runner.logits(batches[i]), alone[i]):
                    wrong.append(i)
        except Exception as err:  # an interpreter shared without a lock raises here
            errors.append(repr(err))

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:2]
    assert not wrong
