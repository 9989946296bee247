"""A small DER reader for the signature formats (PKCS#7, X.509): definite
lengths and one-byte tags only, the elements of a container read one at a
time, so that no input -- however many elements it holds -- becomes a
Python object per element, and OBJECT IDENTIFIERs turned into text only
within a bound.

Errors are :class:`DerError` (EBADMSG) with a plain message; the formats
above it add their own prefix.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

from pymod.errors import PymodError

__all__ = ["DerError", "Tlv", "Fields", "oid_str", "oid_well_formed", "MAX_OID_TEXT"]

#: An OID whose contents are longer than this is shown abbreviated.  No real
#: one comes near (the kernel's registry's longest is 11 bytes), and the text
#: of a long arc costs time quadratic in its length.
MAX_OID_TEXT = 64


class DerError(PymodError):
    """Input that is not the DER the caller expects (EBADMSG)."""

    def __init__(self, message: str):
        super().__init__(errno.EBADMSG, message)


class Tlv:
    """One DER element inside ``buf``: tag, and the value's [start, end)."""

    __slots__ = ("buf", "tag", "start", "end", "offset")

    def __init__(self, buf: bytes, pos: int, limit: int):
        if pos + 2 > limit:
            raise DerError("element header runs past its container at offset %d" % pos)
        self.buf = buf
        self.offset = pos
        self.tag = buf[pos]
        if self.tag & 0x1F == 0x1F:
            raise DerError("multi-byte tag at offset %d" % pos)
        first = buf[pos + 1]
        pos += 2
        if first < 0x80:
            length = first
        elif first == 0x80:
            raise DerError("indefinite length (BER) at offset %d" % (pos - 1))
        else:
            n = first & 0x7F
            if n > 8 or pos + n > limit:
                raise DerError("bad length field at offset %d" % (pos - 1))
            length = int.from_bytes(buf[pos:pos + n], "big")
            pos += n
        if pos + length > limit:
            raise DerError("element at offset %d (length %d) runs past its container"
                           % (pos, length))
        self.start, self.end = pos, pos + length

    @property
    def value(self) -> bytes:
        return self.buf[self.start:self.end]

    @property
    def whole(self) -> bytes:
        """The element with its header."""
        return self.buf[self.offset:self.end]

    def fields(self) -> Fields:
        """A cursor over the children, read one at a time."""
        return Fields(self.buf, self.start, self.end)

    def expect(self, tag: int, what: str) -> Tlv:
        if self.tag != tag:
            raise DerError("%s: expected tag %#04x, found %#04x" % (what, tag, self.tag))
        return self


class Fields:
    """The children of a constructed element, in order: a later sibling's
    broken header is met only after the earlier ones were judged, as a
    streaming decoder meets it."""

    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes, pos: int, end: int):
        self.buf, self.pos, self.end = buf, pos, end

    def __iter__(self) -> Iterator[Tlv]:
        while self.pos < self.end:
            yield self.take()

    def take(self) -> Tlv:
        t = Tlv(self.buf, self.pos, self.end)
        self.pos = t.end
        return t

    def next(self, what: str) -> Tlv:
        """The next child; DerError naming ``what`` when there is none."""
        if self.pos >= self.end:
            raise DerError("%s missing" % what)
        return self.take()

    def optional(self, *tags: int) -> Tlv | None:
        """The next child when its tag is one of ``tags``, else None (and
        nothing is consumed)."""
        if self.pos < self.end and self.buf[self.pos] in tags:
            return self.take()
        return None

    def done(self) -> bool:
        return self.pos >= self.end

    def end_of(self, what: str) -> None:
        """Nothing may follow the fields read (a decoder's "Cons length error")."""
        if self.pos < self.end:
            raise DerError("%s: unexpected data after its last field at offset %d"
                           % (what, self.pos))


def oid_well_formed(raw: bytes) -> bool:
    """Contents an X.690 reader takes: not empty, the last arc complete."""
    return bool(raw) and not raw[-1] & 0x80


def _dotted(arcs: list[int]) -> str:
    top = min(arcs[0] // 40, 2)
    return ".".join(map(str, [top, arcs[0] - 40 * top] + arcs[1:]))


_TEXT: dict[bytes, str] = {}      # the texts met so far (a SET of one OID, many times)


def oid_str(raw: bytes) -> str:
    """Dotted form of an OBJECT IDENTIFIER's contents.  Contents longer than
    :data:`~pymod.elf.der.MAX_OID_TEXT` bytes give the dotted form of their first arcs and
    ``...(N bytes)``; malformed ones ``(malformed OID xx..)``: neither is a
    dotted OID, so neither equals one."""
    raw = bytes(raw)
    text = _TEXT.get(raw) if len(raw) <= MAX_OID_TEXT else None
    if text is not None:
        return text
    if not oid_well_formed(raw):
        return "(malformed OID %s)" % raw[:MAX_OID_TEXT].hex()
    arcs: list[int] = []
    value = 0
    for b in raw[:MAX_OID_TEXT]:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    if len(raw) > MAX_OID_TEXT:
        return "%s...(%d bytes)" % (_dotted(arcs) if arcs else "", len(raw))
    text = _dotted(arcs)
    if len(_TEXT) < 4096:
        _TEXT[raw] = text
    return text
