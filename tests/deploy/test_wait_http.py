"""deploy/bin/wait_http.py: the kiosk browser's wait for the edge client's page."""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import ROOT
from tests.deploy.test_configs import free_port

SCRIPT = ROOT / "deploy" / "bin" / "wait_http.py"


class Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=60)


def test_returns_once_the_page_answers() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        assert run(f"http://127.0.0.1:{port}/", "10").returncode == 0
        assert run(f"http://127.0.0.1:{port}/missing", "10").returncode == 0  # a 404 still means it is up
    finally:
        server.shutdown()
        server.server_close()


def test_gives_up_with_one_line() -> None:
    proc = run(f"http://127.0.0.1:{free_port()}/", "0")
    assert (proc.returncode, proc.stderr.count("\n")) == (1, 1)
    assert "did not answer within 0 s" in proc.stderr


def test_bad_arguments() -> None:
    for args in ([], ["ftp://x/"], ["http://127.0.0.1/", "soon"]):
        proc = run(*args)
        assert (proc.returncode, proc.stderr.count("\n")) == (2, 1), args
