import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.app.errors import SpecMismatchError
from shared.contract.normalize import (
    feature_dim,
    features,
    features_batch,
    hands_present,
    nanmedian_last_axis,
    resample,
)
from shared.contract.spec import LANDMARKS, MAX_INPUT_FRAMES, RAW_DIM, FeatureSpec
from shared.datasets.synth import generate

SPEC = FeatureSpec()
SPECS = [FeatureSpec(normalization_version=v) for v in (1, 2, 3)]
WINDOWS = generate(classes=6, per_class=2, signers=2, seed=3).X


def _blocks(spec):
    """Per-hand slices: hand shape, wrist relative to the window's centre, wrist relative to the frame."""
    n = LANDMARKS * (3 if spec.normalization_version == 1 else 2)
    return slice(0, n), slice(n, n + 2), slice(n + 2, n + 4)


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
    spec=st.sampled_from(SPECS),
    idx=st.integers(0, len(WINDOWS) - 1),
    scale=st.floats(0.5, 1.6),
    dx=st.floats(-0.2, 0.2),
    dy=st.floats(-0.2, 0.2),
)
def test_hand_shape_and_relative_position_ignore_where_and_how_far(spec, idx, scale, dx, dy):
    shape, rel, _ = _blocks(spec)
    base = features(WINDOWS[idx], spec).reshape(spec.frames, 2, -1)
    moved = features(_transform(WINDOWS[idx], scale, dx, dy), spec).reshape(spec.frames, 2, -1)
    np.testing.assert_allclose(moved[..., shape], base[..., shape], atol=2e-3)
    np.testing.assert_allclose(moved[..., rel], base[..., rel], atol=2e-3)


@settings(max_examples=20, deadline=None)
@given(spec=st.sampled_from(SPECS), idx=st.integers(0, len(WINDOWS) - 1), dx=st.floats(-0.2, 0.2))
def test_position_in_frame_is_kept(spec, idx, dx):
    _, _, frame = _blocks(spec)
    base = features(WINDOWS[idx], spec).reshape(spec.frames, 2, -1)
    moved = features(_transform(WINDOWS[idx], 1.0, dx, 0.0), spec).reshape(spec.frames, 2, -1)
    present = base[..., frame.stop] == 1
    np.testing.assert_allclose(moved[..., frame][present][:, 0] - base[..., frame][present][:, 0], dx, atol=1e-4)


def test_v2_ignores_depth_v1_keeps_it():
    w = WINDOWS[0].copy()
    deeper = w.copy().reshape(30, 2, 21, 3)
    deeper[..., 2] += np.where(np.any(deeper != 0, axis=-1), 0.05 * np.arange(21)[None, None, :], 0)
    deeper = deeper.reshape(w.shape)
    v1, v2, _ = SPECS
    assert not np.allclose(features(w, v1), features(deeper, v1))
    np.testing.assert_allclose(features(w, v2), features(deeper, v2), atol=1e-6)


def test_missing_hand_is_all_zero_and_flagged():
    w = next(x for x in WINDOWS if np.all(np.any(x[:, 63:] != 0, axis=1))).copy()  # a hand in slot 1 throughout
    w[:, :63] = 0
    f = features(w, SPEC).reshape(SPEC.frames, 2, -1)
    flag = LANDMARKS * 2 + 4  # after shape (x, y), position relative to the window, position in frame
    assert np.all(f[:, 0] == 0)
    assert np.all(f[:, 1, flag] == 1)


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
@given(spec=st.sampled_from(SPECS), idx=st.integers(0, len(WINDOWS) - 1), drop=st.integers(0, 20))
def test_feature_mirror_matrix_equals_mirroring_the_landmarks(spec, idx, drop):
    from shared.contract.handedness import mirror
    from shared.contract.normalize import feature_mirror

    w = WINDOWS[idx].copy()
    w[:drop, 63:] = 0
    np.testing.assert_allclose(features(mirror(w), spec), features(w, spec) @ feature_mirror(spec), atol=1e-3)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_batch_features_equal_window_by_window(version):
    """The batch path (normalised at once) gives the numbers of features() on each window."""
    rng = np.random.default_rng(version)
    windows = []
    for i in range(40):
        w = rng.uniform(0, 1, (int(rng.integers(1, 80)) if i % 3 else 30, 126)).astype(np.float32)
        if i % 4 == 0:
            w[:, :63] = 0  # no hand in slot 0
        if i % 5 == 0:
            w[: len(w) // 2, 63:] = 0  # slot 1 arrives halfway
        if i % 13 == 0:
            w[:] = 0  # no hand at all
        windows.append(w)
    spec = FeatureSpec(normalization_version=version)
    one_by_one = np.stack([features(w, spec) for w in windows])
    np.testing.assert_allclose(features_batch(windows, spec), one_by_one, atol=1e-6)
    assert features_batch([], spec).shape == (0, spec.frames, feature_dim(spec))


@settings(max_examples=300, deadline=None)
@given(
    rows=st.integers(1, 4),
    n=st.integers(1, 70),
    nan_share=st.floats(0, 1),
    seed=st.integers(0, 2**31 - 1),
)
def test_nanmedian_last_axis_equals_numpy(rows, n, nan_share, seed):
    """Bit for bit the value np.nanmedian gives, for every row with at least one number."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.01, 1.0, (rows, n)).astype(np.float32)
    x[rng.random(x.shape) < nan_share] = np.nan
    x[:, rng.integers(n)] = rng.uniform(0.01, 1.0)  # each row keeps one number
    got, want = nanmedian_last_axis(x), np.nanmedian(x, axis=-1)
    assert got.dtype == want.dtype and np.array_equal(got, want)
