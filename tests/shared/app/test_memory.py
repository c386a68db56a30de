"""Resident memory read from /proc: the current process, a child, a process that does not exist."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from shared.app.memory import descendants, proportional_kb, resident_kb, resident_parts_kb


def test_resident_memory_of_this_process_grows_with_what_it_touches():
    before, peak_before = resident_kb()
    assert 0 < before <= peak_before
    block = np.ones(64 * 1024 * 1024, np.uint8)  # 64 MiB, every page written
    after, peak_after = resident_kb()
    assert after - before >= 56 * 1024, (before, after)
    assert peak_after >= after
    parts = resident_parts_kb()
    assert parts["anon"] >= 64 * 1024 and parts["file"] > 0  # the block is anonymous memory; code is file-backed
    assert abs(sum(parts.values()) - resident_kb()[0]) < 1024
    del block
    assert 0 < proportional_kb() <= resident_kb()[0]


def test_a_child_is_found_below_this_process_and_measured():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in descendants(os.getpid())
        assert resident_kb(child.pid)[0] > 0
    finally:
        child.kill()
        child.wait()


def test_a_process_that_does_not_exist_raises_oserror():
    with pytest.raises(OSError):
        resident_kb(2**22 + 1)  # above the kernel's largest pid
