"""Who may use the kiosk's local API: its own host names, listed origins, a control token, small bodies.

Four doors, each closed in one place:

- ``Host``: only the kiosk's own names (loopback, ``web_host``, ``allowed_hosts``) are answered, so a
  web page whose domain is re-pointed at the kiosk (DNS rebinding) gets 403 instead of the API.
- Body size: a ``Content-Length`` over ``max_body`` is answered 413 before a byte of it is read;
  a chunked body is cut at the same size (413 once it passes it).
- Origins (CORS): pages from the kiosk's own origin and from ``cors_origins`` may read and steer the
  API; no wildcard, so no other page can read the camera, the labels or the status.
- Control actions (every request that is not GET, HEAD or OPTIONS): with ``admin_token`` set they
  need ``Authorization: Bearer <token>``; without one only loopback clients may use them.

``guard`` applies the first two to the whole WSGI app (Socket.IO included); ``protect`` the other
two to every Flask route (Socket.IO checks origins with ``AccessPolicy.origin_allowed``).
"""

from __future__ import annotations

import hmac
import io
import ipaddress
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlparse

from werkzeug.exceptions import RequestEntityTooLarge

log = logging.getLogger(__name__)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # listen everywhere: no name of their own
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_MAX_BODY = 64 * 1024


def host_name(host: str) -> str:
    """A Host header or address as a comparable name: lower case, no port, IPv6 in brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    if host.count(":") > 1:  # a bare IPv6 address
        return f"[{host}]"
    return host.split(":", 1)[0].rstrip(".")  # "kiosk.local." is "kiosk.local"


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (a client's address or a listening host)."""
    if not address:
        return False
    if address == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


@dataclass(frozen=True)
class AccessPolicy:
    """The kiosk API's doors (see the module).

    Args:
        hosts: names (as ``host_name`` gives them) the API answers to.
        origins: origins (as browsers send them) allowed across, besides the kiosk's own.
        token: the admin token control actions need, or None (then loopback clients only).
        max_body: the largest request body read, bytes.
    """

    hosts: frozenset[str] = frozenset(LOOPBACK_NAMES)
    origins: frozenset[str] = frozenset()
    token: str | None = None
    max_body: int = DEFAULT_MAX_BODY

    @classmethod
    def for_kiosk(
        cls, web_host: str = "127.0.0.1", allowed_hosts: Iterable[str] = (), cors_origins: Iterable[str] = (),
        token: str | None = None, max_body: int = DEFAULT_MAX_BODY,
    ) -> AccessPolicy:  # fmt: skip
        """The policy of a kiosk listening on ``web_host`` (a wildcard adds no name: list them in allowed_hosts)."""
        names = {*LOOPBACK_NAMES, *(host_name(h) for h in allowed_hosts)}
        if web_host not in WILDCARD_HOSTS:
            names.add(host_name(web_host))
        return cls(frozenset(names), frozenset(cors_origins), token or None, max_body)

    def host_allowed(self, host: str | None) -> bool:
        return bool(host) and host_name(host) in self.hosts

    def origin_allowed(self, origin: str | None, host: str) -> bool:
        """No Origin (not a browser's cross-site request), the kiosk's own origin, or a listed one."""
        return origin is None or origin in self.origins or urlparse(origin).netloc == host

    def control_refusal(self, remote_addr: str | None, authorization: str | None) -> tuple[int, str] | None:
        """Why a control action is refused (status, message), or None when it may go ahead."""
        if self.token is not None:
            given = (authorization or "").removeprefix("Bearer ").strip()
            if given and hmac.compare_digest(given.encode(), self.token.encode()):
                return None
            return 401, "control actions need the kiosk's admin token: send Authorization: Bearer <token>"
        if is_loopback(remote_addr):
            return None
        return 403, ("control actions come only from this machine unless an admin token is set "
                     "(SIGNSTREAM_EDGE_ADMIN_TOKEN, sent as Authorization: Bearer <token>)")  # fmt: skip


def exposure_warning(web_host: str, token: str | None) -> str | None:
    """The line to log at start when the API listens beyond this machine without an admin token."""
    if token or is_loopback(web_host):
        return None
    return (f"the kiosk's local API listens on {web_host} without an admin token: other machines can read "
            "the status and labels (not steer it; control actions are refused to them); set "
            "SIGNSTREAM_EDGE_ADMIN_TOKEN, or keep web_host on 127.0.0.1")  # fmt: skip


class CappedInput(io.RawIOBase):
    """A request body stream that raises ``RequestEntityTooLarge`` (413) once more than ``cap`` bytes came.

    Werkzeug's own ``LimitedStream`` stops silently at its limit: a cut body would read as bad JSON.
    """

    def __init__(self, stream, cap: int) -> None:
        self._stream, self._cap, self._seen = stream, cap, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = self._stream.readinto(buf) or 0
        self._seen += n
        if self._seen > self._cap:
            raise RequestEntityTooLarge(f"the body is over {self._cap} bytes, the most this kiosk reads")
        return n


def _refuse(start_response: Callable, status: str, message: str, reason: str) -> list[bytes]:
    body = json.dumps({"error": message, "reason": reason}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-store"), ("Connection", "close")])  # fmt: skip
    return [body]


def guard(wsgi_app: Callable, policy: AccessPolicy) -> Callable:
    """``wsgi_app`` answering only the kiosk's own host names and bodies up to ``policy.max_body``."""

    def app(environ: dict, start_response: Callable):
        host = environ.get("HTTP_HOST")
        if not policy.host_allowed(host):
            log.debug("refused Host %r", host)
            return _refuse(start_response, "403 Forbidden", f"this kiosk does not answer to the host name {host!r}: "
                           "list it in SIGNSTREAM_EDGE_ALLOWED_HOSTS", "unknown_host")  # fmt: skip
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0:
            return _refuse(start_response, "400 Bad Request", "Content-Length is not a byte count", "bad_request")
        if length > policy.max_body:  # answered before the body is read; the connection then closes
            return _refuse(start_response, "413 Request Entity Too Large",
                           f"the body is {length} bytes; this kiosk reads at most {policy.max_body}",
                           "body_too_large")  # fmt: skip
        if environ.get("wsgi.input_terminated"):  # chunked: no length to check first; cut while reading
            environ["wsgi.input"] = CappedInput(environ["wsgi.input"], policy.max_body)
        return wsgi_app(environ, start_response)

    return app


def protect(app, policy: AccessPolicy) -> None:
    """The Flask side of the policy, for every route: preflights, control actions, CORS headers."""
    from flask import Response, request

    from edge_client.display.contract import json_error

    def refused_origin() -> Response:
        return json_error(403, f"cross-origin requests from {request.headers.get('Origin')} are refused: list "
                          "the origin in SIGNSTREAM_EDGE_CORS_ORIGINS to allow them", "forbidden")  # fmt: skip

    @app.before_request
    def _preflight():
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        if request.headers.get("Origin") not in policy.origins:  # no CORS headers: the browser refuses
            return refused_origin()
        resp = Response(status=204)
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        resp.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "Content-Type"
        )
        resp.headers["Access-Control-Max-Age"] = "600"
        if request.headers.get("Access-Control-Request-Private-Network") == "true":
            resp.headers["Access-Control-Allow-Private-Network"] = "true"  # Chromium's local-network check
        return resp

    @app.before_request
    def _control():
        """Every state-changing request: from an allowed origin, and with the token (or from loopback)."""
        if request.method in READ_METHODS:
            return None
        if not policy.origin_allowed(request.headers.get("Origin"), request.host):  # an unlisted page
            return refused_origin()
        refusal = policy.control_refusal(request.remote_addr, request.headers.get("Authorization"))
        if refusal is not None:
            return json_error(refusal[0], refusal[1], "unauthorized" if refusal[0] == 401 else "forbidden")
        return None

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["Vary"] = "Origin"
        origin = request.headers.get("Origin")
        if origin in policy.origins:  # the one place CORS is granted: listed origins, never a wildcard
            resp.headers["Access-Control-Allow-Origin"] = origin
        return resp
