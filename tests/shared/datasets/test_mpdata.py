import numpy as np
import pytest

from shared.app.errors import DatasetError
from shared.datasets.mpdata import import_mpdata


def _tree(root, values, classes=("hello", "thanks"), seqs=3, frames=(4, 4, 3)):
    rng = np.random.default_rng(0)
    truth = {}
    for c in classes:
        for s in range(seqs):
            d = root / c / str(s)
            d.mkdir(parents=True)
            for f in range(frames[s]):
                v = rng.uniform(0, 1, values).astype(np.float32)
                np.save(d / f"{f}.npy", v)
                truth[(c, s, f)] = v
    return truth


@pytest.mark.parametrize("values, left", [(1662, 1536), (258, 132), (126, 0)])
def test_import_takes_both_hands_in_slot_order(tmp_path, values, left):
    root = tmp_path / "MP_Data"
    truth = _tree(root, values)
    ds = import_mpdata(root)
    assert ds.classes == ["hello", "thanks"]
    assert ds.X.shape == (6, 4, 126)
    assert list(ds.length) == [4, 4, 3, 4, 4, 3]
    i = list(ds.seq_id).index("MP_Data/thanks/1")
    np.testing.assert_array_equal(ds.X[i, 2], truth[("thanks", 1, 2)][left : left + 126])
    assert np.all(ds.X[list(ds.seq_id).index("MP_Data/hello/2"), 3] == 0)  # padding


def test_frames_sorted_numerically(tmp_path):
    d = tmp_path / "root" / "a" / "0"
    d.mkdir(parents=True)
    for f in range(12):
        np.save(d / f"{f}.npy", np.full(126, f / 100, np.float32))
    ds = import_mpdata(tmp_path / "root")
    np.testing.assert_allclose(ds.X[0, :, 0], np.arange(12) / 100)


def test_bad_trees_are_named(tmp_path):
    with pytest.raises(DatasetError, match="not a folder"):
        import_mpdata(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no class folders"):
        import_mpdata(tmp_path / "empty")
    d = tmp_path / "odd" / "a" / "0"
    d.mkdir(parents=True)
    np.save(d / "0.npy", np.zeros(100))
    with pytest.raises(DatasetError, match="100 values per frame"):
        import_mpdata(tmp_path / "odd")
