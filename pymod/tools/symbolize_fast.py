"""``pymod symbolize --debuginfo``'s batch path for bare address lists.

A profiler's or a script's list of addresses (one kernel address per line,
``0x`` optional) is the big input: 10^5 lines and more.  Line by line, the
general path costs tens of microseconds each (scan, lookup, the script's
word split, a name lookup, a frame list).  Here such a line is decoded in
batch, with the same result: the address is named by one
``symbolize_many`` over the chunk, the name found again in the debug file
(``decode_stacktrace.sh`` takes ``name+offset`` back through ``nm``: a name
shared by several functions answers from the lowest), each distinct
debug-file address asked once of the index, and each distinct frame text
built once.  Over the C index, C writes the whole line
(:func:`pymod.dwarf.text.decode_bare`): building 10^5 strings in Python
cost more than everything else the command does.

A line takes this path only when the general one would treat it exactly
so: a bare address outside an oops' Call Trace and a bpftrace key (the
scanner's neutral state, which such a line keeps), the default ``%pS``
format, and a vmlinux answer whose name the script's word split leaves
whole.  Every other line (and every line of a chunk with JSON or another
format) goes the general way, in order, in one batch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pymod.dwarf.native import LineIndex
from pymod.dwarf.text import LEFT, NOT_HERE, WRITTEN, chain_texts, decode_bare
from pymod.symbolize.lines import AsciiStrtab, ascii_names, decode_ascii
from pymod.symbolize.stackparse import KERNEL_BASE, Hit, StackScanner, kernel_addresses
from pymod.symbolize.symbolizer import FOUND
from pymod.tools.common import CONTROL_CHARS, terminal_safe

__all__ = ["fast_decode", "usable"]

_BARE_LINE = re.compile(r"(?:0[xX])?[0-9a-fA-F]{16}\n?")
_ALL_BARE = re.compile(r"(?:(?:0[xX])?[0-9a-fA-F]{16}\n)*(?:(?:0[xX])?[0-9a-fA-F]{16}\n?)?")
# A name the script's split leaves whole, and its name+offset evaluates
# as is: no white space, brackets, parentheses, segment colon, '+', '/' or
# backslash (read's escape); nor a control byte, which the general path
# spells \xNN (terminal_safe) after the lookup.
_PLAIN_NAME = re.compile(r"[^\s\[\]()<>:+/\\%s]+" % CONTROL_CHARS)

# The general path for some lines: (line numbers, lines, their hits) ->
# one output text per line, in order.
Slow = Callable[[Sequence[int], Sequence[str], Sequence[Sequence[Hit]]], list[str]]


def usable(annotator: Any, as_json: bool) -> bool:
    """Whether a chunk may take the batch path at all."""
    return (annotator.decoder is not None and not as_json and not annotator.all_backtrace
            and annotator.add_offset and not annotator.add_build_id)


def fast_decode(first: int, lines: Sequence[str], scanner: StackScanner, annotator: Any,
                report: Any, slow: Slow) -> str:
    """The decoded text of a chunk: bare address lines in batch, the others
    through ``slow`` (with the scanner's hits, found in order)."""
    n = len(lines)
    bare: list[int] = []
    others: list[int] = []
    hits: dict[int, list[Hit]] = {}
    if not scanner.in_trace and not scanner.in_key and _ALL_BARE.fullmatch("".join(lines)):
        bare = list(range(n))
        scanner.run = 0
    else:
        match = _BARE_LINE.fullmatch
        for k, line in enumerate(lines):
            if not scanner.in_trace and not scanner.in_key and match(line):
                scanner.run = 0             # what scan() does to a bare line here
                bare.append(k)
            else:
                others.append(k)
                hits[k] = scanner.scan(line)
    out: list[str | None] = [None] * n
    back = _bare_lines(lines, bare, annotator, report, out)
    for k in back:                          # a neutral bare line: scan()'s hits
        hits[k] = kernel_addresses(lines[k].rstrip("\r\n"), False)
    rest = sorted(others + back)
    if rest:
        texts = slow([first + k for k in rest], [lines[k] for k in rest], [hits[k] for k in rest])
        for k, text in zip(rest, texts, strict=True):
            out[k] = text
    return "".join(out)  # type: ignore[arg-type]


def _bare_lines(lines: Sequence[str], bare: list[int], annotator: Any, report: Any,
                out: list[str | None]) -> list[int]:
    """Fill ``out`` for the bare lines it can; the ones it leaves."""
    if not bare:
        return []
    texts = [lines[k].rstrip("\n") for k in bare]
    values = np.array([int(t, 16) for t in texts], dtype=np.uint64)
    kernel = values >= np.uint64(KERNEL_BASE)
    rows = np.flatnonzero(kernel)
    res = annotator.symbolizer.symbolize_many(values[rows]) if rows.size else None
    if res is not None:
        found = res.reason == FOUND
        decoded, ok = _decoded(annotator.decoder, res, found)
        at = rows[found][ok]
        for k, text in zip(np.asarray(bare)[at].tolist(), decoded, strict=True):
            out[k] = text
        echo = np.flatnonzero(~kernel).tolist() + rows[~found].tolist()
        back = rows[found][~ok]
        # The lines given back are counted on the general path.
        report.counted(int(found.sum()) - len(back), len(rows) - len(back))
    else:
        echo = np.flatnonzero(~kernel).tolist()
        back = rows
    for k in echo:                    # nothing names it: the line as read
        out[bare[k]] = texts[k] + "\n"
    given_back: list[int] = np.asarray(bare)[back].tolist()
    return given_back


def _decoded(decoder: Any, res: Any, found: Any) -> tuple[list[str], Any]:
    """The output line of each found answer ``name+0xoff/0xsize`` that this
    path takes (``ok``), as the script writes it: ``name (file:line ...) ``.
    Over the C index, C writes them (:func:`pymod.dwarf.text.decode_bare`)
    but for the rows it leaves to :func:`_python_decoded`."""
    n = int(found.sum())
    debug = decoder.debugs.get(None) if None in decoder.debugs else None
    if debug is None or decoder.basepath is not None and ":" in decoder.basepath:
        return [], np.zeros(n, np.bool_)
    index = getattr(debug.lines, "index", None)
    if not isinstance(index, LineIndex) or debug.symbols is None:
        return _python_decoded(decoder, debug, res, found)
    strip = None if decoder.basepath is None else decoder.basepath + "/"
    rows = np.flatnonzero(found)
    tags, syms, offs = res.table[rows], res.symbol[rows], res.offset[rows]
    flags = np.full(n, NOT_HERE, np.uint8)
    texts = [""] * n
    for tag in np.unique(tags).tolist():
        table = res.owners[tag].symbols
        if res.owners[tag].module is not None:
            continue                    # the script's module path: the general one
        mine = np.flatnonzero(tags == tag)
        got, flags[mine] = decode_bare(index, debug.name_map(), table.strtab,
                                       table.names[syms[mine]], offs[mine], strip)
        if len(mine) == n:
            texts = got
        else:
            for k, text in zip(mine.tolist(), got, strict=True):
                texts[k] = text
    left = np.flatnonzero(flags == LEFT)
    ok = flags == WRITTEN
    if left.size:
        sub = np.zeros(len(found), np.bool_)
        sub[rows[left]] = True
        more, more_ok = _python_decoded(decoder, debug, res, sub)
        ok[left] = more_ok
        for k, text in zip(left[more_ok].tolist(), more, strict=True):
            texts[k] = text
    return [texts[k] for k in np.flatnonzero(ok).tolist()], ok


def _python_decoded(decoder: Any, debug: Any, res: Any, found: Any) -> tuple[list[str], Any]:
    """:func:`_decoded` in Python: each distinct symbol named and found in
    the debug file once, each distinct address's chain made once."""
    key = (res.table[found].astype(np.uint64) << np.uint64(32)) | \
        res.symbol[found].astype(np.uint64)
    ukey, inv = np.unique(key, return_inverse=True)
    names, bases, ok_u = _symbols(res, debug, ukey.tolist())
    ok = ok_u[inv.ravel()]
    inv = inv.ravel()[ok]
    at = bases[inv] + res.offset[found][ok].astype(np.uint64)
    uat, inv2 = np.unique(at, return_inverse=True)
    chains = _chain_texts(debug.lines, uat, decoder.basepath)
    row_names = np.array(names, dtype=object)[inv].tolist()
    row_chains = np.array(chains, dtype=object)[inv2.ravel()].tolist()
    return ["%s (%s) \n" % nc for nc in zip(row_names, row_chains, strict=True)], ok


def _symbols(res: Any, debug: Any, keys: list[int]) -> tuple[list[str], Any, Any]:
    """Name, debug-file address and whether this path takes each distinct
    answer symbol: a vmlinux symbol whose name the script's split leaves
    whole and the debug file has (else the script keeps the frame text)."""
    tags = np.array(keys, dtype=np.uint64) >> np.uint64(32)
    idx = np.array(keys, dtype=np.uint64) & np.uint64(0xFFFFFFFF)
    names = [""] * len(keys)
    for tag in np.unique(tags).tolist():
        owner = res.owners[tag]
        if owner.module is not None:
            continue
        at = np.flatnonzero(tags == tag)
        for j, name in zip(at.tolist(), _names_of(owner.symbols, idx[at]), strict=True):
            names[j] = name
    odd = set()
    joined = "\n".join(names)
    if _ODD.search(joined) or joined.count("\n") != len(names) - 1:
        odd = {j for j, name in enumerate(names) if not _PLAIN_NAME.fullmatch(name)}
    asked = [j for j, name in enumerate(names) if name and j not in odd]
    got: list[int | None] = [None] * len(names)
    for j, a in zip(asked, debug.addresses_of([names[j] for j in asked]), strict=True):
        got[j] = a
    ok = np.array([a is not None for a in got], dtype=np.bool_)
    bases = np.array([a or 0 for a in got], dtype=np.uint64)
    return names, bases, ok


# A character that :data:`_PLAIN_NAME` refuses, "\n" aside (the joiner).
_ODD = re.compile(r"(?!\n)[\s\[\]()<>:+/\\%s]" % CONTROL_CHARS)
_DECODED: dict[int, tuple[bytes, AsciiStrtab]] = {}


def _names_of(table: Any, idx: Any) -> list[str]:
    """The names of the symbols ``idx`` of ``table``; an ASCII string table
    is decoded once (kept for the next chunk)."""
    strtab = table.strtab
    got = _DECODED.get(id(strtab))
    if got is None or got[0] is not strtab:
        if not strtab.isascii():
            return [table.name(i) for i in idx.tolist()]
        got = (strtab, decode_ascii(strtab))
        _DECODED.clear()
        _DECODED[id(strtab)] = got
    return ascii_names(got[1], table.names[idx])


def _columns(lines: Any, addrs: Any) -> tuple[Any, Any, Any, Any, Any, Callable[[int], str]]:
    """The frames of ``addrs`` as columns: counts, offsets, file ids, lines,
    discriminators, and the text of a file id (a file's name decoded once)."""
    index = getattr(lines, "index", None)
    if index is not None and hasattr(index, "lookup_many") and hasattr(index, "string"):
        counts, offsets, frames = index.lookup_many(np.ascontiguousarray(addrs, np.uint64))
        string = index.string
        return (counts, offsets, np.asarray(frames.file, np.uint64), frames.line,
                frames.discriminator, lambda o: string(o) or "??")
    got = lines.frames_many(np.ascontiguousarray(addrs, np.uint64))
    ids: dict[Any, int] = {}
    fid = np.array([ids.setdefault(f, len(ids)) for f in got.table.file], dtype=np.uint64)
    files = list(ids)
    disc = got.table.discriminator
    if disc is None:
        disc = np.zeros(len(fid), np.uint32)
    return (got.counts, got.offsets, fid, got.table.line, disc,
            lambda i: files[i] or "??")


def _chain_texts(lines: Any, addrs: Any, basepath: str | None) -> list[str]:
    """``frame_line`` of every address's chain ("??:?" for none): the C
    index writes them (:func:`pymod.dwarf.text.chain_texts`), but for the
    few it leaves to Python."""
    index = getattr(lines, "index", None)
    if not isinstance(index, LineIndex):
        return _python_chain_texts(lines, addrs, basepath)
    texts, left = chain_texts(index, addrs, None if basepath is None else basepath + "/")
    rows = np.flatnonzero(left)
    if rows.size:
        for k, text in zip(rows.tolist(), _python_chain_texts(lines, addrs[rows], basepath),
                           strict=True):
            texts[k] = text
    return texts


def _python_chain_texts(lines: Any, addrs: Any, basepath: str | None) -> list[str]:
    """``frame_line`` of every address's chain ("??:?" for none), each
    distinct frame text made once; addr2line prints the innermost frame's
    discriminator on every frame of a chain."""
    from pymod.tools.symbolize_decode import NO_LINE, frame_line

    counts, offsets, fid, fline, fdisc, file_text = _columns(lines, addrs)
    counts = np.asarray(counts, np.int64)
    has = counts > 0
    lens = counts[has]
    starts = np.asarray(offsets, np.int64)[has]
    total = int(lens.sum())
    cstart = np.cumsum(lens) - lens
    inner = np.repeat(starts, lens)
    frame = inner + (np.arange(total) - np.repeat(cstart, lens))
    key = (np.asarray(fid, np.uint64)[frame] << np.uint64(32)) | \
        np.asarray(fline, np.uint64)[frame]
    u1, i1 = np.unique(key, return_inverse=True)
    key2 = (i1.ravel().astype(np.uint64) << np.uint64(32)) | np.asarray(fdisc, np.uint64)[inner]
    u2, i2 = np.unique(key2, return_inverse=True)
    texts = np.array(_frame_texts(u1, u2, file_text, basepath),
                     dtype=object)[i2.ravel()].tolist() if total else []
    chains = [texts[a] if n == 1 else " ".join(texts[a:a + n])
              for a, n in zip(cstart.tolist(), lens.tolist(), strict=True)]
    out = [frame_line([NO_LINE], basepath)] * len(counts)
    for i, text in zip(np.flatnonzero(has).tolist(), chains, strict=True):
        out[i] = text
    return out


def _frame_texts(u1: Any, u2: Any, file_text: Callable[[int], str],
                 basepath: str | None) -> list[str]:
    """The ``frame_line`` text of each distinct (file, line, discriminator):
    ``u1`` holds file << 32 | line, ``u2`` an index into ``u1`` << 32 |
    discriminator.  A basepath without ':' strips a file exactly as
    ``frame_line`` strips ``file:line``."""
    prefix = None if basepath is None else basepath + "/"
    fids = (u1 >> np.uint64(32)).tolist()
    flines = (u1 & np.uint64(0xFFFFFFFF)).tolist()
    names: dict[int, str] = {}
    for f in set(fids):
        name = file_text(f)
        if prefix is not None and name.startswith(prefix):
            name = name[len(prefix):]
        names[f] = terminal_safe(name)      # as the general path spells its line
    out = []
    for k in u2.tolist():
        j, disc = k >> 32, k & 0xFFFFFFFF
        line = flines[j]
        text = "%s:%s" % (names[fids[j]], line if line else "?")
        if line and disc:
            text += " (discriminator %d)" % disc
        out.append(text)
    return out
