"""``pymod symbolize``'s input: lines of bounded length, taken in chunks of
bounded size, so memory stays bounded whatever comes in."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from typing import IO

from pymod.tools.common import ERRORS

__all__ = ["CHUNK_BYTES", "MAX_LINE", "LineReader", "bounded_lines", "stdin_bytes"]

# A longer line (or endless input without newlines, such as /dev/zero) is
# taken in pieces of this size, so memory stays bounded whatever comes in.
MAX_LINE = 64 << 10


def bounded_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """The lines of ``stream``, each at most ``MAX_LINE`` bytes (what
    :class:`LineReader` gives, decoded)."""
    while line := stream.readline(MAX_LINE):
        yield line


# A chunk also stops at this many bytes (long lines make few lines large).
CHUNK_BYTES = 4 << 20


# A read asks for this much at a time.
BLOCK = 1 << 20
# Characters str.splitlines() ends a line at, "\n" aside: a decoded block
# holding none of them splits into the same lines as readline() gives.
_OTHER_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _no_other_breaks(data: bytes, text: str) -> bool:
    """Whether ``text`` (``data`` decoded) has no line break but "\n"."""
    if data.isascii():      # each test a memchr, where the regex walks
        return not any(c in data for c in (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e"))
    return _OTHER_BREAKS.search(text) is None


class LineReader:
    """:func:`bounded_lines` decoded, taken in chunks, read a block
    at a time: 10^5 short lines cost one read and one decode per MiB, not
    one each.  The lines are the same; a chunk's size is counted in
    characters, and at most one block is read beyond it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._read = getattr(stream, "read1", None) or stream.read
        self._ready: list[str] = []     # decoded lines not taken yet
        self._size = 0                  # their characters
        self._rest = b""                # the unfinished last line
        self._eof = False

    def take(self, most: int) -> list[str]:
        """The next chunk: up to ``most`` lines and about CHUNK_BYTES
        characters."""
        while len(self._ready) < most and self._size < CHUNK_BYTES and not self._eof:
            self._fill()
        chunk = self._ready[:most]
        size = sum(map(len, chunk))
        if size >= CHUNK_BYTES:
            size = 0
            for k, line in enumerate(chunk):
                size += len(line)
                if size >= CHUNK_BYTES:
                    chunk = chunk[:k + 1]
                    break
        del self._ready[:len(chunk)]
        self._size -= size
        return chunk

    def _fill(self) -> None:
        block = self._read(BLOCK)
        if not block:
            self._eof = True
            self._add(self._rest)
            self._rest = b""
            return
        data = self._rest + block
        cut = data.rfind(b"\n") + 1
        self._rest = data[cut:]
        self._add(data[:cut])
        if len(self._rest) >= MAX_LINE:      # no newline in sight: pieces
            whole = len(self._rest) - len(self._rest) % MAX_LINE
            self._extend([self._rest[k:k + MAX_LINE].decode("utf-8", ERRORS)
                          for k in range(0, whole, MAX_LINE)])
            self._rest = self._rest[whole:]

    def _add(self, data: bytes) -> None:
        """The lines of ``data`` (whole lines, or the input's last one),
        decoded, to the ready lines: all at once when each is shorter than
        MAX_LINE bytes and str.splitlines() splits only at "\n"."""
        if len(data) < MAX_LINE or max(map(len, data.split(b"\n"))) < MAX_LINE:
            text = data.decode("utf-8", ERRORS)
            if _no_other_breaks(data, text):
                self._ready += text.splitlines(keepends=True)
                self._size += len(text)
                return
        self._extend([raw.decode("utf-8", ERRORS) for raw in bounded_lines(io.BytesIO(data))])

    def _extend(self, lines: list[str]) -> None:
        self._ready += lines
        self._size += sum(map(len, lines))


def stdin_bytes() -> IO[bytes]:
    """Standard input as bytes (a replaced ``sys.stdin`` without a buffer too)."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:
        return buffer  # type: ignore[no-any-return]
    return io.BytesIO(sys.stdin.read().encode("utf-8", ERRORS))
