"""Export a trained keras model into a bundle: SavedModel with a serving signature, TFLite float32
and int8 dynamic-range (builtin ops only), checked to agree with each other.

The signature gives two outputs: ``logits`` and ``embedding`` (the pooled vector the logits are made
from, mirror-averaged like them). One invoke yields both, so enrolled signs (shared/model/enroll.py) cost
the kiosk no second model run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shared.app.errors import BundleError
from shared.model.bundle import SAVED_MODEL_DIR, TFLITE_FLOAT, TFLITE_INT8
from shared.model.enroll import Reference, save_reference
from shared.model.tflite import TFLiteRunner


def embedding_and_logits(model):
    """``fn(features) -> (embedding, logits)`` for a model made by ``build_model``.

    The logits layer is linear, so the logits of the mirror-averaged embedding equal the average of
    the two logit rows the trained model computes: one trunk run gives both outputs.
    """
    import keras

    from cloud_server.training.model import EMBEDDING_LAYER, LOGITS_LAYER

    mirror_layer = next((layer for layer in model.layers if layer.name == "mirror_average"), None)
    trunk = mirror_layer.trunk if mirror_layer is not None else model
    embed = keras.Model(trunk.inputs, trunk.get_layer(EMBEDDING_LAYER).output)
    head = trunk.get_layer(LOGITS_LAYER)

    def fn(features):
        if mirror_layer is None:
            emb = embed(features, training=False)
        else:
            n = keras.ops.shape(features)[0]
            both = embed(
                keras.ops.concatenate([features, keras.ops.matmul(features, mirror_layer.mirror)], axis=0),
                training=False,
            )
            emb = (both[:n] + both[n:]) * 0.5
        return emb, head(emb)

    return fn


def export_saved_model(model, folder: Path, frames: int, feature_dim: int) -> None:
    """Write ``folder/saved_model`` with a 'serving_default' signature: features -> logits, embedding."""
    import keras
    import tensorflow as tf

    fn = embedding_and_logits(model)

    def serve(features):
        emb, logits = fn(features)
        return {"logits": logits, "embedding": emb}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=serve,
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


def reference_rows(y: np.ndarray, sessions: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of up to ``per_class`` sequences of each class, spread over its people (sorted)."""
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        # Round-robin over people: everybody's i-th sequence before anybody's (i+1)-th.
        rank = np.zeros(len(rows), int)
        seen: dict[str, int] = {}
        for i, r in enumerate(rows):
            rank[i] = seen.get(str(sessions[r]), 0)
            seen[str(sessions[r])] = rank[i] + 1
        keep.extend(rows[np.argsort(rank, kind="stable")][:per_class].tolist())
    return np.sort(np.asarray(keep, int))


def write_enroll_reference(folder: Path, features: np.ndarray, y: np.ndarray) -> None:
    """Write the reference sample enrolment fits against (shared/model/enroll.py): ``features`` (N, frames, F)
    of labels ``y`` (N,) run through the float32 TFLite file, as the kiosk runs it."""
    logits, emb = TFLiteRunner(folder / TFLITE_FLOAT).logits_and_embeddings(features)
    save_reference(folder, Reference(emb, logits, np.asarray(y)))
