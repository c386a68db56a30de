"""The edge side must run where TensorFlow is absent (the Pi never installs it)."""

import subprocess
import sys

BLOCK_TF = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'):
            raise ImportError('TensorFlow is blocked in this test')
sys.meta_path.insert(0, Block())
"""


def test_edge_cli_and_modules_import_without_tensorflow():
    code = (
        BLOCK_TF
        + """
import edge_client.cli, edge_client.pipeline, edge_client.transport, edge_client.window, shared.model.tflite
import edge_client.assembly, edge_client.answering, edge_client.smoothing, edge_client.settings, edge_client.systemd
import edge_client.display.web, edge_client.display.hub, edge_client.display.window, edge_client.record
import edge_client.teach, edge_client.display.teach, shared.enrolment.bundle
import bench.edge
import shared.contract.normalize, shared.contract.protocol, shared.model.bundle, shared.model.predictor
from signstream.cli import main
try:
    main(['edge', '--help'])
except SystemExit as e:
    assert e.code == 0
assert not any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules)
print('ok')
"""
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")
