"""Running a bundle's SavedModel through its serving signature (never ``model.predict``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shared.bundle import SAVED_MODEL_DIR
from shared.errors import BundleError

SIGNATURE_KEY = "serving_default"


class SavedModelRunner:
    """Logits from a SavedModel's serving signature: (N, frames, F) float32 -> (N, C) float32."""

    def __init__(self, bundle_dir: str | Path) -> None:
        import tensorflow as tf

        path = Path(bundle_dir) / SAVED_MODEL_DIR
        try:
            self._loaded = tf.saved_model.load(str(path))
            self._fn = self._loaded.signatures[SIGNATURE_KEY]
        except (OSError, KeyError, ValueError) as err:
            raise BundleError(f"{path}: cannot load the SavedModel's {SIGNATURE_KEY} signature ({err})") from err
        self._input = next(iter(self._fn.structured_input_signature[1]))
        self._tf = tf

    def logits(self, features: np.ndarray) -> np.ndarray:
        out = self._fn(**{self._input: self._tf.constant(features, dtype=self._tf.float32)})
        return next(iter(out.values())).numpy()
