"""Edge settings: one typed object from SIGNSTREAM_EDGE_* variables (or an env file), checked at start."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.app.settings_load import SettingsError
from shared.app.settings_load import load_settings as load_shared_settings
from shared.registry.settings import FollowSettings

ENV_PREFIX = "SIGNSTREAM_EDGE_"


class EdgeSettingsError(SettingsError):
    """A bad edge setting: the client does not start."""


class EdgeSettings(FollowSettings):
    """Everything ``signstream edge`` needs; every field is also SIGNSTREAM_EDGE_<NAME>. Following the
    registry (the local model's store, name, key, cache, interval) is declared in ``FollowSettings``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")
    # SIGNSTREAM_EDGE_SYNC_INTERVAL, the kiosk's name before the registry settings were shared
    ENV_ALIASES: ClassVar[dict[str, str]] = {"sync_interval": "poll_interval"}

    # Where frames come from.
    source: str = Field(
        "0",
        description="Camera index or /dev/videoN (OpenCV), 'picamera' (Camera Module), a video file, "
        "or a landmark dataset .npz to replay.",
    )
    width: int = Field(640, ge=32, le=4096, description="Camera frame width asked for.")
    height: int = Field(480, ge=32, le=4096, description="Camera frame height asked for.")
    camera_fps: float = Field(30.0, gt=0, le=240, description="Camera frame rate asked for.")
    realtime: bool = Field(False, description="Pace a video file like a camera (frames may then be dropped).")
    replay_speed: float = Field(1.0, ge=0, description="Replay pace: 1 = real time, 0 = as fast as possible.")
    replay_limit: int | None = Field(None, ge=1, description="Replay at most this many sequences.")
    mirror: bool = Field(False, description="Flip frames left-right for a selfie view (landmarks are mirrored back).")
    reopen_delay: float = Field(
        1.0, gt=0, description="Seconds before the first attempt to reopen a lost camera (doubling up to 10 s)."
    )
    # Landmarks and windows.
    hand_model: Literal["full", "lite"] = Field("full", description="HandLandmarker model variant.")
    hand_backend: Literal["auto", "mediapipe", "litert"] = Field(
        "auto",
        description="Hand landmarks by MediaPipe's library or the same models on LiteRT; auto: MediaPipe where "
        "this CPU runs it (not a Raspberry Pi 4), else LiteRT.",
    )
    frame_max_side: int | None = Field(
        640, ge=64, description="Shrink frames to this longer side before detection (None: as captured)."
    )
    stride: int = Field(5, ge=1, description="Frames (at the model's frame rate) between two windows of a sign.")
    min_hand_frames: int = Field(6, ge=1, description="Windows with fewer frames holding a hand are not sent.")
    end_after: int = Field(4, ge=1, description="Frames without a hand that end a sign.")
    frame_queue: int = Field(2, ge=1, description="Frames waiting for the landmarker (a camera drops the oldest).")
    window_queue: int = Field(16, ge=1, description="Windows waiting for an answer (the oldest is dropped).")
    max_in_flight: int = Field(2, ge=1, le=16, description="Windows being answered at once.")
    flush_timeout: float = Field(5.0, ge=0, description="At the end of a file, seconds to wait for answers.")
    # The server.
    server: str | None = Field(None, description="Server base URL; the client appends /predict.")
    api_key: SecretStr | None = Field(None, description="API key sent as a Bearer token.")
    ca_bundle: Path | None = Field(None, description="CA bundle to verify the server's TLS certificate with.")
    timeout: float = Field(2.0, gt=0, description="Seconds to wait for one answer.")
    retries: int = Field(1, ge=0, le=10, description="Retries after a failed request (exponential backoff).")
    backoff: float = Field(0.1, gt=0, description="First retry delay, seconds; doubles each retry, with jitter.")
    backoff_max: float = Field(2.0, gt=0, description="Longest retry delay, seconds.")
    breaker_failures: int = Field(3, ge=1, description="Consecutive failures that open the circuit breaker.")
    breaker_reset: float = Field(10.0, gt=0, description="Seconds the breaker stays open before one trial request.")
    wire: Literal["binary", "json"] = Field("binary", description="Request body form.")
    device_id: str = Field(default_factory=socket.gethostname, description="Sent as X-Device-Id.")
    # The local model.
    local_model: Path | None = Field(None, description="Bundle folder whose TFLite model answers offline.")
    local_only: bool = Field(False, description="Never call the server; the local model answers.")
    tflite: Literal["float", "int8"] = Field("float", description="Which TFLite file of the bundle runs locally.")
    # Smoothing.
    smooth_k: int = Field(2, ge=1, description="A label is shown when it wins k of the last n windows of a sign.")
    smooth_n: int = Field(3, ge=1, description="The n of 'k of the last n'.")
    hold: float = Field(1.5, ge=0, description="Seconds a shown label stays after the hands left or rest (idle).")
    threshold: float | None = Field(None, ge=0, le=1, description="Confidence needed (default: the model's).")
    # Display and API.
    display: Literal["web", "opencv", "none"] = Field(
        "web", description="Kiosk web page, OpenCV window or none (the local API and /metrics run in every case)."
    )
    json_events: bool = Field(False, description="One JSON line per event on stdout.")
    web_host: str = Field("127.0.0.1", description="Address of the kiosk page and local API.")
    web_port: int = Field(8080, ge=0, le=65535, description="Port of the kiosk page and local API (0: any free).")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (scheme://host[:port], comma-separated) whose pages may use the local API from "
        "another origin, control POSTs included (off: none; the page's own origin always may).",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra host names (comma-separated, e.g. kiosk.local,192.168.1.20) the local API answers to, "
        "besides localhost, 127.0.0.1, [::1] and web_host; any other Host header is refused (DNS rebinding).",
    )
    admin_token: SecretStr | None = Field(
        None,
        description="Token control actions (POST /api/config, /api/inference/*, /api/teach/*) need as "
        "Authorization: Bearer <token>; without one they are accepted from this machine (loopback) only.",
    )
    max_body: int = Field(
        64 * 1024, ge=1024, le=16 * 1024 * 1024, description="Largest request body the local API reads, bytes (413)."
    )
    display_names: Path | None = Field(None, description="JSON file {label: name shown} (e.g. translations).")
    preview_fps: float = Field(10.0, gt=0, le=60, description="Camera picture updates per second on the page.")
    history: int = Field(5, ge=1, le=50, description="Past labels listed on the page.")
    # Privacy and logs.
    record_dir: Path | None = Field(None, description="Save each sent window's landmarks here (off: nothing stored).")
    counters_interval: float = Field(30.0, gt=0, description="Seconds between counter log lines.")
    # Teaching the kiosk a sign (docs/edge.md, "Teaching the kiosk a sign").
    teach_dir: Path | None = Field(
        None,
        description="Folder for signs taught at the kiosk: their examples (kept), the new model versions and "
        "teach.json (off: no teaching). The kiosk starts from the version in use recorded there.",
    )
    teach_pin: SecretStr | None = Field(
        None,
        description="PIN the page's teach actions (POST /api/teach/*) need as X-Teach-Pin, besides the admin "
        "token or loopback rule of every control action.",
    )
    teach_session: str = Field(
        "kiosk",
        min_length=1,
        max_length=64,
        description="Session (person) name stored with taught examples when none is typed.",
    )
    teach_push: bool = Field(
        False,
        description="The kiosk may write to its store: taught examples are pushed as a dataset version (and "
        "each taught model version too, with teach_signing_key); off: they stay on the kiosk.",
    )
    teach_signing_key: Path | None = Field(
        None, description="ed25519 private key that signs each taught version (needed with public_key set)."
    )

    @field_validator("cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):  # SIGNSTREAM_EDGE_CORS_ORIGINS=http://a:3000,http://b
            return [part for part in (p.strip() for p in value.split(",")) if part]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        return [normal_origin(o) for o in origins]

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if not host or any(c in host for c in "/ @?#*"):
                raise ValueError(f"a host name is a bare name or address, like kiosk.local; got {host!r}")
        return hosts

    @model_validator(mode="after")
    def _check(self) -> EdgeSettings:
        if self.smooth_k > self.smooth_n:
            raise ValueError(f"smooth_k ({self.smooth_k}) must not exceed smooth_n ({self.smooth_n})")
        if self.local_only and self.local_model is None and self.store is None:
            raise ValueError("local_only needs a local model (--local-model DIR or --store URL --model-name NAME)")
        if not self.local_only and not self.server and self.local_model is None and self.store is None:
            raise ValueError("give a server (--server URL), a local model (--local-model DIR) or both")
        if self.server and not self.server.startswith(("http://", "https://")):
            raise ValueError(f"server must be an http:// or https:// URL, got {self.server!r}")
        if self.teach_push and not (self.store and self.teach_dir):
            raise ValueError("teach_push needs a store (--store URL) and a teach_dir")
        for path in (self.local_model, self.display_names, self.ca_bundle, self.teach_signing_key):
            if path is not None and not path.exists():
                raise ValueError(f"{path} does not exist")
        return self

    @property
    def live(self) -> bool:
        """True when frames come in real time (a camera or a paced file): a full queue drops frames."""
        return is_camera(self.source) or self.realtime


def normal_origin(origin: str) -> str:
    """``origin`` as browsers send it in the Origin header (lower case, no default port, no path), or ValueError."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"an origin is scheme://host[:port], like http://127.0.0.1:3000; got {origin!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"an origin has no path, query or user, like http://127.0.0.1:3000; got {origin!r}")
    try:
        port = parts.port
    except ValueError as err:
        raise ValueError(f"bad port in origin {origin!r}") from err
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def is_camera(source: str) -> bool:
    """True for a camera index, a /dev/video device or the Camera Module."""
    return source.isdigit() or source.startswith("/dev/video") or source in ("picamera", "picamera2")


def load_settings(**overrides: object) -> EdgeSettings:
    """Settings from the environment with ``overrides`` (None = not given) on top; one line on error."""
    return load_shared_settings(EdgeSettings, None, EdgeSettingsError, **overrides)
