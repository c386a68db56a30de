import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import SpecMismatchError
from shared.normalize import feature_dim, features, hands_present, resample
from shared.spec import MAX_INPUT_FRAMES, RAW_DIM, FeatureSpec
from shared.synth import generate

SPEC = FeatureSpec()
WINDOWS = generate(classes=6, per_class=2, signers=2, seed=3).X
SHAPE = slice(0, 63)  # per-hand shape block
REL = slice(63, 65)  # wrist relative to the window's centre, in hand sizes
FRAME = slice(65, 67)  # wrist relative to the frame centre


def _transform(window, scale, dx, dy):
    """Scale the whole scene about (0.5, 0.5) and shift it; missing hands stay zero."""
    out = window.reshape(window.shape[0], 2, 21, 3).copy()
    present = np.any(out != 0, axis=(-2, -1))
    out[..., :2] = (out[..., :2] - 0.5) * scale + 0.5 + np.array([dx, dy])
    out[..., 2] *= scale
    out[~present] = 0
    return out.reshape(window.shape).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(
    idx=st.integers(0, len(WINDOWS) - 1),
    scale=st.floats(0.5, 1.6),
    dx=st.floats(-0.2, 0.2),
    dy=st.floats(-0.2, 0.2),
)
def test_hand_shape_and_relative_position_ignore_where_and_how_far(idx, scale, dx, dy):
    base = features(WINDOWS[idx], SPEC).reshape(SPEC.frames, 2, -1)
    moved = features(_transform(WINDOWS[idx], scale, dx, dy), SPEC).reshape(SPEC.frames, 2, -1)
    np.testing.assert_allclose(moved[..., SHAPE], base[..., SHAPE], atol=2e-3)
    np.testing.assert_allclose(moved[..., REL], base[..., REL], atol=2e-3)


@settings(max_examples=20, deadline=None)
@given(idx=st.integers(0, len(WINDOWS) - 1), dx=st.floats(-0.2, 0.2))
def test_position_in_frame_is_kept(idx, dx):
    base = features(WINDOWS[idx], SPEC).reshape(SPEC.frames, 2, -1)
    moved = features(_transform(WINDOWS[idx], 1.0, dx, 0.0), SPEC).reshape(SPEC.frames, 2, -1)
    present = base[..., -1] == 1
    np.testing.assert_allclose(moved[..., FRAME][present][:, 0] - base[..., FRAME][present][:, 0], dx, atol=1e-4)


def test_missing_hand_is_all_zero_and_flagged():
    w = WINDOWS[0].copy()
    w[:, :63] = 0
    f = features(w, SPEC).reshape(SPEC.frames, 2, -1)
    assert np.all(f[:, 0] == 0)
    assert np.all(f[:, 1, -1] == 1)


def test_empty_window_gives_zeros_not_nan():
    f = features(np.zeros((10, RAW_DIM), np.float32), SPEC)
    assert f.shape == (SPEC.frames, feature_dim(SPEC))
    assert np.all(f == 0)


@settings(max_examples=60, deadline=None)
@given(t=st.integers(1, MAX_INPUT_FRAMES), length=st.integers(2, 64))
def test_resample_any_allowed_length(t, length):
    rng = np.random.default_rng(t)
    w = rng.uniform(0, 1, (t, RAW_DIM)).astype(np.float32)
    w[rng.random(t) < 0.3, :63] = 0
    out = resample(w, length)
    assert out.shape == (length, RAW_DIM) and out.dtype == np.float32
    assert np.isfinite(out).all()
    # a hand is never blended with a missing one: each output hand is all zero or all from data range
    hands = out.reshape(length, 2, 63)
    present = hands_present(out)
    assert np.all(hands[~present] == 0)
    assert hands[present].min() >= 0 and hands[present].max() <= 1


def test_resample_keeps_endpoints_and_identity():
    w = WINDOWS[1]
    np.testing.assert_array_equal(resample(w, len(w)), w)
    out = resample(w, 60)
    np.testing.assert_allclose(out[0], w[0])
    np.testing.assert_allclose(out[-1], w[-1])


@pytest.mark.parametrize("bad", [np.zeros((0, RAW_DIM)), np.zeros((MAX_INPUT_FRAMES + 1, RAW_DIM)), np.zeros((5, 125))])
def test_resample_rejects_bad_windows(bad):
    with pytest.raises(SpecMismatchError):
        resample(bad, 30)


def test_unknown_normalisation_is_named():
    spec = FeatureSpec(normalization="other", normalization_version=9)
    with pytest.raises(SpecMismatchError, match="other v9"):
        features(WINDOWS[0], spec)


@settings(max_examples=30, deadline=None)
@given(idx=st.integers(0, len(WINDOWS) - 1), drop=st.integers(0, 20))
def test_feature_mirror_matrix_equals_mirroring_the_landmarks(idx, drop):
    from shared.handedness import mirror
    from shared.normalize import feature_mirror

    w = WINDOWS[idx].copy()
    w[:drop, 63:] = 0
    np.testing.assert_allclose(features(mirror(w), SPEC), features(w, SPEC) @ feature_mirror(SPEC), atol=1e-3)
