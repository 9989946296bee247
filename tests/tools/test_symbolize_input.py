"""``pymod symbolize`` reads its input a block at a time (LineReader): the
lines are those ``readline(MAX_LINE)`` gives, decoded, whatever the blocks,
line breaks other than "\\n", long lines or multi-byte characters; and a
chunk stays bounded in lines and in size."""

from __future__ import annotations

import io
import random

import pytest

from pymod.tools import symbolize_input
from pymod.tools.common import ERRORS
from pymod.tools.symbolize_input import MAX_LINE, LineReader, bounded_lines

PIECES = [b"ffffffff81000000", b"\n", b"\r\n", b"\r", b"\x0b", b"\x1c", b"\xe2\x80\xa8",
          b"\xc2\x85", b"caf\xc3\xa9", b"\xff", b"\xc3", b" ", b"\x00"]


def _by_readline(data: bytes) -> list[str]:
    return [raw.decode("utf-8", ERRORS) for raw in bounded_lines(io.BytesIO(data))]


def _by_reader(data: bytes, most: int) -> list[list[str]]:
    reader = LineReader(io.BytesIO(data))
    chunks = []
    while chunk := reader.take(most):
        chunks.append(chunk)
    return chunks


@pytest.mark.parametrize("block", [pytest.param(1, marks=pytest.mark.slow), 7, 4096, 1 << 20])
def test_lines_equal_readline(monkeypatch, block):
    monkeypatch.setattr(symbolize_input, "BLOCK", block)
    rng = random.Random(block)
    for trial in range(60):
        pieces = PIECES if trial % 2 else PIECES[:2]    # only "\n" breaks, or all kinds
        data = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 200)))
        if trial % 10 < 2:            # lines about MAX_LINE long, cut anywhere
            data += b"a" * (MAX_LINE - 8 + trial % 3) + b"\xc3\xa9" * 5 + b"\n" + data
        chunks = _by_reader(data, 5)
        assert [ln for c in chunks for ln in c] == _by_readline(data)
        assert all(0 < len(c) <= 5 for c in chunks)


def test_endless_line_comes_in_pieces(monkeypatch):
    data = b"x" * (3 * MAX_LINE + 5)
    assert [len(x) for c in _by_reader(data, 2) for x in c] == [MAX_LINE] * 3 + [5]


def test_chunk_size_is_bounded(monkeypatch):
    monkeypatch.setattr(symbolize_input, "CHUNK_BYTES", 1000)
    data = b"".join(b"%099d\n" % k for k in range(100))
    chunks = _by_reader(data, 4096)
    assert [len(c) for c in chunks] == [10] * 10
