import numpy as np
import pytest

from shared.app.errors import DatasetError
from shared.datasets.dataset import load_dataset, load_many, merge, save_dataset, sequence_groups
from shared.datasets.synth import generate


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def _good(n=6, t=5):
    return {
        "X": np.full((n, t, 126), 0.5, np.float32),
        "y": np.arange(n) % 2,
        "classes": np.array(["a", "b"]),
    }


def test_roundtrip_keeps_every_array(tmp_path):
    ds = generate(classes=3, per_class=4, signers=2, seed=0)
    save_dataset(tmp_path / "d.npz", ds)
    back = load_dataset(tmp_path / "d.npz")
    np.testing.assert_array_equal(back.X, ds.X)
    np.testing.assert_array_equal(back.y, ds.y)
    assert back.classes == ds.classes
    assert list(back.session) == list(ds.session)
    assert list(back.length) == list(ds.length)


def test_defaults_for_optional_arrays(tmp_path):
    ds = load_dataset(_write(tmp_path / "plain.npz", **_good()))
    assert set(ds.session) == {"plain"}
    assert ds.seq_id[0] == "plain/a/0"
    assert np.all(ds.length == 5)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"X": np.zeros((6, 5, 125), np.float32)}, r"'X' must be \(N, T, 126\)"),
        ({"X": np.zeros((6, 5, 126), np.int32)}, "floating point"),
        ({"X": np.full((6, 5, 126), np.nan, np.float32)}, "NaN"),
        ({"X": np.full((6, 5, 126), 1e6, np.float32)}, "beyond"),
        ({"y": np.arange(6) + 5}, r"'y' values must be in 0..1"),
        ({"y": np.zeros(4, int)}, r"'y' must be \(6,\) integers"),
        ({"classes": np.array(["a", "a"])}, "unique"),
        ({"session": np.array(["s"] * 3)}, "'session' must be"),
        ({"length": np.full(6, 9)}, "'length' must be"),
    ],
)
def test_loader_names_what_is_wrong(tmp_path, change, message):
    arrays = {**_good(), **change}
    with pytest.raises(DatasetError, match=message):
        load_dataset(_write(tmp_path / "bad.npz", **arrays))


def test_loader_missing_and_unreadable(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="not a readable npz"):
        load_dataset(tmp_path / "junk.npz")
    arrays = _good()
    del arrays["y"]
    with pytest.raises(DatasetError, match="missing array 'y'"):
        load_dataset(_write(tmp_path / "noy.npz", **arrays))


def test_loader_refuses_pickles(tmp_path):
    arrays = _good()
    arrays["classes"] = np.array(["a", "b"], dtype=object)
    np.savez(tmp_path / "pickled.npz", **arrays)
    with pytest.raises(DatasetError):
        load_dataset(tmp_path / "pickled.npz")


def test_merge_keeps_sessions_apart_and_matches_classes_by_name(tmp_path):
    a = generate(classes=3, per_class=10, signers=2, seed=0)
    b = generate(classes=4, per_class=10, signers=1, seed=1)
    b.classes = ["circle", "wave", "push", "extra"]  # same names, other order, one new
    merged = merge([("a", a), ("b", b)])
    assert merged.classes[:3] == a.classes and "extra" in merged.classes
    assert len(merged) == len(a) + len(b)
    # a class keeps its name through the merge
    for ds, offset in ((a, 0), (b, len(a))):
        names = np.asarray(merged.classes)[merged.y[offset : offset + len(ds)]]
        np.testing.assert_array_equal(names, np.asarray(ds.classes)[ds.y])
    assert {s.split(":")[0] for s in merged.session} == {"a", "b"}
    # b has one session: it is split into sequence groups
    assert len({s for s in merged.session if s.startswith("b:")}) == 5


def test_a_file_without_a_frame_rate_merges_with_one_that_has_it_and_two_rates_are_refused(caplog):
    """Kiosk examples record 15 frames/s; shared files often record none (training assumes one rate)."""
    kiosk, shared = generate(classes=2, per_class=4, signers=1, seed=0), generate(classes=2, per_class=4, seed=1)
    kiosk.fps = 15.0
    merged = merge([("shared", shared), ("taught", kiosk)])
    assert merged.fps == 15.0 and len(merged) == len(kiosk) + len(shared)
    assert "shared record no frame rate: taken as 15 frames/s, as taught" in caplog.text
    assert merge([("a", shared), ("b", shared)]).fps is None
    other = generate(classes=2, per_class=4, signers=1, seed=2)
    other.fps = 30.0
    with pytest.raises(DatasetError, match=r"different frame rates \(taught 15, other 30 frames/s\)"):
        merge([("taught", kiosk), ("shared", shared), ("other", other)])


def test_sequence_groups_are_consecutive_blocks():
    ds = generate(classes=2, per_class=30, signers=1, seed=0)
    groups = sequence_groups(ds, 5)
    for c in (0, 1):
        g = groups[ds.y == c]
        assert sorted(np.bincount(g)) == [6] * 5
        assert np.all(np.diff(g) >= 0)  # in sequence-number order


def test_load_many_on_real_files(sign_data):
    files = [sign_data / "landmarks" / f for f in ("asl_ayaanniaz.npz", "asl_laya303.npz")]  # the two small ones
    ds = load_many(files)
    assert len(ds) == 570 and "iloveyou" in ds.classes


def test_an_unknown_class_is_named_with_its_close_match_and_the_classes():
    """Before: ``--classes no,yes,idel`` said only "classes not in the dataset: idel"."""
    ds = generate(classes=3, per_class=2, signers=1)
    ds.classes = ["no", "yes", "idle"]
    with pytest.raises(DatasetError) as err:
        ds.select_classes(["no", "yes", "idel", "hullabaloo"])
    assert str(err.value) == (
        "classes not in the dataset: idel (did you mean 'idle'?), hullabaloo; its classes: no, yes, idle"
    )
