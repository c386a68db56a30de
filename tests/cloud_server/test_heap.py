"""The heap policy: full collections skip what was alive at the last settle, and a swapped-out model is still freed."""

from __future__ import annotations

import gc
import weakref

import pytest

from cloud_server import heap


class _Model:
    """Stands for a loaded model: TensorFlow's objects hold reference cycles, so only the collector frees them."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def _unfrozen():
    yield
    gc.unfreeze()  # leave the test process's collector as it was


def test_settle_freezes_what_is_alive():
    gc.unfreeze()
    keep = [_Model() for _ in range(100)]
    heap.settle()
    assert gc.get_freeze_count() >= len(keep)


def test_a_model_frozen_by_one_settle_is_freed_by_the_next():
    old = _Model()
    ref = weakref.ref(old)
    heap.settle()
    del old
    gc.collect()
    assert ref() is not None  # frozen: a collection alone never frees it (the leak settle must avoid)
    heap.settle()
    assert ref() is None


def test_settle_later_runs_on_a_daemon_timer():
    old = _Model()
    ref = weakref.ref(old)
    heap.settle()
    del old
    timer = heap.settle_later(0.05)
    assert timer.daemon
    timer.join(5)
    assert ref() is None
