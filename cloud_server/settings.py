"""Server settings: one typed object from SIGNSTREAM_SERVER_* variables (or an env file), checked at start."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.registry.settings import FollowSettings

ENV_PREFIX = "SIGNSTREAM_SERVER_"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServerSettings(FollowSettings):
    """Everything the server needs to start; following the registry is declared in ``FollowSettings``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")
    CACHE_NAME: ClassVar[str] = "server-models"

    model_dir: Path | None = Field(None, description="Bundle folder to serve (a symlink an operator repoints works).")
    runtime_dir: Path | None = Field(
        None, description="Folder the workers share (metrics, devices, reload requests); default: a fresh temp folder."
    )
    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(8000, ge=0, le=65535, description="Port to bind (0: any free port).")
    workers: int = Field(2, ge=1, le=64, description="gunicorn worker processes.")
    threads: int = Field(4, ge=1, le=64, description="Threads per worker.")
    tf_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="TensorFlow threads per model call (run in the worker's model thread); the workers use the cores.",
    )
    model_runtime: Literal["savedmodel", "tflite"] = Field(
        "savedmodel",
        description="What runs the bundle: its SavedModel (TensorFlow) or its float32 TFLite file (LiteRT, "
        "TF_THREADS threads).",
    )
    no_auth: bool = Field(False, description="Serve without API keys (only on a loopback host).")
    keys_file: Path | None = Field(None, description="API key file kept by `signstream keys`.")
    default_top_k: int = Field(3, ge=1, le=100, description="Labels per answer when a request names none.")
    max_body_bytes: int = Field(4_000_000, ge=1024, description="Largest request body accepted.")
    timeout: int = Field(30, ge=1, description="gunicorn worker timeout, seconds.")
    header_timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds a request's headers may take (from accept or first byte); then 408."
    )
    body_timeout: float = Field(30.0, gt=0, le=3600, description="Seconds a body may take after its headers; then 408.")
    send_timeout: float = Field(30.0, gt=0, le=3600, description="Seconds a thread waits to write to a client.")
    max_connections: int = Field(
        1000, ge=8, le=100_000, description="Open connections per worker; when full, the longest idle one makes room."
    )
    batching: bool = Field(True, description="Run concurrent requests through the model as one batch.")
    batch_window_ms: float = Field(
        2.0,
        ge=0,
        le=100,
        description="Longest wait for more requests to join a batch while the worker is busy (ms); a lone "
        "client never waits.",
    )
    max_batch: int = Field(32, ge=1, le=1024, description="Most windows in one model call.")
    max_queue: int = Field(64, ge=1, description="Requests waiting for the model per worker before 503s.")
    rate_limit: float = Field(200.0, ge=0, description="Requests per second per API key (0: no limit).")
    rate_burst: float = Field(400.0, ge=1, description="Burst size of the per-key rate limit.")
    log_requests: bool = Field(True, description="One structured (JSON) log line per request.")
    metrics_public: bool = Field(False, description="Serve /metrics without the admin key (private networks).")

    @model_validator(mode="after")
    def _check(self) -> ServerSettings:
        if self.no_auth and not is_loopback(self.host):
            raise ValueError(f"no_auth is allowed only on a loopback address, not {self.host}")
        if self.model_dir is None and self.store is None:
            raise ValueError("a model is required (--model DIR, or --store URL with --model-name NAME)")
        if self.model_dir is not None and self.store is not None:
            raise ValueError("give either a model folder or a store, not both")
        if not self.no_auth:
            if self.keys_file is None:
                raise ValueError("a key file is required (--keys-file or SIGNSTREAM_SERVER_KEYS_FILE), or --no-auth")
            if not self.keys_file.is_file():
                raise ValueError(f"key file {self.keys_file} does not exist (create keys with `signstream keys add`)")
        return self
