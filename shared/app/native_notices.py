"""Keeping the notices native libraries print while they start off stderr, and nothing else.

MediaPipe's graph and LiteRT write straight to file descriptor 2 from C++ when they load a model or
meet their first hand: ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.``, ``W0000 ...
inference_feedback_manager.cc:121] Feedback manager requires ...``, ``WARNING: Logging before
InitGoogle() ...``. No environment variable or API of theirs turns these off (MediaPipe's logging
reads no GLOG_* or TF_CPP_* variable), and they tell an operator nothing to act on. So fd 2 is sent to a
temporary file around those calls only; afterwards the known notices are dropped and every other
line (a native error, a Python thread's log line written meanwhile) is written to stderr as it was.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Lines that say nothing an operator can act on; matched from the line's start.
NOTICES = re.compile(
    r"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."
    r"|INFO: Initialized TensorFlow Lite runtime\."
    r"|WARNING: Read-only tensor #\d+ \(.*\) has an unaligned buffer"
    r"|WARNING: Logging before InitGoogle\(\) is written to STDERR"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    # glog/absl format: I (info) from anywhere, W (warning) only from the graph parts known to chatter
    r"|I\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] "
    r"|W\d{4} [\d:.]+ +\d+ (inference_feedback_manager|landmark_projection_calculator)\.cc:\d+\] "
)

_lock = threading.RLock()  # fd 2 is one per process: one redirection at a time (nesting is fine)


def drop_notices(text: str) -> str:
    """``text`` without its lines that are known native notices."""
    return "".join(line for line in text.splitlines(keepends=True) if not NOTICES.match(line))


@contextmanager
def native_notices_dropped() -> Iterator[None]:
    """Within the block, fd 2 goes to a temporary file; at its end every line but the notices is written to stderr."""
    with _lock, tempfile.TemporaryFile() as held:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            rest = drop_notices(held.read().decode("utf-8", "replace"))
            if rest:
                os.write(2, rest.encode())


def import_quietly(name: str):
    """``importlib.import_module(name)`` with the native notices of its first import dropped.

    TensorFlow (imported by MediaPipe too, when installed) logs ``I0000 ... port.cc:153] oneDNN custom
    operations are on`` on CPUs where oneDNN's optimisations are on by default (AVX-512, AMX), after
    absl's "All log messages before absl::InitializeLog()"; TF_CPP_MIN_LOG_LEVEL does not silence them.
    """
    if name in sys.modules:
        return sys.modules[name]
    with native_notices_dropped():
        return importlib.import_module(name)
