"""C strings inside ELF tables: the one reader every table lookup uses."""

from __future__ import annotations

from collections.abc import Callable

ENCODING = "utf-8"
ERRORS = "surrogateescape"   # bytes that are not UTF-8 survive a round trip


def c_bytes(buf: bytes | memoryview, offset: int = 0) -> bytes:
    """What ``printf("%s")`` shows: from ``offset`` up to the first NUL (or the end)."""
    data = bytes(buf[offset:]) if offset else bytes(buf)
    end = data.find(b"\0")
    return data if end < 0 else data[:end]


def decode(raw: bytes) -> str:
    """Bytes -> str, reversibly (``surrogateescape``)."""
    return raw.decode(ENCODING, ERRORS)


def c_string(buf: bytes, offset: int) -> str:
    """NUL-terminated string at ``offset`` (to the end if unterminated); "" when out of range."""
    if offset < 0 or offset >= len(buf):
        return ""
    end = buf.find(b"\0", offset)
    # decode() inlined: __versions alone asks for tens of thousands of names
    return buf[offset:end if end >= 0 else len(buf)].decode(ENCODING, ERRORS)


def string_reader(buf: bytes) -> Callable[[int], str]:
    """``offset -> c_string(buf, offset)`` for many lookups in one string table.

    An ASCII table (every real one) is decoded once, with a NUL appended so
    that every lookup finds an end; other tables go through :func:`c_string`.
    """
    if not buf.isascii():
        return lambda offset: c_string(buf, offset)
    text = buf.decode("ascii") + "\0"
    find = text.find
    size = len(buf)

    def name_at(offset: int) -> str:
        if offset < 0 or offset >= size:
            return ""
        return text[offset:find("\0", offset)]
    return name_at
