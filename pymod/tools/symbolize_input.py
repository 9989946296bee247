"""``pymod symbolize``'s input: lines of bounded length, taken in chunks of
bounded size, so memory stays bounded whatever comes in."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Iterator
from typing import IO

from pymod.tools.common import ERRORS

__all__ = ["CHUNK_BYTES", "MAX_LINE", "bounded_lines", "take", "stdin_bytes"]

# A longer line (or endless input without newlines, such as /dev/zero) is
# taken in pieces of this size, so memory stays bounded whatever comes in.
MAX_LINE = 64 << 10


def bounded_lines(stream: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of ``stream``, each at most ``MAX_LINE`` bytes."""
    readline = getattr(stream, "readline", None)
    if readline is None:
        for line in stream:
            for k in range(0, max(len(line), 1), MAX_LINE):
                yield line[k:k + MAX_LINE]
        return
    while line := readline(MAX_LINE):
        yield line


# A chunk also stops at this many bytes (long lines make few lines large).
CHUNK_BYTES = 4 << 20


def take(lines: Iterator[bytes], most: int) -> list[bytes]:
    """The next chunk: up to ``most`` lines and about CHUNK_BYTES bytes."""
    chunk: list[bytes] = []
    size = 0
    for line in lines:
        chunk.append(line)
        size += len(line)
        if len(chunk) >= most or size >= CHUNK_BYTES:
            break
    return chunk


def stdin_bytes() -> IO[bytes]:
    """Standard input as bytes (a replaced ``sys.stdin`` without a buffer too)."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:
        return buffer  # type: ignore[no-any-return]
    return io.BytesIO(sys.stdin.read().encode("utf-8", ERRORS))
