"""Export a trained keras model into a bundle: SavedModel with a serving signature, TFLite float32
and int8 dynamic-range (builtin ops only), checked to agree with each other."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shared.app.errors import BundleError
from shared.model.bundle import SAVED_MODEL_DIR, TFLITE_FLOAT, TFLITE_INT8
from shared.model.tflite import TFLiteRunner


def export_saved_model(model, folder: Path, frames: int, feature_dim: int) -> None:
    """Write ``folder/saved_model`` with a 'serving_default' signature: features -> logits."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=lambda features: {"logits": model(features, training=False)},
        input_signature=[tf.TensorSpec([None, frames, feature_dim], tf.float32, name="features")],
    )
    archive.write_out(str(folder / SAVED_MODEL_DIR), verbose=False)


def export_tflite(folder: Path) -> None:
    """Convert the SavedModel to TFLite float32 and int8 dynamic-range, builtin ops only."""
    import tensorflow as tf

    for name, optimize in ((TFLITE_FLOAT, False), (TFLITE_INT8, True)):
        conv = tf.lite.TFLiteConverter.from_saved_model(str(folder / SAVED_MODEL_DIR))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if optimize:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        (folder / name).write_bytes(conv.convert())


def agreement(folder: Path, sample: np.ndarray) -> dict[str, float]:
    """Run the SavedModel and both TFLite files on ``sample`` (N, frames, F) and compare.

    Returns top-1 agreement with the SavedModel and the max absolute logit difference per TFLite
    file; raises BundleError if the float32 file disagrees on any top-1.
    """
    from cloud_server.inference import SavedModelRunner

    ref = SavedModelRunner(folder).logits(sample)
    out: dict[str, float] = {}
    for name in (TFLITE_FLOAT, TFLITE_INT8):
        got = TFLiteRunner(folder / name).logits(sample)
        key = name.removesuffix(".tflite")
        out[f"{key}_top1_agreement"] = float((got.argmax(1) == ref.argmax(1)).mean())
        out[f"{key}_max_abs_logit_diff"] = float(np.abs(got - ref).max())
    if out["model_top1_agreement"] < 1.0:
        raise BundleError(f"TFLite float32 disagrees with the SavedModel on top-1: {out}")
    return out
