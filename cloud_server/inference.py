"""What runs a bundle in a worker: its SavedModel's serving signature (never ``model.predict``), or its
float32 TFLite file (the one checked at training to agree with the SavedModel)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from shared.app.errors import BundleError
from shared.app.native_notices import import_quietly
from shared.model.bundle import SAVED_MODEL_DIR, TFLITE_FLOAT
from shared.model.predictor import LogitsRunner
from shared.model.tflite import EMBEDDING_OUTPUT, LOGITS_OUTPUT, TFLiteRunner

SIGNATURE_KEY = "serving_default"
log = logging.getLogger(__name__)


def configure_tensorflow(threads: int) -> None:
    """Give each worker's TensorFlow ``threads`` threads, before its first model loads.

    TensorFlow's default is a thread pool the size of the machine in every process; with one per
    gunicorn worker the pools overbook the cores and their threads spin while waiting. On 2 cores
    with 2 workers, one thread each halved the CPU per model call at batch 16 (8.6 -> 4.0 ms,
    docs/benchmarks.md): the workers, not TensorFlow, give the parallelism.
    """
    tf = import_quietly("tensorflow")

    threading = tf.config.threading
    if threading.get_intra_op_parallelism_threads() == threads == threading.get_inter_op_parallelism_threads():
        return
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError as err:  # TensorFlow already ran in this process: it keeps its pools
        log.warning("TensorFlow threads left as they are (%s)", err)


class SavedModelRunner:
    """Logits from a SavedModel's serving signature: (N, frames, F) float32 -> (N, C) float32."""

    def __init__(self, bundle_dir: str | Path) -> None:
        tf = import_quietly("tensorflow")

        path = Path(bundle_dir) / SAVED_MODEL_DIR
        try:
            self._loaded = tf.saved_model.load(str(path))
            self._fn = self._loaded.signatures[SIGNATURE_KEY]
        except (OSError, KeyError, ValueError) as err:
            raise BundleError(f"{path}: cannot load the SavedModel's {SIGNATURE_KEY} signature ({err})") from err
        self._input = next(iter(self._fn.structured_input_signature[1]))
        self._tf = tf

    def _outputs(self, features: np.ndarray) -> dict:
        return self._fn(**{self._input: self._tf.constant(features, dtype=self._tf.float32)})

    @property
    def has_embedding(self) -> bool:
        """Whether the signature gives an embedding beside the logits."""
        return EMBEDDING_OUTPUT in self._fn.structured_outputs

    def logits(self, features: np.ndarray) -> np.ndarray:
        out = self._outputs(features)
        return (out[LOGITS_OUTPUT] if LOGITS_OUTPUT in out else next(iter(out.values()))).numpy()

    def logits_and_embeddings(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, frames, F) -> (N, C) logits and (N, D) embeddings from one signature call."""
        if not self.has_embedding:
            raise BundleError("this model gives no embedding: re-export it with the current `train`")
        out = self._outputs(features)
        return out[LOGITS_OUTPUT].numpy(), out[EMBEDDING_OUTPUT].numpy()


def runner_factory(runtime: str, threads: int = 1) -> Callable[[Path], LogitsRunner]:
    """``bundle folder -> runner`` for ``runtime``: "savedmodel" (TensorFlow) or "tflite" (LiteRT, ``threads``).

    With "tflite" a worker never imports TensorFlow.
    """
    if runtime == "savedmodel":
        return SavedModelRunner
    if runtime == "tflite":
        return lambda bundle_dir: TFLiteRunner(Path(bundle_dir) / TFLITE_FLOAT, threads=threads)
    raise ValueError(f"unknown model runtime {runtime!r}")
