"""``signstream bench model``: a bundle's size and speed on one core, beside the reference LSTM's.

TFLite batch-1 (LiteRT, one thread) and SavedModel batch-32 (serving signature, one intra-op
thread, pinned to one CPU), medians over repeated runs; the reference recipe's Keras LSTM
(160 -> 96 -> Dense 96) measured the same way in the same run as the baseline.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench_model(bundle: Path, repeats: int = 200) -> dict:
    """Measure ``bundle`` and the baseline LSTM; returns a dict of medians (ms) and sizes (bytes)."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from cloud_server.inference import SavedModelRunner
    from shared.contract.normalize import feature_dim
    from shared.model.bundle import TFLITE_FLOAT, TFLITE_INT8, load_manifest
    from shared.model.tflite import TFLiteRunner

    manifest = load_manifest(bundle)
    rng = np.random.default_rng(0)
    x32 = rng.normal(size=(32, manifest.spec.frames, feature_dim(manifest.spec))).astype(np.float32)
    sm = SavedModelRunner(bundle, threads=1)
    out = {
        "bundle_bytes": sum(e.size for e in manifest.files.values()),
        "savedmodel_batch32_ms": _median_ms(lambda: sm.logits(x32), repeats // 4),
        "savedmodel_batch1_ms": _median_ms(lambda: sm.logits(x32[:1]), repeats),
    }
    for name, key in ((TFLITE_FLOAT, "tflite_float32_batch1_ms"), (TFLITE_INT8, "tflite_int8_batch1_ms")):
        r = TFLiteRunner(bundle / name, threads=1)
        out[key] = _median_ms(lambda r=r: r.logits(x32[:1]), repeats)
    from keras import layers

    lstm = keras.Sequential(
        [keras.Input((30, 126)), layers.Masking(0.0), layers.LSTM(160, return_sequences=True), layers.LSTM(96),
         layers.Dense(96, activation="relu"), layers.Dense(len(manifest.labels))]
    )  # fmt: skip
    fn = tf.function(lambda x: lstm(x, training=False))
    b32 = tf.constant(rng.normal(size=(32, 30, 126)).astype(np.float32))
    out["baseline_lstm_tf_function_batch32_ms"] = _median_ms(lambda: fn(b32).numpy(), repeats // 4)
    out["baseline_lstm_predict_batch1_ms"] = _median_ms(lambda: lstm.predict(b32[:1], verbose=0), repeats // 10)
    return out


def main(args) -> None:
    """Entry point for ``signstream bench model``."""
    r = bench_model(args.model, args.repeats)
    print(f"bundle {args.model}: {r['bundle_bytes'] / 1e6:.2f} MB")
    print(f"  TFLite float32 batch 1: {r['tflite_float32_batch1_ms']:.3f} ms (median, one thread)")
    print(f"  TFLite int8    batch 1: {r['tflite_int8_batch1_ms']:.3f} ms")
    b32, b1 = r["savedmodel_batch32_ms"], r["savedmodel_batch1_ms"]
    print(f"  SavedModel batch 32:    {b32:.2f} ms (one core); batch 1: {b1:.2f} ms")
    base = r["baseline_lstm_tf_function_batch32_ms"]
    print(f"  baseline reference LSTM batch 32 (tf.function): {base:.2f} ms (ratio baseline/ours {base / b32:.2f})")
    print(f"  baseline reference LSTM model.predict batch 1: {r['baseline_lstm_predict_batch1_ms']:.1f} ms")
