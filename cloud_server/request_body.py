"""A /predict body -> the windows to classify: the one place a request body is read.

``read_body`` reads it within the size limit (a 413 the client can read while it still sends).
``windows_from_body`` picks by Content-Type: the binary form (``shared.contract.protocol.decode_binary``),
else JSON. JSON takes a fast path for the common form and the strict path for everything else.

The fast path: orjson turns a 30-frame window into 3 780 Python floats and numpy then copies them (0.23 ms a
request here). pysimdjson parses the body and hands the numbers over as one buffer of doubles
(0.09 ms). It is used only for the plainly valid common form, ``{"sequence": [[126 numbers] x T]}``
with an optional integer ``top_k``; for anything else ``fast_windows`` returns None and the strict path
(``strict_json_windows``: orjson + pydantic) decides, with its error messages. tests/cloud_server/
test_request_body.py checks the two paths give the same windows, and that the fast one declines
every body the strict path refuses.
"""

from __future__ import annotations

import threading

import numpy as np
import orjson
import simdjson
from flask import request
from pydantic import ValidationError

from cloud_server.errors import ApiError, bad_request
from shared.contract.protocol import (
    BINARY_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    PredictRequest,
    Windows,
    check_window_values,
    decode_binary,
)
from shared.contract.spec import MAX_INPUT_FRAMES, RAW_DIM

_KEYS = {"sequence", "top_k"}
DRAIN_LIMIT = 64 * 1024 * 1024  # read and discard up to this much of a too-large body so the client sees the 413
_local = threading.local()  # a parser is not thread-safe, and reusing one saves its allocations


def drain(limit: int) -> None:
    """Read and discard the rest of the request body (up to ``limit``), so an early 413 reaches the client."""
    stream = request.environ.get("wsgi.input")
    if stream is None:
        return
    left = limit
    try:
        while left > 0:
            chunk = stream.read(min(65536, left))
            if not chunk:
                return
            left -= len(chunk)
    except (OSError, ValueError):
        return


def read_body(limit: int) -> bytes:
    """The request body, at most ``limit`` bytes; 413 beyond (werkzeug would silently cut a chunked body)."""
    if request.content_length is not None:  # already checked against the limit in app.py's guard
        return request.get_data(cache=False)
    stream = request.environ.get("wsgi.input")
    if stream is None:
        return b""
    data = stream.read(limit + 1)
    if len(data) > limit:
        drain(DRAIN_LIMIT)
        raise ApiError(413, "request_entity_too_large", f"the body is over the limit of {limit} bytes",
                       {"Connection": "close"})  # fmt: skip
    return data


def windows_from_body(body: bytes, content_type: str) -> Windows:
    """The windows of a /predict body; ``ApiError`` 415 for another media type, 400 for a bad body.

    The binary decoder raises ``ProtocolError`` / ``SpecMismatchError``, which the route answers 400.
    """
    mime = content_type.split(";")[0].strip().lower()
    if mime == BINARY_CONTENT_TYPE:
        return decode_binary(body)
    if mime != JSON_CONTENT_TYPE:
        raise ApiError(
            415, "unsupported_media_type", f"Content-Type must be {JSON_CONTENT_TYPE} or {BINARY_CONTENT_TYPE}"
        )
    fast = fast_windows(body)
    return fast if fast is not None else strict_json_windows(body)


def strict_json_windows(body: bytes) -> Windows:
    """The strict JSON path: every form of the protocol, and a precise 400 for anything wrong."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise bad_request(f"malformed JSON: {err}", "malformed_json") from err
    if not isinstance(data, dict):
        raise bad_request("the JSON body must be an object", "malformed_json")
    try:
        req = PredictRequest.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(map(str, first["loc"])) or "body"
        raise bad_request(f"{where}: {first['msg']}", "invalid_request") from err
    return req.to_windows(maybe_bools=b"true" in body or b"false" in body)


def _parse(body: bytes):
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = simdjson.Parser()
    try:
        return parser.parse(body)
    except RuntimeError:  # its previous document is still referenced somewhere: use a fresh parser
        _local.parser = simdjson.Parser()
        return _local.parser.parse(body)


def fast_windows(body: bytes) -> Windows | None:
    """The windows of a plain single-window JSON body, or None when the strict path must decide."""
    if body[:1] != b"{" or b'"sequences"' in body[:64]:  # a batch (key first) would be parsed twice
        return None
    try:
        doc = _parse(body)
    except (ValueError, RuntimeError, TypeError):  # malformed, a number out of range, ...
        return None
    if not isinstance(doc, simdjson.Object):
        return None
    keys = list(doc.keys())
    if "sequence" not in keys or not _KEYS.issuperset(keys) or len(set(keys)) != len(keys):
        return None
    top_k = doc["top_k"] if "top_k" in keys else None
    if top_k is not None and (type(top_k) is not int or top_k < 1):
        return None
    seq = doc["sequence"]
    if not isinstance(seq, simdjson.Array) or not 1 <= len(seq) <= MAX_INPUT_FRAMES:
        return None
    frames = len(seq)
    if not all(isinstance(row, simdjson.Array) and len(row) == RAW_DIM for row in seq):
        return None
    # as_buffer flattens nested arrays: with no '[' but the sequence's and its frames' (no string can
    # hold one: the keys are known and every value is a number), each frame is 126 plain numbers.
    if body.count(b"[") != frames + 1:
        return None
    try:
        flat = np.frombuffer(seq.as_buffer(of_type="d"), np.float64)
    except (TypeError, ValueError, RuntimeError):  # a string, boolean, null or object among the numbers
        return None
    if flat.size != frames * RAW_DIM:
        return None
    return Windows([check_window_values(flat.reshape(frames, RAW_DIM), "sequence")], top_k, False)
