"""Typed HTTP errors: raised anywhere in a request, rendered once as ``{"error", "reason"}``."""

from __future__ import annotations


class ApiError(Exception):
    """An error with an HTTP status and a machine-readable reason."""

    def __init__(self, status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.headers = headers or {}


def bad_request(message: str, reason: str = "bad_request") -> ApiError:
    return ApiError(400, reason, message)


def not_ready(message: str = "model not loaded yet") -> ApiError:
    return ApiError(503, "not_ready", message, {"Retry-After": "1"})
