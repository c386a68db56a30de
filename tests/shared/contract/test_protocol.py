import json

import numpy as np
import pytest
from pydantic import ValidationError

from shared.app.errors import ProtocolError
from shared.contract.protocol import MAX_BATCH, PredictRequest, decode_binary, encode_binary
from shared.datasets.synth import generate

WINDOW = generate(classes=2, per_class=1, signers=1, seed=0).X[0]


def _windows(body: dict):
    return PredictRequest.model_validate(body).to_windows()


def test_single_and_batch_json():
    single = _windows({"sequence": WINDOW.tolist(), "top_k": 2})
    assert not single.batch and single.top_k == 2
    np.testing.assert_array_equal(single.windows[0], WINDOW)
    batch = _windows({"sequences": [WINDOW.tolist(), WINDOW[:7].tolist()]})
    assert batch.batch and [w.shape for w in batch.windows] == [(30, 126), (7, 126)]


@pytest.mark.parametrize(
    "body, message",
    [
        ({"sequence": [[0.1] * 125]}, r"\(frames, 126\)"),
        ({"sequence": [[0.1] * 126, [0.1] * 120]}, "frames of 126"),
        ({"sequence": [["a"] * 126]}, "only numbers"),
        ({"sequence": [[True] * 126]}, "only numbers"),
        ({"sequence": [[None] * 126]}, "only numbers"),
        ({"sequence": [[1e39] * 126]}, "finite"),
        ({"sequence": [[11.0] * 126]}, "within"),
        ({"sequence": [[10**400] * 126]}, "only numbers|finite"),
        ({"sequence": []}, "non-empty"),
        ({"sequence": [[0.1] * 126] * 257}, "1..256 frames"),
        ({"sequence": [[[0.1] * 126]]}, r"\(frames, 126\)"),
        ({"sequences": []}, "1..64 windows"),
        ({"sequences": [[[0.1] * 126]] * (MAX_BATCH + 1)}, "1..64 windows"),
    ],
)
def test_bad_values_are_named(body, message):
    with pytest.raises(ProtocolError, match=message):
        _windows(body)


@pytest.mark.parametrize(
    "body",
    [{}, {"sequence": [[0.1] * 126], "sequences": [[[0.1] * 126]]}, {"sequence": [[0.1] * 126], "extra": 1},
     {"sequence": [[0.1] * 126], "top_k": 0}, {"sequence": [[0.1] * 126], "top_k": "x"}],
)  # fmt: skip
def test_envelope_is_strict(body):
    with pytest.raises(ValidationError):
        PredictRequest.model_validate(body)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_binary_roundtrip(dtype):
    body = encode_binary(WINDOW, dtype, top_k=3)
    w = decode_binary(body)
    assert not w.batch and w.top_k == 3
    np.testing.assert_allclose(w.windows[0], WINDOW, atol=1e-3 if dtype == "float16" else 0)
    many = decode_binary(encode_binary(np.stack([WINDOW, WINDOW]), dtype))
    assert many.batch and len(many.windows) == 2


def test_binary_is_at_most_55_percent_of_json():
    as_json = len(json.dumps({"sequence": WINDOW.tolist()}).encode())
    assert len(encode_binary(WINDOW, "float16")) <= 0.55 * as_json
    assert len(encode_binary(WINDOW, "float32")) <= 0.55 * as_json


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b[:10], "shorter than"),
        (lambda b: b"XXXX" + b[4:], "SSWB"),
        (lambda b: b[:4] + bytes([9]) + b[5:], "version 9"),
        (lambda b: b[:5] + bytes([7]) + b[6:], "dtype code 7"),
        (lambda b: b[:-2], "header says"),
        (lambda b: b + b"\0\0", "header says"),
        (lambda b: b[:16] + (125).to_bytes(4, "little") + b[20:], "126 values per frame"),
        (lambda b: b[:12] + (0).to_bytes(4, "little") + b[16:], "1..256 frames"),
        (lambda b: b[:8] + (1000).to_bytes(4, "little") + b[12:], "1..64 windows"),
    ],
)
def test_bad_binary_is_named(mutate, message):
    with pytest.raises(ProtocolError, match=message):
        decode_binary(mutate(encode_binary(WINDOW, "float16")))


@pytest.mark.parametrize("dtype, bad", [("float32", np.float32(np.nan)), ("float16", np.float16(np.inf)),
                                        ("float16", np.float16(-np.inf)), ("float32", np.float32(50.0))])  # fmt: skip
def test_binary_rejects_nan_inf_and_out_of_bounds(dtype, bad):
    body = bytearray(encode_binary(WINDOW, dtype))
    size = np.dtype(dtype).itemsize
    body[20 : 20 + size] = np.array([bad], dtype).tobytes()
    with pytest.raises(ProtocolError, match=r"finite|within"):
        decode_binary(bytes(body))


def test_encoder_refuses_what_the_server_would():
    w = WINDOW.copy()
    w[0, 0] = np.nan
    with pytest.raises(ProtocolError, match="finite"):
        encode_binary(w)
