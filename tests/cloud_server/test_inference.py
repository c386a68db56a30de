"""TensorFlow's threads in a worker: set before the first model call, left alone (with a warning) after."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import logging, tensorflow as tf
from cloud_server.inference import configure_tensorflow
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
configure_tensorflow(1)
tf.constant(1.0) + 1.0  # TensorFlow now runs: its pools are fixed
configure_tensorflow(1)  # the same value again: nothing to do, no warning
configure_tensorflow(3)
t = tf.config.threading
print("threads", t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads())
"""


def test_configure_tensorflow_sets_threads_before_first_use_and_only_warns_after():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "threads 1 1" in out.stdout
    warnings = [line for line in out.stderr.splitlines() if line.startswith("WARNING TensorFlow threads left")]
    assert len(warnings) == 1
