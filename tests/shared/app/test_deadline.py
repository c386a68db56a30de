"""call_within: a result in time, an exception in the caller's thread, a late call left running."""

from __future__ import annotations

import threading
import time

import pytest

from shared.app.deadline import call_within


def test_a_call_that_finishes_in_time_gives_its_result():
    assert call_within(30, lambda: 42, "t") == (True, 42)


def test_its_exception_is_raised_in_the_callers_thread():
    def fail():
        raise ValueError("no such bucket")

    with pytest.raises(ValueError, match="no such bucket"):
        call_within(30, fail, "t")


def test_a_late_call_is_not_waited_for_and_goes_on():
    release, finished = threading.Event(), threading.Event()

    def slow():
        release.wait(30)
        finished.set()
        return "late"

    started = time.monotonic()
    assert call_within(0.2, slow, "t") == (False, None)
    assert time.monotonic() - started < 10
    release.set()
    assert finished.wait(30)
