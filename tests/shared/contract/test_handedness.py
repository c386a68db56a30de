import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from shared.contract.handedness import mirror, slot_for
from shared.contract.spec import RAW_DIM


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, (7, RAW_DIM), elements=st.floats(0, 1, width=32)), st.integers(0, 3))
def test_mirror_twice_is_identity(frames, drop):
    frames[:drop, :63] = 0  # some frames miss a hand
    np.testing.assert_allclose(mirror(mirror(frames)), frames, atol=1e-6)


def test_mirror_flips_x_swaps_slots_and_keeps_missing_hands_zero():
    f = np.zeros((1, RAW_DIM), np.float32)
    f[0, 63:] = np.tile([0.2, 0.4, -0.1], 21)  # only slot 1 present
    m = mirror(f)
    assert np.all(m[0, 63:] == 0)
    np.testing.assert_allclose(m[0, :63].reshape(21, 3), np.tile([0.8, 0.4, -0.1], (21, 1)), atol=1e-6)


def test_landmarker_rule():
    assert slot_for("Left") == 0 and slot_for("Right") == 1
    with pytest.raises(ValueError, match="unknown handedness"):
        slot_for("Both")
