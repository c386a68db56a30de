"""Running a bundle's TFLite model with LiteRT (``ai-edge-litert``), or tflite-runtime where only that exists."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shared.app.errors import BundleError
from shared.app.native_notices import native_notices_dropped


def interpreter_class():
    """LiteRT's Interpreter class (tflite-runtime's where only that is installed)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - only on systems that ship tflite-runtime alone
        from tflite_runtime.interpreter import Interpreter
    return Interpreter


class TFLiteRunner:
    """Logits from a TFLite file: (N, frames, F) float32 -> (N, C) float32, one window at a time."""

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        try:
            with native_notices_dropped():  # LiteRT says it created its XNNPACK delegate
                self._interp = interpreter_class()(model_path=str(path), num_threads=threads)
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise BundleError(f"{path}: cannot load the TFLite model ({err})") from err
        self._in = self._interp.get_input_details()[0]
        self._out = self._interp.get_output_details()[0]

    def logits(self, features: np.ndarray) -> np.ndarray:
        rows = []
        for window in np.asarray(features, np.float32):
            self._interp.set_tensor(self._in["index"], window[None])
            self._interp.invoke()
            rows.append(self._interp.get_tensor(self._out["index"])[0].copy())
        return np.stack(rows)
