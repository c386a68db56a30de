"""Chunked transfer coding (RFC 9112, section 7.1), decoded incrementally and strictly.

The request reader (``front.py``) feeds this decoder whatever arrived on a connection; it answers
with the decoded body once the last chunk and the trailer section are in, or with the reason the
framing is refused. Every byte is looked at a bounded number of times, so no input costs more CPU
than its length, and every line is bounded, so no input holds more memory than ``LINE_MAX`` beyond
the decoded body.

Grammar accepted (anything else is refused)::

    chunk      = chunk-size *chunk-ext CRLF chunk-data CRLF
    chunk-size = 1*16HEXDIG                     (no sign, no "0x", no "_", no spaces)
    chunk-ext  = BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ]
    last-chunk = 1*("0") *chunk-ext CRLF
    trailer    = *( token ":" OWS field-value CRLF ) CRLF   (at most MAX_TRAILERS lines)
"""

from __future__ import annotations

import re
from enum import Enum

LINE_MAX = 4096  # a size line (with its extensions) or a trailer line
MAX_SIZE_DIGITS = 16
MAX_TRAILERS = 32

_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_EXTENSION = rb"[ \t]*;[ \t]*%s(?:[ \t]*=[ \t]*(?:%s|%s))?" % (_TOKEN, _TOKEN, _QUOTED)
_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,%d})(?:%s)*" % (MAX_SIZE_DIGITS, _EXTENSION))
_TRAILER_LINE = re.compile(rb"%s:[ \t]*[\t -~\x80-\xff]*" % _TOKEN)


class State(Enum):
    MORE = "more"  # waiting for more bytes
    DONE = "done"  # the body is complete; ``rest`` holds what followed it
    ERROR = "error"  # refused; ``error`` says why


_SIZE, _DATA, _DATA_END, _TRAILER = range(4)


class ChunkedDecoder:
    """Decode one chunked body fed in pieces of any size.

    Args:
        max_body: decoded bytes kept; past this the body is counted but not stored (``over_limit``).
        drain_limit: decoded bytes after which decoding stops as if done (the caller answers 413).
    """

    def __init__(self, max_body: int, drain_limit: int) -> None:
        self.max_body = max_body
        self.drain_limit = drain_limit
        self.state = State.MORE
        self.body = bytearray()
        self.decoded = 0
        self.error = ""
        self.rest = b""
        self._raw = bytearray()
        self._pos = 0  # the next raw byte to look at
        self._scan = 0  # where the search for the current line's CRLF goes on (bytes before it hold none)
        self.examined = 0  # raw bytes searched or copied so far: at most about twice those fed
        self._part = _SIZE
        self._left = 0  # data bytes of the current chunk still to come
        self._trailers = 0

    @property
    def over_limit(self) -> bool:
        """The decoded body is larger than ``max_body`` (it was not kept)."""
        return self.decoded > self.max_body

    def feed(self, data: bytes) -> State:
        """Take more bytes of the connection; the state after them."""
        if self.state is not State.MORE:
            self.rest += data
            return self.state
        self._raw += data
        self._run()
        del self._raw[: self._pos]
        self._scan = max(0, self._scan - self._pos)
        self._pos = 0
        return self.state

    def _fail(self, reason: str) -> None:
        self.state, self.error = State.ERROR, reason
        self._raw.clear()
        self._pos = 0

    def _line(self) -> bytes | None:
        """The next CRLF-ended line (without its CRLF), None if it has not arrived; fails if too long."""
        start = max(self._pos, self._scan)
        end = min(len(self._raw), self._pos + LINE_MAX + 2)
        eol = self._raw.find(b"\n", start, end)
        self.examined += (eol + 1 if eol >= 0 else end) - start
        if eol < 0:
            if len(self._raw) - self._pos > LINE_MAX + 1:
                self._fail("a chunk size or trailer line is too long")
            self._scan = end
            return None
        if eol == self._pos or self._raw[eol - 1] != 0x0D:
            self._fail("a line ends without CRLF")
            return None
        line = bytes(self._raw[self._pos : eol - 1])
        self._pos = self._scan = eol + 1
        self.examined += len(line)  # matched once more by the grammar
        return line

    def _run(self) -> None:
        raw = self._raw
        while self.state is State.MORE:
            if self._part == _SIZE:
                line = self._line()
                if line is None:
                    return
                match = _SIZE_LINE.fullmatch(line)
                if match is None:
                    self._fail("malformed chunk size line")
                    return
                size = int(match.group(1), 16)
                self._part, self._left = (_DATA, size) if size else (_TRAILER, 0)
            elif self._part == _DATA:
                take = min(self._left, len(raw) - self._pos)
                if take == 0:
                    return
                if self.decoded + take <= self.max_body:
                    self.body += raw[self._pos : self._pos + take]
                elif self.body:
                    self.body = bytearray()  # over the limit: nothing more is kept
                self.decoded += take
                self.examined += take
                self._pos += take
                self._left -= take
                if self.decoded > self.drain_limit:
                    self.state = State.DONE  # stop reading: the caller answers 413 and closes
                    return
                if not self._left:
                    self._part = _DATA_END
            elif self._part == _DATA_END:
                if len(raw) - self._pos < 2:
                    return
                if raw[self._pos : self._pos + 2] != b"\r\n":
                    self._fail("chunk data longer than its size")
                    return
                self._pos += 2
                self._part = _SIZE
            else:  # _TRAILER
                line = self._line()
                if line is None:
                    return
                if not line:
                    self.state = State.DONE
                    self.rest = bytes(raw[self._pos :])
                    self._pos = len(raw)
                    return
                self._trailers += 1
                if self._trailers > MAX_TRAILERS or _TRAILER_LINE.fullmatch(line) is None:
                    self._fail("malformed or too many trailer fields")
                    return
