"""Typed HTTP errors: raised anywhere in a request, rendered once as ``{"error", "reason"}``."""

from __future__ import annotations

from shared.app.errors import NotReadyError, SignstreamError


class ApiError(SignstreamError):
    """An error with its own HTTP status and machine-readable reason (the request's fault, mostly)."""

    def __init__(self, status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.http_status = status
        self.reason = reason
        self.message = message
        self.headers = headers or {}


def bad_request(message: str, reason: str = "bad_request") -> ApiError:
    return ApiError(400, reason, message)


def not_ready(message: str = "model not loaded yet") -> NotReadyError:
    return NotReadyError(message)
