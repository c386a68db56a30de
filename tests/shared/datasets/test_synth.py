import numpy as np
import pytest

from shared.datasets.dataset import load_dataset, save_dataset
from shared.datasets.synth import MAX_CLASSES, class_names, generate


def test_shape_sessions_and_determinism(tmp_path):
    a = generate(classes=5, per_class=6, signers=3, seed=4)
    b = generate(classes=5, per_class=6, signers=3, seed=4)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.X.shape == (30, 30, 126) and a.X.dtype == np.float32
    assert sorted(set(a.session)) == ["signer0", "signer1", "signer2"]
    assert np.abs(a.X).max() <= 1.5
    save_dataset(tmp_path / "s.npz", a)
    assert load_dataset(tmp_path / "s.npz").classes == class_names(5)


def test_classes_differ_more_than_signers():
    """A class's sequences look more like each other than like another class's (learnable data)."""
    ds = generate(classes=4, per_class=20, signers=4, seed=0)
    flat = ds.X.reshape(len(ds), -1)
    centroids = np.stack([flat[ds.y == c].mean(0) for c in range(4)])
    nearest = np.argmin(((flat[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert (nearest == ds.y).mean() > 0.8


def test_bad_class_count():
    with pytest.raises(ValueError):
        class_names(MAX_CLASSES + 1)
