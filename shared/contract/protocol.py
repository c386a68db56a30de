"""The wire protocol of ``POST /predict``: pydantic models for JSON, and the binary form.

JSON request, single window (the shape older Pi clients already send): ``{"sequence": [[126 floats] x T], "top_k": 3}``;
a batch: ``{"sequences": [[[126 floats] x T] x N]}``. 1 <= T <= MAX_INPUT_FRAMES,
1 <= N <= MAX_BATCH, every value finite after the cast to float32 and within +-VALUE_BOUND.

Binary request (``Content-Type: application/x-signstream-window``), little-endian::

    offset size field
    0      4    magic b"SSWB"
    4      1    format version (1)
    5      1    dtype: 1 = float16, 2 = float32
    6      1    top_k (0 = the server's default)
    7      1    flags: bit 0 set = answer in the batch form even for one window
    8      4    N windows (uint32)
    12     4    T frames per window (uint32)
    16     4    values per frame (uint32, 126)
    20     ...  N*T*126 values, C order

Answers are always JSON.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SkipValidation, field_validator, model_validator

from shared.app.errors import ProtocolError
from shared.contract.spec import MAX_INPUT_FRAMES, RAW_DIM, VALUE_BOUND, FeatureSpec

MAX_BATCH = 64
JSON_CONTENT_TYPE = "application/json"
BINARY_CONTENT_TYPE = "application/x-signstream-window"
BINARY_MAGIC = b"SSWB"
BINARY_VERSION = 1
_HEADER = struct.Struct("<4sBBBBIII")
_DTYPES = {1: np.dtype("<f2"), 2: np.dtype("<f4")}
_DTYPE_CODES = {np.dtype("float16"): 1, np.dtype("float32"): 2}
FLAG_BATCH = 1
MODEL_VERSION_HEADER = "X-Model-Version"  # the caller's local model version, for /devices
DEVICE_HEADER = "X-Device-Id"
API_KEY_HEADER = "X-API-Key"  # the API key, if not sent as Authorization: Bearer


@dataclass
class Windows:
    """Validated windows ready for inference.

    Attributes:
        windows: N arrays of shape (T_i, 126), float32, finite and in bounds.
        top_k: labels wanted per answer, or None for the server's default.
        batch: True when the caller wants the batch answer form.
    """

    windows: list[np.ndarray]
    top_k: int | None
    batch: bool


def check_window_values(arr: np.ndarray, where: str) -> np.ndarray:
    """Cast to float32 and check finiteness and bounds; raise ProtocolError naming ``where``."""
    with np.errstate(over="ignore", invalid="ignore"):  # overflow becomes inf, rejected below
        out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise ProtocolError(f"{where}: values must be finite numbers (after the cast to float32)")
    # The bound applies to the values as sent (the document's maximum), not as rounded to float32:
    # 10.000000000000002 rounds to 10.0 but is out of bounds.
    if out.size and max(np.abs(out).max(), np.abs(arr).max()) > VALUE_BOUND:
        raise ProtocolError(f"{where}: values must lie within +-{VALUE_BOUND}")
    return out


def _has_bool(value: list) -> bool:
    """True if a JSON true/false hides among the numbers (numpy would read it as 1.0/0.0)."""
    return any(bool in set(map(type, row)) for row in value if isinstance(row, list))


def _as_window(value: Any, where: str, maybe_bools: bool = True) -> np.ndarray:
    if not isinstance(value, list) or not value:
        raise ProtocolError(f"{where} must be a non-empty list of frames")
    try:
        arr = np.asarray(value)
    except (ValueError, OverflowError) as err:
        raise ProtocolError(f"{where} must be a list of frames of {RAW_DIM} numbers each") from err
    if arr.dtype.kind not in "fiu" or (maybe_bools and arr.dtype.kind == "f" and _has_bool(value)):
        raise ProtocolError(f"{where} must hold only numbers (frames of {RAW_DIM} numbers)")
    if arr.ndim != 2 or arr.shape[1] != RAW_DIM:
        raise ProtocolError(f"{where} must be (frames, {RAW_DIM}), got shape {arr.shape}")
    if not 1 <= arr.shape[0] <= MAX_INPUT_FRAMES:
        raise ProtocolError(f"{where} must have 1..{MAX_INPUT_FRAMES} frames, got {arr.shape[0]}")
    return check_window_values(arr, where)


# The documented shape (OpenAPI); values are checked by numpy in to_windows, not by pydantic (speed).
_Value = Annotated[float, Field(ge=-VALUE_BOUND, le=VALUE_BOUND)]
_Frame = Annotated[list[_Value], Field(min_length=RAW_DIM, max_length=RAW_DIM)]
_Window = Annotated[list[_Frame], Field(min_length=1, max_length=MAX_INPUT_FRAMES)]


def _exactly_one_window_field(schema: dict[str, Any]) -> None:
    """The document says what the validator does: exactly one of the two, and never null."""
    for name in ("sequence", "sequences"):
        schema["properties"][name].pop("default", None)
    schema["oneOf"] = [{"required": ["sequence"]}, {"required": ["sequences"]}]


class PredictRequest(BaseModel):
    """JSON body of POST /predict: exactly one of ``sequence`` or ``sequences`` (neither may be null)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one_window_field)

    # Not Optional: absent is allowed (default None), an explicit null is refused in _one_of.
    sequence: SkipValidation[_Window] = Field(
        None, description=f"One window: 1..{MAX_INPUT_FRAMES} frames of {RAW_DIM} landmark values."
    )
    sequences: SkipValidation[Annotated[list[_Window], Field(min_length=1, max_length=MAX_BATCH)]] = Field(
        None, description=f"A batch of 1..{MAX_BATCH} windows, each like 'sequence'."
    )
    top_k: int | None = Field(
        None,
        ge=1,
        strict=True,
        description="How many labels to return (the best first); more than the model has returns them all. "
        "Absent or null: the server's default.",
    )

    @field_validator("top_k", mode="before")
    @classmethod
    def _json_integer(cls, value: Any) -> Any:
        """An integer as JSON Schema counts them (7 or 7.0); a bool, a string or 7.5 is refused (strict)."""
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    @model_validator(mode="after")
    def _one_of(self) -> PredictRequest:
        given = [name for name in ("sequence", "sequences") if name in self.model_fields_set]
        for name in given:
            if getattr(self, name) is None:
                raise ValueError(f"'{name}' must not be null")
        if len(given) != 1:
            raise ValueError("give exactly one of 'sequence' or 'sequences'")
        return self

    def to_windows(self, maybe_bools: bool = True) -> Windows:
        """Check every value and return the windows as float32 arrays.

        Args:
            maybe_bools: False when the caller knows no true/false can be among the values (a JSON text
                without those words), which skips a per-value type check (~0.1 ms a window).
        """
        if self.sequence is not None:
            return Windows([_as_window(self.sequence, "sequence", maybe_bools)], self.top_k, False)
        seqs = self.sequences
        if not isinstance(seqs, list) or not 1 <= len(seqs) <= MAX_BATCH:
            raise ProtocolError(f"sequences must be a list of 1..{MAX_BATCH} windows")
        windows = [_as_window(s, f"sequences[{i}]", maybe_bools) for i, s in enumerate(seqs)]
        return Windows(windows, self.top_k, True)


def encode_binary(windows: np.ndarray, dtype: str = "float16", top_k: int | None = None, batch: bool = False) -> bytes:
    """Encode (N, T, 126) windows (or one (T, 126) window) in the binary form."""
    arr = np.asarray(windows)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[2] != RAW_DIM:
        raise ProtocolError(f"windows must be (N, T, {RAW_DIM}), got {arr.shape}")
    dt = np.dtype(dtype)
    if dt not in _DTYPE_CODES:
        raise ProtocolError(f"dtype must be float16 or float32, got {dtype}")
    if top_k is not None and not 1 <= top_k <= 255:
        raise ProtocolError("top_k must be 1..255 in the binary form")
    arr = check_window_values(arr, "windows")  # never send what the server must refuse
    flags = FLAG_BATCH if batch or arr.shape[0] > 1 else 0
    header = _HEADER.pack(BINARY_MAGIC, BINARY_VERSION, _DTYPE_CODES[dt], top_k or 0, flags, *arr.shape)
    return header + np.ascontiguousarray(arr, dtype=dt.newbyteorder("<")).tobytes()


def decode_binary(body: bytes) -> Windows:
    """Decode and check a binary request body; raise ProtocolError naming what is wrong."""
    if len(body) < _HEADER.size:
        raise ProtocolError(f"binary body shorter than its {_HEADER.size}-byte header")
    magic, version, code, top_k, flags, n, t, c = _HEADER.unpack_from(body)
    if magic != BINARY_MAGIC:
        raise ProtocolError("binary body does not start with b'SSWB'")
    if version != BINARY_VERSION:
        raise ProtocolError(f"binary format version {version} is not supported (1 is)")
    if code not in _DTYPES:
        raise ProtocolError(f"binary dtype code {code} is not 1 (float16) or 2 (float32)")
    if c != RAW_DIM:
        raise ProtocolError(f"binary windows must have {RAW_DIM} values per frame, got {c}")
    if not 1 <= n <= MAX_BATCH:
        raise ProtocolError(f"binary body must hold 1..{MAX_BATCH} windows, got {n}")
    if not 1 <= t <= MAX_INPUT_FRAMES:
        raise ProtocolError(f"binary windows must have 1..{MAX_INPUT_FRAMES} frames, got {t}")
    dt = _DTYPES[code]
    expected = _HEADER.size + n * t * c * dt.itemsize
    if len(body) != expected:
        raise ProtocolError(f"binary body is {len(body)} bytes; its header says {expected}")
    arr = np.frombuffer(body, dtype=dt, offset=_HEADER.size).reshape(n, t, c)
    arr = check_window_values(arr, "binary windows")
    return Windows(list(arr), top_k or None, bool(flags & FLAG_BATCH) or n > 1)


class LabelScore(BaseModel):
    """One of the top-k labels."""

    label: str
    confidence: float = Field(description="Calibrated probability, 0..1.")


class ModelRef(BaseModel):
    """Which model answered."""

    name: str
    version: str


class Prediction(BaseModel):
    """The answer for one window: label/index/confidence, as older clients read them, plus top-k."""

    label: str = Field(description="Most likely label.")
    index: int = Field(description="Index of that label in the model's labels.")
    confidence: float = Field(description="Its calibrated probability, 0..1.")
    top_k: list[LabelScore] = Field(description="Most likely labels, best first.")
    below_threshold: bool = Field(description="True if confidence is under the model's recommended threshold.")
    no_sign: bool = Field(
        False,
        description="True when nobody is signing: no hand in (almost) any frame (answered without the model) or the "
        "model's no-sign class won. Then label is empty, index is -1 (no hand) or the no-sign class's; show nothing.",
    )


class PredictResponse(Prediction):
    """Answer to a single-window request."""

    model: ModelRef
    threshold: float = Field(description="The model's recommended confidence threshold.")
    server_time: float = Field(description="Server clock, seconds since the epoch.")


class BatchPredictResponse(BaseModel):
    """Answer to a batch request: one Prediction per window, in order."""

    results: list[Prediction]
    model: ModelRef
    threshold: float
    server_time: float


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer."""

    error: str = Field(description="What went wrong, in one line.")
    reason: str = Field(description="A short machine-readable reason, e.g. 'bad_request'.")


# --- the server's other answers (GET /health, /ready, /models, /devices; POST /admin/reload) ---


class HealthResponse(BaseModel):
    """``GET /health``: the process answers."""

    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    """``GET /ready`` when this worker's model is loaded and warm (else 503)."""

    status: Literal["ready"] = "ready"
    model: str = Field(description="Name of the model being served.")
    version: str = Field(description="Its version.")
    worker: int = Field(description="Process id of the worker that answered.")


class ModelInfo(BaseModel):
    """``GET /models``: the model this worker serves."""

    name: str
    version: str
    labels: list[str] = Field(description="Labels by index, as answers' 'index' counts them.")
    spec: FeatureSpec = Field(description="The feature spec a request's windows are turned into features with.")
    threshold: float = Field(description="The model's recommended confidence threshold.")
    temperature: float = Field(description="Logits are divided by this before the softmax.")
    loaded_at: float = Field(description="When this worker loaded it, seconds since the epoch.")


class ReloadResponse(BaseModel):
    """``POST /admin/reload``: the outcome of the check in the worker that answered."""

    outcome: str = Field(
        description="What the check found: unchanged, updated, rejected or unreadable (a folder); unchanged, "
        "updated, store_error, cache_error, bad_version, rejected or error (a registry)."
    )
    version: str | None = Field(description="The version this worker serves after the check (null: none yet).")


class DeviceEntry(BaseModel):
    """One device in ``GET /devices``, merged over the workers."""

    device: str = Field(description="X-Device-Id of its requests ('anonymous' without one).")
    last_seen: float = Field(description="Its last request, seconds since the epoch.")
    last_status: int = Field(description="HTTP status of that request.")
    local_model_version: str | None = Field(description="Last X-Model-Version it sent (null: never sent).")
    key: str | None = Field(description="Name of the API key of its last request (null: none valid).")
    requests: int
    errors: int = Field(description="Requests answered with a 4xx or 5xx.")


class DevicesResponse(BaseModel):
    """``GET /devices``: every device seen, newest first."""

    devices: list[DeviceEntry]
