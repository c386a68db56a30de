"""Who is calling: the API key a request presents, checked against the key store, and the per-key rate limit.

``admit`` runs before every route (the app's guard) and either returns the caller or raises the typed
refusal (401 with the header to use, 403 for a revoked key, 429 with Retry-After). Probes, the API
description, preflights and (when public) ``/metrics`` need no key.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import request

from cloud_server.errors import ApiError
from cloud_server.keys import KeyStore
from cloud_server.limits import RateLimiter, retry_after
from cloud_server.metrics import Metrics
from cloud_server.settings import ServerSettings
from shared.contract.protocol import API_KEY_HEADER

PUBLIC_PATHS = frozenset({"/health", "/ready", "/openapi.json"})  # probes and the API description
BEARER_FORM = "Authorization: Bearer <key>"


class KeyRefused(ApiError):
    """A known key refused (revoked, rate-limited); its name is still logged and counted."""

    def __init__(self, key_name: str, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.key_name = key_name


@dataclass(frozen=True)
class Caller:
    """The caller of one request: ``accepted`` when it presented a valid key (or the server has none)."""

    key_name: str | None = None
    admin: bool = False
    accepted: bool = False


def presented_key() -> str | None:
    """The API key of this request: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get(API_KEY_HEADER) or None


def admit(settings: ServerSettings, keys: KeyStore, limiter: RateLimiter, metrics: Metrics) -> Caller:
    """The caller of the current request, or the refusal it gets."""
    if settings.no_auth:
        return Caller(accepted=True)
    if request.path in PUBLIC_PATHS or request.method == "OPTIONS":  # a preflight or Allow query carries no key
        return Caller()
    if request.path == "/metrics" and settings.metrics_public:
        return Caller()
    status, entry = keys.check(presented_key())
    if status in ("missing", "invalid"):  # say which header to add: a client without one is the usual case
        what = "missing API key" if status == "missing" else "unknown API key"
        raise ApiError(401, "unauthorized", f"{what}: send it in the {API_KEY_HEADER} header (or {BEARER_FORM})",
                       {"WWW-Authenticate": "Bearer"})  # fmt: skip
    if status == "revoked":
        raise KeyRefused(entry.name, 403, "key_revoked", f"the API key {entry.name!r} was revoked")
    wait = limiter.check(entry.name)
    if wait is not None:
        metrics.rate_limited.labels(entry.name).inc()
        raise KeyRefused(entry.name, 429, "rate_limited", f"too many requests for key {entry.name!r}",
                         {"Retry-After": retry_after(wait)})  # fmt: skip
    return Caller(key_name=entry.name, admin=entry.admin, accepted=True)
