"""The strict, incremental chunked decoder (cloud_server/chunked.py), fuzzed over every framing field."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_server.chunked import LINE_MAX, MAX_TRAILERS, ChunkedDecoder, State

TOKEN = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_!#$%&'*+.^`|~", min_size=1, max_size=8)
QUOTED = st.text("abc def\t!#[]", max_size=8).map(lambda t: f'"{t}"')


def decode(raw: bytes, pieces: list[int] | None = None, max_body: int = 1 << 20) -> ChunkedDecoder:
    """Feed ``raw`` split at ``pieces`` (cut positions); the decoder after the last piece."""
    decoder = ChunkedDecoder(max_body, 4 * max_body)
    cuts = [0, *sorted(set(pieces or [])), len(raw)]
    for a, b in itertools.pairwise(cuts):
        decoder.feed(raw[a:b])
    return decoder


@st.composite
def chunked_bodies(draw):
    """(wire bytes, decoded body) of a valid chunked body with extensions and trailers."""
    parts, wire = [], b""
    for data in draw(st.lists(st.binary(min_size=1, max_size=40), max_size=5)):
        size = f"{len(data):x}"
        size = draw(st.sampled_from(["", "0", "00"])) + draw(st.sampled_from([size, size.upper()]))
        exts = ""
        for name, value in draw(st.lists(st.tuples(TOKEN, st.none() | TOKEN | QUOTED), max_size=2)):
            space = draw(st.sampled_from(["", " ", "\t"]))
            exts += f"{space};{space}{name}" + (f"={value}" if value is not None else "")
        wire += f"{size}{exts}\r\n".encode() + data + b"\r\n"
        parts.append(data)
    wire += draw(st.sampled_from([b"0", b"000"])) + b"\r\n"
    for name, value in draw(st.lists(st.tuples(TOKEN, st.text("abc 1;=", max_size=10)), max_size=3)):
        wire += f"{name}: {value}\r\n".encode()
    return wire + b"\r\n", b"".join(parts)


@settings(max_examples=300, deadline=None)
@given(chunked_bodies(), st.lists(st.integers(0, 400), max_size=6), st.binary(max_size=20))
def test_a_valid_body_decodes_the_same_however_it_is_split(example, cuts, after):
    wire, body = example
    decoder = decode(wire + after, cuts)
    assert decoder.state is State.DONE, decoder.error
    assert bytes(decoder.body) == body
    assert decoder.rest == after  # a pipelined next request is kept whole


def test_every_split_point_of_one_body_gives_the_same_answer():
    wire = b'5;x=y;q="a b"\r\nhello\r\n1A\r\n' + bytes(range(26)) + b"\r\n0\r\nX-Sum: 1\r\n\r\nGET / HTTP/1.1\r\n"
    for i in range(len(wire) + 1):
        for j in (i, min(len(wire), i + 1), min(len(wire), i + 7)):
            decoder = decode(wire, [i, j])
            assert decoder.state is State.DONE and bytes(decoder.body) == b"hello" + bytes(range(26))
            assert decoder.rest == b"GET / HTTP/1.1\r\n"


@pytest.mark.parametrize(
    "wire",
    [
        b"-6\r\n",  # a negative size moved the old reader's position backwards
        b"-100\r\n",
        b"+5\r\nhello\r\n0\r\n\r\n",
        b"0x10\r\n",
        b"1_0\r\n",
        b"zz\r\n",
        b" 5\r\nhello\r\n0\r\n\r\n",
        b"5 \r\nhello\r\n0\r\n\r\n",
        b"\r\n",  # no size at all
        b"5\nhello\n0\n\n",  # bare LF
        b"5;\r\nhello\r\n0\r\n\r\n",  # an extension without a name
        b'5;a="b\r\nhello\r\n0\r\n\r\n',  # an unclosed quoted string
        b"1" * 17 + b"\r\n",  # more digits than any body
        b"3\r\nhello\r\n0\r\n\r\n",  # data longer than its size
        b"5\r\nhelloXY0\r\n\r\n",
        b"5\r\nhello\r\n0\r\nno colon\r\n\r\n",
        b"5\r\nhello\r\n0\r\n" + b"X: 1\r\n" * (MAX_TRAILERS + 1) + b"\r\n",
        b"1" * 5000,  # a size line that never ends
        b"5;" + b"a" * 5000 + b"\r\n",
        b"5\r\nhello\r\n0\r\nX: " + b"a" * 5000,
    ],
    ids=lambda w: repr(w[:24]),
)
def test_hostile_framing_is_refused_with_a_reason(wire):
    for cuts in ([], list(range(len(wire)))):
        decoder = decode(wire, cuts)
        assert decoder.state is State.ERROR and decoder.error


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=8))
def test_arbitrary_bytes_never_raise_and_cost_no_more_than_their_length(raw, cuts):
    decoder = decode(raw, cuts)
    whole = decode(raw)
    assert (decoder.state, decoder.error, bytes(decoder.body)) == (whole.state, whole.error, bytes(whole.body))
    assert decoder.examined <= 3 * len(raw) + 4
    assert len(decoder._raw) <= LINE_MAX + 2  # what it holds beyond the body is bounded


def test_a_line_trickled_one_byte_at_a_time_is_searched_once():
    wire = b"1" * 10 + b";" + b"a" * (LINE_MAX - 20) + b"\r\n"
    decoder = decode(wire, list(range(len(wire))))
    assert decoder.state is State.MORE  # the data has not come yet
    assert decoder.examined <= 3 * len(wire)  # a re-search from the line's start each time is quadratic


def test_a_body_over_the_limit_is_counted_not_kept():
    data = bytes(300)
    wire = b"".join(b"64\r\n" + data[i : i + 100] + b"\r\n" for i in range(0, 300, 100)) + b"0\r\n\r\n"
    decoder = decode(wire, [7, 150], max_body=250)
    assert decoder.state is State.DONE and decoder.over_limit and decoder.decoded == 300 and not decoder.body


def test_decoding_stops_past_the_drain_limit():
    decoder = ChunkedDecoder(10, 100)
    assert decoder.feed(b"1000\r\n" + bytes(101)) is State.DONE and decoder.over_limit
