"""Running a bundle's TFLite model with LiteRT (``ai-edge-litert``), or tflite-runtime where only that exists."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from shared.app.errors import BundleError
from shared.app.native_notices import native_notices_dropped

SIGNATURE_KEY = "serving_default"
LOGITS_OUTPUT = "logits"
EMBEDDING_OUTPUT = "embedding"


def interpreter_class():
    """LiteRT's Interpreter class (tflite-runtime's where only that is installed)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - only on systems that ship tflite-runtime alone
        from tflite_runtime.interpreter import Interpreter
    return Interpreter


class TFLiteRunner:
    """Logits (and, for bundles exported with one, the embedding) from a TFLite file, one window at a time.

    Outputs are found by their signature names (``logits``, ``embedding``): a converter orders a
    model's outputs as it likes. A file without a signature has its first output taken as logits.
    An interpreter is not thread-safe: calls are serialised (one window at a time, at batch 1, so the
    input never needs resizing: an invoke of a few windows was measured about as costly per window).
    """

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        try:
            with native_notices_dropped():  # LiteRT says it created its XNNPACK delegate
                self._interp = interpreter_class()(model_path=str(path), num_threads=threads)
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise BundleError(f"{path}: cannot load the TFLite model ({err})") from err
        self._in = self._interp.get_input_details()[0]["index"]
        named = self._named_outputs()
        self._logits = named.get(LOGITS_OUTPUT, self._interp.get_output_details()[0]["index"])
        self._embedding = named.get(EMBEDDING_OUTPUT)
        self._lock = threading.Lock()

    def _named_outputs(self) -> dict[str, int]:
        if SIGNATURE_KEY not in self._interp.get_signature_list():
            return {}
        details = self._interp.get_signature_runner(SIGNATURE_KEY).get_output_details()
        return {name: int(d["index"]) for name, d in details.items()}

    @property
    def has_embedding(self) -> bool:
        """Whether the file gives an embedding beside the logits."""
        return self._embedding is not None

    def logits(self, features: np.ndarray) -> np.ndarray:
        """(N, frames, F) float32 -> (N, C) float32 logits."""
        return self._run(features, embeddings=False)[0]

    def logits_and_embeddings(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, frames, F) float32 -> (N, C) logits and (N, D) embeddings, from one invoke per window."""
        if self._embedding is None:
            raise BundleError("this model gives no embedding: re-export it with the current `train`")
        logits, emb = self._run(features, embeddings=True)
        return logits, emb

    def _run(self, features: np.ndarray, embeddings: bool) -> tuple[np.ndarray, np.ndarray | None]:
        logits, embs = [], []
        with self._lock:
            for window in np.asarray(features, np.float32):
                self._interp.set_tensor(self._in, window[None])
                self._interp.invoke()
                logits.append(self._interp.get_tensor(self._logits)[0].copy())
                if embeddings:
                    embs.append(self._interp.get_tensor(self._embedding)[0].copy())
        if not logits:
            return np.zeros((0, 0), np.float32), None
        return np.stack(logits), (np.stack(embs) if embeddings else None)
