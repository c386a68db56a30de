"""Typed errors raised at the boundaries of the shared contract: the root of every signstream error.

Each error carries how it is answered over HTTP (``http_status``, ``reason``, ``headers``), so a
server renders any of them with one handler; on the command line each is one line, exit 2.
"""

from __future__ import annotations

from typing import ClassVar


class SignstreamError(Exception):
    """Base for every error signstream reports to a user as one line (over HTTP: a 500 unless a subclass says)."""

    http_status: ClassVar[int] = 500
    reason: ClassVar[str] = "internal"
    headers: ClassVar[dict[str, str]] = {}


class SpecMismatchError(SignstreamError):
    """A model, request or dataset does not fit the feature spec it is used with."""

    http_status, reason = 400, "invalid_request"


class DatasetError(SignstreamError):
    """A dataset file is unreadable or its arrays are malformed."""


class BundleError(SignstreamError):
    """A model bundle is incomplete, tampered with or malformed."""


class ProtocolError(SignstreamError):
    """A request or binary payload does not follow the wire protocol."""

    http_status, reason = 400, "invalid_request"


class NotReadyError(SignstreamError):
    """No model is loaded yet."""

    http_status, reason, headers = 503, "not_ready", {"Retry-After": "1"}


class OverloadedError(SignstreamError):
    """The model stage is full or did not answer in time: shed this request."""

    http_status, reason, headers = 503, "overloaded", {"Retry-After": "1"}
