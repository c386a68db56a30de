"""Talking to the cloud server: one keep-alive session, the binary form by default, retries with
exponential backoff and jitter, and a circuit breaker that stops calling a server that is down."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import requests
from pydantic import ValidationError
from requests.adapters import HTTPAdapter

from shared.app.errors import SignstreamError
from shared.contract.protocol import (
    BINARY_CONTENT_TYPE,
    DEVICE_HEADER,
    MODEL_VERSION_HEADER,
    PredictResponse,
    encode_binary,
)

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})


class TransportError(SignstreamError):
    """The server could not be reached or gave no usable answer."""


class AuthError(TransportError):
    """The server refused this kiosk's API key (401 missing or unknown, 403 revoked): retrying cannot help."""


class CircuitOpenError(TransportError):
    """The circuit breaker is open: the server is not called for now."""


class Backoff:
    """Exponential backoff with 'equal jitter': attempt n waits between d/2 and d, d = min(cap, base * 2**n)."""

    def __init__(self, base: float = 0.1, cap: float = 2.0, rng: random.Random | None = None) -> None:
        self.base, self.cap = base, cap
        self._rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0 = the first retry)."""
        d = min(self.cap, self.base * (2**attempt))
        return d / 2 + self._rng.uniform(0, d / 2)


class CircuitBreaker:
    """Closed -> (``failures`` in a row) -> open -> (``reset_after`` s) -> half-open: one trial call.

    A success in half-open closes it; a failure opens it again for another ``reset_after``.
    Thread-safe; ``clock`` is injectable for tests.
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"

    def __init__(
        self, failures: int = 3, reset_after: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures, self.reset_after, self._clock = failures, reset_after, clock
        self._lock = threading.Lock()
        self._state = self.CLOSED
        self._streak = 0
        self._opened_at = 0.0
        self._trial_out = False
        self.opened = 0  # times it opened (a counter)

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == self.OPEN and self._clock() - self._opened_at >= self.reset_after:
                return self.HALF_OPEN
            return self._state

    def allow(self) -> bool:
        """May a request go out now? In half-open only one trial request is let through at a time."""
        with self._lock:
            if self._state == self.CLOSED:
                return True
            if self._state == self.OPEN and self._clock() - self._opened_at >= self.reset_after:
                self._state = self.HALF_OPEN
                self._trial_out = False
            if self._state == self.HALF_OPEN and not self._trial_out:
                self._trial_out = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            if self._state != self.CLOSED:
                log.info("circuit breaker closed: the server answers again")
            self._state, self._streak, self._trial_out = self.CLOSED, 0, False

    def failure(self) -> None:
        with self._lock:
            self._streak += 1
            if self._state == self.HALF_OPEN or (self._state == self.CLOSED and self._streak >= self.failures):
                if self._state == self.CLOSED:
                    log.warning("circuit breaker opened after %s failures", self._streak)
                self._state, self._opened_at, self._trial_out = self.OPEN, self._clock(), False
                self.opened += 1


class CloudClient:
    """POSTs windows to ``<base_url>/predict`` and returns the parsed answer.

    Args:
        base_url: the server's base URL (``/predict`` is appended).
        api_key: sent as ``Authorization: Bearer``.
        verify: True, False or the path of a CA bundle for TLS verification.
        local_version: the local model's version, sent as X-Model-Version (updated by ``set_local_version``).
        retries: retries after a connection error, timeout or 429/5xx answer.
        breaker: the circuit breaker (a default one if None).
        sleep: how to wait between retries; pass ``stop_event.wait`` so a stop cuts the wait short.
    """

    def __init__(
        self, base_url: str, api_key: str | None = None, timeout: float = 2.0, binary: bool = True,
        verify: bool | str = True, local_version: str | None = None, device_id: str | None = None,
        retries: int = 1, backoff: Backoff | None = None, breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], object] = time.sleep, pool_size: int = 4,
    ) -> None:  # fmt: skip
        self.url = base_url.rstrip("/") + "/predict"
        self.timeout = timeout
        self.binary = binary
        self.retries = retries
        self.backoff = backoff or Backoff()
        self.breaker = breaker or CircuitBreaker()
        self._sleep = sleep
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.verify = verify  # passed per request: requests lets REQUESTS_CA_BUNDLE override session.verify
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"
        if device_id:
            self.session.headers[DEVICE_HEADER] = device_id
        self.set_local_version(local_version)

    def set_local_version(self, version: str | None) -> None:
        """Report this local model version in X-Model-Version from now on (None: no header)."""
        if version:
            self.session.headers[MODEL_VERSION_HEADER] = version
        else:
            self.session.headers.pop(MODEL_VERSION_HEADER, None)

    def _post_once(self, window: np.ndarray) -> requests.Response:
        if self.binary:
            return self.session.post(
                self.url,
                data=encode_binary(window, "float16"),
                headers={"Content-Type": BINARY_CONTENT_TYPE},
                timeout=self.timeout,
                verify=self.verify,
            )
        return self.session.post(
            self.url, json={"sequence": np.asarray(window).tolist()}, timeout=self.timeout, verify=self.verify
        )

    def predict(self, window: np.ndarray) -> PredictResponse:
        """Classify one (T, 126) window; raise TransportError (CircuitOpenError when not even tried)."""
        if not self.breaker.allow():
            raise CircuitOpenError(f"{self.url}: circuit breaker open")
        attempt = 0
        while True:
            retry_after = None
            try:
                resp = self._post_once(window)
            except requests.RequestException as err:
                failure = TransportError(f"{self.url}: {err.__class__.__name__}: {err}")
            else:
                if resp.status_code == 200:
                    try:
                        answer = PredictResponse.model_validate_json(resp.content)
                    except ValidationError as err:
                        self.breaker.failure()
                        raise TransportError(f"{self.url}: unexpected answer: {err.errors()[0]['msg']}") from err
                    self.breaker.success()
                    return answer
                if resp.status_code in (401, 403):
                    self.breaker.success()  # the server is up; it refuses the key
                    refused = "refused" if resp.status_code == 403 else "did not accept"
                    raise AuthError(f"{self.url}: the server {refused} the API key (HTTP {resp.status_code}: "
                                    f"{_error_text(resp)}); check SIGNSTREAM_EDGE_API_KEY")  # fmt: skip
                failure = TransportError(f"{self.url}: HTTP {resp.status_code}: {resp.text[:200]}")
                if resp.status_code not in RETRY_STATUSES:
                    self.breaker.success()  # the server is up; it refused this request (bad window)
                    raise failure
                retry_after = _retry_after(resp)
            if attempt >= self.retries:
                self.breaker.failure()
                raise failure
            delay = self.backoff.delay(attempt)
            if retry_after is not None:
                delay = min(max(delay, retry_after), self.backoff.cap)
            log.debug("retry %s after %.2f s: %s", attempt + 1, delay, failure)
            if self._sleep(delay) is True:  # Event.wait returns True when the stop event is set
                self.breaker.failure()
                raise failure
            attempt += 1

    def server_model(self) -> dict[str, Any] | None:
        """The server's ``GET /models`` (name, version, labels, spec, threshold), or None if it does not answer.

        Asked once at start, to size the windows before any local model is known; no retry, no breaker.
        """
        try:
            resp = self.session.get(self.url.removesuffix("/predict") + "/models", timeout=self.timeout,
                                    verify=self.verify)  # fmt: skip
            return resp.json() if resp.status_code == 200 else None
        except (OSError, ValueError) as err:
            log.warning("could not ask the server for its model: %s", err)
            return None

    def close(self) -> None:
        self.session.close()


def _error_text(resp: requests.Response) -> str:
    """The server's ``{"error": ...}`` message, else the start of the body."""
    try:
        return str(resp.json()["error"])[:200]
    except (ValueError, KeyError, TypeError):
        return resp.text[:200]


def _retry_after(resp: requests.Response) -> float | None:
    try:
        return max(0.0, float(resp.headers.get("Retry-After", "")))
    except ValueError:
        return None
