"""``signstream review``: serve an audit report on 127.0.0.1 and save its decisions to a review file.

The page is the one ``audit --html`` wrote; served, its *Save review* button POSTs the decisions
(JSON lines) to ``/review`` and they are appended to the review file, which is checked first and
written through a temporary file, so an earlier decision is never lost and a bad one never lands.
A decision must be about one of the report's flagged blocks (a relabel to one of its classes) and
carry its time as ISO 8601 ``when``, as the page writes it.
"""

from __future__ import annotations

import errno
import json
import tempfile
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cloud_server.training.audit_report import report_data
from shared.app.atomic import atomic_file
from shared.app.errors import DatasetError, SignstreamError
from shared.datasets.review import Review, load_review

MAX_BODY = 2_000_000  # a review of every block of the largest dataset here is about 100 kB


class ReviewServerError(SignstreamError):
    """``signstream review`` cannot start as given (not an audit report, the port in use)."""


def make_server(report: Path, out: Path, port: int = 0) -> ThreadingHTTPServer:
    """A server for ``report`` on 127.0.0.1:``port`` (0: any free port) that appends to ``out``."""
    page = report.read_bytes()
    data = report_data(page.decode("utf-8", errors="replace"))
    if data is None:
        raise ReviewServerError(f"{report}: not an audit report (no audit data in it); write one with "
                                "signstream audit --html")  # fmt: skip
    blocks = {(f.get("session"), f.get("class")) for f in data["flagged"] if isinstance(f, dict)}
    classes = set(data["classes"])
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
                    saved = _append(out, body, blocks, classes)
                except DatasetError as err:
                    return self._json(400, {"error": str(err)})
            self._json(200, {"saved": str(out), "decisions": saved})

        def log_message(self, *args) -> None:  # the CLI prints what matters; no access log on the terminal
            pass

    try:
        return ThreadingHTTPServer(("127.0.0.1", port), Handler)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise ReviewServerError(f"port {port} on 127.0.0.1 is in use; give another --port "
                                    "(or leave it out for a free one)") from err  # fmt: skip
        raise


def _check_fits(review: Review, blocks: set[tuple[str, str]], classes: set[str]) -> None:
    """DatasetError unless every decision is about a flagged block of the report, dated in ISO 8601."""
    for d in review.decisions:
        what = f"decision about session {d.session!r}, class {d.label!r}"
        if (d.session, d.label) not in blocks:
            raise DatasetError(f"{what}: not a flagged block of this report")
        if d.new_class is not None and d.new_class not in classes:
            raise DatasetError(f"{what}: relabel to {d.new_class!r}, not a class of this report "
                               f"({', '.join(sorted(classes))})")  # fmt: skip
        try:
            datetime.fromisoformat(d.when)
        except ValueError as err:
            raise DatasetError(f"{what}: 'when' must be an ISO 8601 time, got {d.when!r}") from err


def _append(out: Path, body: bytes, blocks: set[tuple[str, str]], classes: set[str]) -> int:
    """Check ``body`` as review lines about the report, then write the old file plus them; returns the decisions."""
    old = out.read_bytes() if out.exists() else b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    with tempfile.TemporaryDirectory() as tmp:
        check = Path(tmp) / "review.jsonl"
        check.write_bytes(body)
        try:
            _check_fits(load_review(check), blocks, classes)  # a bad line is refused before the file is touched
        except DatasetError as err:
            raise DatasetError(str(err).replace(str(check), "review")) from err
    merged = old + body + (b"" if body.endswith(b"\n") else b"\n")
    with atomic_file(out) as fh:
        fh.write(merged)
    return len(load_review(out).decisions)
