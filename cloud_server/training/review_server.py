"""``signstream review``: serve an audit report on 127.0.0.1 and save its decisions to a review file.

The page is the one ``audit --html`` wrote; served, its *Save review* button POSTs the decisions
(JSON lines) to ``/review`` and they are appended to the review file, which is checked first and
written through a temporary file, so an earlier decision is never lost and a bad one never lands.
"""

from __future__ import annotations

import json
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from shared.app.atomic import atomic_file
from shared.app.errors import DatasetError
from shared.datasets.review import load_review

MAX_BODY = 2_000_000  # a review of every block of the largest dataset here is about 100 kB


def make_server(report: Path, out: Path, port: int = 0) -> ThreadingHTTPServer:
    """A server for ``report`` on 127.0.0.1:``port`` (0: any free port) that appends to ``out``."""
    page = report.read_bytes()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, obj: dict) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json")

        def do_GET(self) -> None:
            if self.path in ("/", "/index.html"):
                self._send(200, page, "text/html; charset=utf-8")
            else:
                self._json(404, {"error": f"no such page: {self.path}"})

        def do_POST(self) -> None:
            if self.path != "/review":
                return self._json(404, {"error": f"no such endpoint: {self.path}"})
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                return self._json(411, {"error": "Content-Length required"})
            if not 0 < length <= MAX_BODY:
                return self._json(413 if length > MAX_BODY else 400, {"error": f"body must be 1..{MAX_BODY} bytes"})
            body = self.rfile.read(length)
            with lock:
                try:
                    saved = _append(out, body)
                except DatasetError as err:
                    return self._json(400, {"error": str(err)})
            self._json(200, {"saved": str(out), "decisions": saved})

        def log_message(self, *args) -> None:  # the CLI prints what matters; no access log on the terminal
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def _append(out: Path, body: bytes) -> int:
    """Check ``body`` as review lines, then write the old file plus them; returns the decisions in the file."""
    old = out.read_bytes() if out.exists() else b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    with tempfile.TemporaryDirectory() as tmp:
        check = Path(tmp) / "review.jsonl"
        check.write_bytes(body)
        try:
            load_review(check)  # a bad line is refused before the file is touched
        except DatasetError as err:
            raise DatasetError(str(err).replace(str(check), "review")) from err
    merged = old + body + (b"" if body.endswith(b"\n") else b"\n")
    with atomic_file(out) as fh:
        fh.write(merged)
    return len(load_review(out).decisions)
