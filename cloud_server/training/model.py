"""The sign classifier: a small temporal convolution network over normalised frames.

Convolutions convert to TFLite with builtin ops only (LSTMs need Flex ops or unrolling) and run a
batch of 32 windows in a few milliseconds on one core. The model outputs logits; the temperature
and the one softmax are applied by whoever runs it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyper-parameters (stored in the manifest)."""

    width: int = 128
    blocks: int = 3
    kernel: int = 5
    dropout: float = 0.3

    def as_dict(self) -> dict:
        return {"kind": "tcn", **asdict(self)}


def build_model(frames: int, feature_dim: int, n_classes: int, config: ModelConfig = ModelConfig()):
    """A keras Model mapping (N, frames, feature_dim) float32 to (N, n_classes) logits."""
    import keras
    from keras import layers

    inp = keras.Input((frames, feature_dim), name="features")
    x = layers.Dense(config.width)(inp)
    x = layers.LayerNormalization()(x)
    x = layers.Activation("gelu")(x)
    for i in range(config.blocks):
        y = layers.DepthwiseConv1D(config.kernel, padding="same", dilation_rate=2**i)(x)
        y = layers.LayerNormalization()(y)
        y = layers.Dense(config.width * 2, activation="gelu")(y)
        y = layers.Dropout(config.dropout / 2)(y)
        y = layers.Dense(config.width)(y)
        x = layers.Add()([x, y])
    pooled = layers.Concatenate()([layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)])
    pooled = layers.Dropout(config.dropout)(pooled)
    out = layers.Dense(n_classes, name="logits")(pooled)
    return keras.Model(inp, out, name="signstream_tcn")
