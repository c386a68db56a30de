"""Talking to the cloud server: one keep-alive session, the binary form by default."""

from __future__ import annotations

import numpy as np
import requests
from pydantic import ValidationError

from shared.errors import SignstreamError
from shared.protocol import BINARY_CONTENT_TYPE, MODEL_VERSION_HEADER, PredictResponse, encode_binary


class TransportError(SignstreamError):
    """The server could not be reached or gave no usable answer."""


class CloudClient:
    """POSTs windows to ``<base_url>/predict`` and returns the parsed answer."""

    def __init__(
        self, base_url: str, api_key: str | None = None, timeout: float = 2.0, binary: bool = True,
        verify: bool | str = True, local_version: str | None = None,
    ) -> None:  # fmt: skip
        self.url = base_url.rstrip("/") + "/predict"
        self.timeout = timeout
        self.binary = binary
        self.session = requests.Session()
        self.session.verify = verify
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"
        if local_version:
            self.session.headers[MODEL_VERSION_HEADER] = local_version

    def predict(self, window: np.ndarray) -> PredictResponse:
        """Classify one (T, 126) window; raise TransportError on any failure."""
        try:
            if self.binary:
                resp = self.session.post(
                    self.url,
                    data=encode_binary(window, "float16"),
                    headers={"Content-Type": BINARY_CONTENT_TYPE},
                    timeout=self.timeout,
                )
            else:
                resp = self.session.post(self.url, json={"sequence": window.tolist()}, timeout=self.timeout)
        except requests.RequestException as err:
            raise TransportError(f"{self.url}: {err.__class__.__name__}: {err}") from err
        if resp.status_code != 200:
            raise TransportError(f"{self.url}: HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            return PredictResponse.model_validate_json(resp.content)
        except ValidationError as err:
            raise TransportError(f"{self.url}: unexpected answer: {err.errors()[0]['msg']}") from err

    def close(self) -> None:
        self.session.close()
