"""What runs a bundle in a worker: its SavedModel's serving signature (never ``model.predict``), or its
float32 TFLite file (the one checked at training to agree with the SavedModel)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from shared.app.errors import BundleError
from shared.app.native_notices import import_quietly
from shared.model.bundle import SAVED_MODEL_DIR, TFLITE_FLOAT
from shared.model.predictor import LogitsRunner
from shared.model.tflite import EMBEDDING_OUTPUT, LOGITS_OUTPUT, TFLiteRunner

SIGNATURE_KEY = "serving_default"


@contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """``name``'s warnings held back for the duration (errors still pass)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class SavedModelRunner:
    """Logits from a SavedModel's serving signature: (N, frames, F) float32 -> (N, C) float32.

    The signature's graph runs in a TensorFlow session of its own, in the calling thread, with
    ``threads`` intra-op threads (0: TensorFlow's choice) that never spin. Called eagerly
    (``tf.saved_model.load(...).signatures[...]``), each call hands the graph to a pool thread while
    the caller waits: a batch of 4 windows took 1.6 ms of CPU back to back and 2.9 ms with 2 ms
    pauses between calls, in the caller's thread 0.9 and 1.9 ms; served at 16 clients, 2.63 -> 2.22
    ms of server CPU a request (medians of paired rounds, docs/benchmarks.md). Same graph, same
    files: the answers are equal to float precision (tested).
    """

    def __init__(self, bundle_dir: str | Path, threads: int = 0) -> None:
        tf = import_quietly("tensorflow")

        path = Path(bundle_dir) / SAVED_MODEL_DIR
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=-1)
        config.experimental.disable_thread_spinning = True  # a worker's cores are its request threads' too
        graph = tf.Graph()
        session = tf.compat.v1.Session(graph=graph, config=config)
        try:
            with graph.as_default(), _quiet_logger("tensorflow"):  # "deprecated: use tf.saved_model.load"
                meta = tf.compat.v1.saved_model.load(session, [tf.saved_model.SERVING], str(path))
            signature = meta.signature_def[SIGNATURE_KEY]
            (feature_input,) = signature.inputs.values()
            features = graph.get_tensor_by_name(feature_input.name)
            outputs = {key: graph.get_tensor_by_name(out.name) for key, out in signature.outputs.items()}
        except (OSError, KeyError, ValueError, RuntimeError, tf.errors.OpError) as err:
            session.close()
            raise BundleError(f"{path}: cannot load the SavedModel's {SIGNATURE_KEY} signature ({err})") from err
        self._session = session
        logits = outputs[LOGITS_OUTPUT] if LOGITS_OUTPUT in outputs else next(iter(outputs.values()))
        self._logits = session.make_callable(logits, [features])
        self._both = (
            session.make_callable([logits, outputs[EMBEDDING_OUTPUT]], [features])
            if EMBEDDING_OUTPUT in outputs
            else None
        )

    @property
    def has_embedding(self) -> bool:
        """Whether the signature gives an embedding beside the logits."""
        return self._both is not None

    def logits(self, features: np.ndarray) -> np.ndarray:
        return self._logits(np.asarray(features, dtype=np.float32))

    def logits_and_embeddings(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, frames, F) -> (N, C) logits and (N, D) embeddings from one signature call."""
        if self._both is None:
            raise BundleError("this model gives no embedding: re-export it with the current `train`")
        logits, embeddings = self._both(np.asarray(features, dtype=np.float32))
        return logits, embeddings


def runner_factory(runtime: str, threads: int = 1) -> Callable[[Path], LogitsRunner]:
    """``bundle folder -> runner`` for ``runtime``: "savedmodel" (TensorFlow) or "tflite" (LiteRT, ``threads``).

    With "tflite" a worker never imports TensorFlow.
    """
    if runtime == "savedmodel":
        return lambda bundle_dir: SavedModelRunner(bundle_dir, threads=threads)
    if runtime == "tflite":
        return lambda bundle_dir: TFLiteRunner(Path(bundle_dir) / TFLITE_FLOAT, threads=threads)
    raise ValueError(f"unknown model runtime {runtime!r}")
