"""The reference server, rebuilt as the baseline of ``signstream bench server``: the design signstream
replaces (Flask, an LSTM, model.predict per request).

Flask under gunicorn with sync workers; a Keras LSTM 160 -> LSTM 96 -> Dense 96 on 30 x 126 input;
``model.predict`` per request; JSON in and out. Weights are random: only speed is compared.
Run: ``gunicorn -k sync -w 2 'bench.baseline_server:create_app()'``.
"""

from __future__ import annotations

import os

import numpy as np
from flask import Flask, jsonify, request

LABELS = [f"sign{i}" for i in range(10)]


def create_app() -> Flask:
    import keras
    from keras import layers

    model = keras.Sequential(
        [keras.Input((30, 126)), layers.Masking(0.0), layers.LSTM(160, return_sequences=True), layers.LSTM(96),
         layers.Dense(96, activation="relu"), layers.Dense(len(LABELS), activation="softmax")]
    )  # fmt: skip
    app = Flask("baseline")

    @app.post("/predict")
    def predict():
        seq = np.asarray(request.get_json()["sequence"], np.float32)
        probs = model.predict(seq[None], verbose=0)[0]
        i = int(np.argmax(probs))
        return jsonify({"label": LABELS[i], "index": i, "confidence": float(probs[i])})

    @app.get("/ready")
    def ready():  # names the worker, so the bench starts only once both workers are up
        return {"status": "ready", "worker": os.getpid()}

    return app
