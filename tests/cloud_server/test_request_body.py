"""The fast JSON path gives the strict path's windows exactly, or declines; never takes what the strict one refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_server.errors import ApiError
from cloud_server.request_body import fast_windows, strict_json_windows
from shared.app.errors import ProtocolError
from shared.contract.spec import MAX_INPUT_FRAMES, RAW_DIM

ODD_VALUES = [True, None, "0.5", [0.5], [], {"a": 1}, 10**30, 2**64, -(2**63), 0, -0.0, 1e-320, 11.0, -10.0, 3]


def _strict(body: bytes):
    try:
        return strict_json_windows(body)
    except (ApiError, ProtocolError):
        return "refused"


def _fast(body: bytes):
    try:
        return fast_windows(body)
    except ProtocolError:
        return "refused"


def _same(a, b) -> bool:
    return (a.top_k, a.batch, len(a.windows)) == (b.top_k, b.batch, len(b.windows)) and all(
        x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x.view(np.uint32), y.view(np.uint32))
        for x, y in zip(a.windows, b.windows, strict=True)
    )


def _check(body: bytes) -> None:
    fast, strict = _fast(body), _strict(body)
    if fast is None:
        return  # declined: the strict path decides
    if fast == "refused":
        assert strict == "refused"
    else:
        assert strict != "refused" and _same(fast, strict)


@st.composite
def bodies(draw) -> bytes:
    frames = draw(st.integers(0, MAX_INPUT_FRAMES + 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1.0, 1.0, 1e-3, 12.0]))
    rows = (rng.uniform(-1, 1, (frames, RAW_DIM)) * scale).astype(draw(st.sampled_from([np.float32, np.float64])))
    seq: list = rows.tolist()
    if draw(st.booleans()) and frames:
        seq[0] = [int(v * 10) for v in seq[0]]  # integers are numbers too
    kind = draw(
        st.sampled_from(["plain"] * 3 + ["leaf"] * 4 + ["row_len", "extra_key", "top_k", "batch", "not_rows", "text"])
    )
    doc: dict = {"sequence": seq}
    if kind == "leaf" and frames:
        seq[draw(st.integers(0, frames - 1))][draw(st.integers(0, RAW_DIM - 1))] = draw(st.sampled_from(ODD_VALUES))
    elif kind == "row_len" and frames:
        row = seq[draw(st.integers(0, frames - 1))]
        row.append(0.5) if draw(st.booleans()) else row.pop()
    elif kind == "extra_key":
        doc[draw(st.sampled_from(["x", "sequences", "Sequence", "top_k "]))] = 1
    elif kind == "top_k":
        doc["top_k"] = draw(st.sampled_from([1, 3, 13, 0, -1, 2.0, "3", True, None, [3], 10**30]))
    elif kind == "batch":
        doc = {"sequences": [seq]}
    elif kind == "not_rows" and frames:
        seq[draw(st.integers(0, frames - 1))] = draw(st.sampled_from([0.5, None, "x", {"a": 1}, [[0.5] * RAW_DIM]]))
    text = json.dumps(doc)
    if kind == "text":
        text = draw(st.sampled_from([
            "\ufeff" + text, " " + text, text + " ", text + "x", text.replace("}", ', "sequence": [[0.5]]}', 1),
            text.replace("0.", "NaN, 0.", 1), text.replace("0.", "1e400, 0.", 1), text[: len(text) // 2],
            "[" + text + "]",
        ]))  # fmt: skip
    return text.encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_fast_path_agrees_with_the_strict_path_or_declines(body):
    _check(body)


@pytest.mark.parametrize("top_k", [None, 1, 5])
def test_a_plain_window_takes_the_fast_path(top_k):
    window = np.random.default_rng(0).uniform(0.2, 0.8, (30, RAW_DIM)).astype(np.float32)
    doc = {"sequence": window.tolist(), **({"top_k": top_k} if top_k else {})}
    fast = fast_windows(json.dumps(doc).encode())
    assert fast is not None and fast.top_k == top_k and not fast.batch
    assert np.array_equal(fast.windows[0], window)  # float32 -> JSON -> float32 round-trips exactly


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"sequence": [[0.5] * (RAW_DIM - 1) + [[0.5]]]}).encode(),  # as_buffer would flatten it
        json.dumps({"sequence": [[0.5] * RAW_DIM, [0.5] * (RAW_DIM - 1) + [[]]], "top_k": 1}).encode(),
        json.dumps({"sequences": [[[0.5] * RAW_DIM]]}).encode(),  # a batch: declined before any parse
        json.dumps({"top_k": 1, "sequences": [[[0.5] * RAW_DIM]]}).encode(),  # top_k first: still within the prefix
        b'{"sequence": [[1]], "sequence": [[2]]}',  # duplicate keys (orjson keeps the last)
        b'\xef\xbb\xbf{"sequence": [[1]]}',
    ],
)
def test_forms_the_fast_path_leaves_to_the_strict_one(body):
    assert fast_windows(body) is None


def test_a_window_padded_with_a_nested_frame_is_declined():
    # 2 "frames": a bare number and a frame nested once more holding 251 numbers: as many numbers and
    # brackets as two real frames, which the per-frame length check catches.
    body = json.dumps({"sequence": [5, [[0.5] * (2 * RAW_DIM - 1)]]}).encode()
    assert fast_windows(body) is None
    assert _strict(body) == "refused"


def test_the_content_type_picks_the_decoder():
    from cloud_server.request_body import windows_from_body
    from shared.contract.protocol import BINARY_CONTENT_TYPE, encode_binary

    window = np.full((30, RAW_DIM), 0.5, np.float32)
    body = json.dumps({"sequence": window.tolist()}).encode()

    np.testing.assert_array_equal(windows_from_body(body, "application/json; charset=utf-8").windows[0], window)
    binary = windows_from_body(encode_binary(window, "float32"), BINARY_CONTENT_TYPE)
    np.testing.assert_array_equal(binary.windows[0], window)
    with pytest.raises(ApiError) as err:
        windows_from_body(body, "text/plain")
    assert err.value.http_status == 415 and err.value.reason == "unsupported_media_type"
