"""The two reference recipes training must beat (Signia's forest, Helen's LSTM), rebuilt from their descriptions.

- Signia: per-hand centroid subtracted, resampled to 30 frames, positions + frame deltas + delta
  magnitudes, RandomForest (500 trees, min_samples_split=3, max_features='sqrt', balanced).
- respaldoModeloHelen: wrist subtracted, Masking, LSTM 160 -> LSTM 96 -> Dense 96, dropout 0.45,
  Adam 7e-4, batch 24, early stopping (patience 10) on a random 25% split.

Both take raw (N, T, 126) windows and labels and return predicted labels for test windows.
"""

from __future__ import annotations

import numpy as np

from shared.contract.normalize import resample
from shared.contract.spec import COORDS, HANDS, LANDMARKS


def _hands(X: np.ndarray) -> np.ndarray:
    return X.reshape(*X.shape[:-1], HANDS, LANDMARKS, COORDS)


def signia_features(X: np.ndarray) -> np.ndarray:
    """(N, T, 126) -> (N, F): centroid-subtracted positions, deltas and delta magnitudes."""
    X = np.stack([resample(x, 30) for x in X])
    h = _hands(X)
    present = np.any(h != 0, axis=(-2, -1), keepdims=True)
    centred = np.where(present, h - h.mean(axis=-2, keepdims=True), 0.0)
    pos = centred.reshape(len(X), 30, -1)
    delta = np.diff(pos, axis=1, prepend=pos[:, :1])
    mag = np.linalg.norm(delta.reshape(len(X), 30, HANDS * LANDMARKS, COORDS), axis=-1)
    return np.concatenate([pos.reshape(len(X), -1), delta.reshape(len(X), -1), mag.reshape(len(X), -1)], axis=1)


def signia_predict(X_train, y_train, X_test, seed: int = 0) -> np.ndarray:
    from sklearn.ensemble import RandomForestClassifier

    rf = RandomForestClassifier(
        n_estimators=500,
        min_samples_split=3,
        max_features="sqrt",
        class_weight="balanced",
        random_state=seed,
        n_jobs=-1,
    )
    rf.fit(signia_features(X_train), y_train)
    return rf.predict(signia_features(X_test))


def helen_features(X: np.ndarray) -> np.ndarray:
    """(N, T, 126) -> (N, 30, 126): each hand minus its wrist; missing hands stay zero."""
    X = np.stack([resample(x, 30) for x in X])
    h = _hands(X)
    present = np.any(h != 0, axis=(-2, -1), keepdims=True)
    rel = np.where(present, h - h[..., :1, :], 0.0)
    return rel.reshape(len(X), 30, -1).astype(np.float32)


def helen_predict(X_train, y_train, X_test, seed: int = 0, max_epochs: int = 200) -> np.ndarray:
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    n = int(y_train.max()) + 1
    model = keras.Sequential(
        [
            keras.Input((30, 126)),
            layers.Masking(0.0),
            layers.LSTM(160, return_sequences=True),
            layers.Dropout(0.45),
            layers.LSTM(96),
            layers.Dropout(0.45),
            layers.Dense(96, activation="relu"),
            layers.Dropout(0.45),
            layers.Dense(n, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(7e-4), "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y_train))
    cut = int(len(order) * 0.75)
    xt = helen_features(X_train)
    stop = keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)
    model.fit(xt[order[:cut]], y_train[order[:cut]], batch_size=24, epochs=max_epochs, verbose=0,
              validation_data=(xt[order[cut:]], y_train[order[cut:]]), callbacks=[stop])  # fmt: skip
    return np.asarray(model(helen_features(X_test), training=False)).argmax(1)
