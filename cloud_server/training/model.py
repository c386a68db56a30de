"""The sign classifier: a small temporal convolution network over normalised frames.

Convolutions convert to TFLite with builtin ops only (LSTMs need Flex ops or unrolling) and run a
batch of 32 windows in a few milliseconds on one core. The model outputs logits; the temperature
and the one softmax are applied by whoever runs it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

EMBEDDING_LAYER = "embedding"
LOGITS_LAYER = "logits"


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyper-parameters (stored in the manifest)."""

    width: int = 96
    blocks: int = 3
    kernel: int = 5
    dropout: float = 0.3
    mirror_invariant: bool = True  # average the logits of a window and its mirror image, in the graph

    def as_dict(self) -> dict:
        return {"kind": "tcn", **asdict(self)}


def build_model(
    frames: int, feature_dim: int, n_classes: int, config: ModelConfig = ModelConfig(), mirror: np.ndarray | None = None
):
    """A keras Model mapping (N, frames, feature_dim) float32 to (N, n_classes) logits.

    With ``config.mirror_invariant`` and ``mirror`` (the (F, F) matrix of shared.contract.normalize.feature_mirror),
    one network scores the window and its mirror image and the logits are averaged: the model answers
    the same for a sign made with either hand, by construction, on every runtime.
    """
    import keras
    from keras import layers

    trunk = _trunk(frames, feature_dim, n_classes, config)
    if not (config.mirror_invariant and mirror is not None):
        return trunk

    class MirrorAverage(layers.Layer):
        """Run the trunk once on [windows; mirrored windows] (one batch: half the op overhead) and
        average each window's two logit rows."""

        def __init__(self) -> None:
            super().__init__(name="mirror_average")
            self.trunk = trunk
            self.mirror = keras.ops.convert_to_tensor(mirror.astype("float32"))

        def call(self, x):
            n = keras.ops.shape(x)[0]
            both = self.trunk(keras.ops.concatenate([x, keras.ops.matmul(x, self.mirror)], axis=0))
            return (both[:n] + both[n:]) * 0.5

    inp = keras.Input((frames, feature_dim), name="features")
    return keras.Model(inp, MirrorAverage()(inp), name="signstream_tcn_mirror")


def _trunk(frames: int, feature_dim: int, n_classes: int, config: ModelConfig):
    import keras
    from keras import layers

    inp = keras.Input((frames, feature_dim), name="features")
    x = layers.Dense(config.width)(inp)
    x = layers.LayerNormalization()(x)
    x = layers.Activation("relu")(x)
    for i in range(config.blocks):
        y = layers.DepthwiseConv1D(config.kernel, padding="same", dilation_rate=2**i)(x)
        y = layers.LayerNormalization()(y)
        y = layers.Dense(config.width * 2, activation="relu")(y)
        y = layers.Dropout(config.dropout / 2)(y)
        y = layers.Dense(config.width)(y)
        x = layers.Add()([x, y])
    # The pooled vector is the window's embedding (exported beside the logits, shared/model/enroll.py).
    pooled = layers.Concatenate(name=EMBEDDING_LAYER)(
        [layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)]
    )
    pooled = layers.Dropout(config.dropout)(pooled)
    out = layers.Dense(n_classes, name=LOGITS_LAYER)(pooled)
    return keras.Model(inp, out, name="signstream_tcn")
