"""Schemathesis hooks (``SCHEMATHESIS_HOOKS``): how to write a body of the binary form.

The document can only say that the binary form is bytes (its layout is in the description and
docs/protocol.md); this teaches schemathesis the layout so its positive cases are valid windows.
"""

import numpy as np
import schemathesis
from hypothesis import strategies as st

from shared.contract.protocol import BINARY_CONTENT_TYPE, MAX_BATCH, encode_binary
from shared.contract.spec import RAW_DIM, VALUE_BOUND


@st.composite
def binary_windows(draw: st.DrawFn) -> bytes:
    """A valid binary body: 1..4 windows of 1..40 frames, float16 or float32, any top_k and flag."""
    n = draw(st.integers(1, min(4, MAX_BATCH)))
    t = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    values = np.random.default_rng(seed).uniform(-VALUE_BOUND, VALUE_BOUND, (n, t, RAW_DIM))
    if draw(st.booleans()):
        values[:, :, : RAW_DIM // 2] = 0.0  # one hand missing, as kiosks send it
    top_k = draw(st.none() | st.integers(1, 255))
    return encode_binary(values, draw(st.sampled_from(["float16", "float32"])), top_k, draw(st.booleans()))


schemathesis.openapi.media_type(BINARY_CONTENT_TYPE, binary_windows())
