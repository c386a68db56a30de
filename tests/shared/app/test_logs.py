"""The repeat filter (shared/app/logs.py): what it remembers stays bounded however many distinct lines pass."""

import logging

from shared.app.logs import RepeatFilter


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("x", logging.WARNING, __file__, 1, message, None, None)


def test_lines_with_ever_new_values_do_not_grow_its_memory():
    now = [0.0]
    flt = RepeatFilter(60, clock=lambda: now[0], max_lines=100)
    for i in range(10_000):  # a counter or a timestamp in a line: each one is new
        now[0] = i * 0.001
        assert flt.filter(record(f"checked {i}"))
    assert len(flt._seen) <= 100


def test_a_held_back_line_is_still_counted_when_others_crowd_in():
    now = [0.0]
    flt = RepeatFilter(60, clock=lambda: now[0], max_lines=10)
    assert flt.filter(record("camera lost"))
    assert not flt.filter(record("camera lost"))  # held back, counted
    for i in range(5):
        flt.filter(record(f"other {i}"))
    now[0] = 61.0
    passed = record("camera lost")
    assert flt.filter(passed) and "1 more like this" in passed.getMessage()
