"""One hot-swappable model for the server and the kiosk: swapped only once loaded; hooks told every attempt."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from shared.model.hot_swap import HotSwap


def _model(version: str):
    return SimpleNamespace(manifest=SimpleNamespace(name="m", version=version))


def test_a_failed_load_keeps_the_old_model_and_both_hooks_are_told():
    def loader(path: Path):
        if path.name == "broken":
            raise ValueError("checksum mismatch")
        return _model(path.name)

    loaded, failed = [], []
    swap = HotSwap(
        loader,
        on_loaded=lambda new, previous: loaded.append((new.manifest.version, previous and previous.manifest.version)),
        on_failed=lambda path, err: failed.append((path.name, str(err))),
    )
    assert swap.current is None
    swap.load("models/1")
    with pytest.raises(ValueError):
        swap.load("models/broken")
    assert swap.current.manifest.version == "1"
    swap.load(Path("models/2"))
    assert swap.current.manifest.version == "2"
    assert loaded == [("1", None), ("2", "1")]
    assert failed == [("broken", "checksum mismatch")]
