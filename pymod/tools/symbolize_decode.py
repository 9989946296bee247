"""``pymod symbolize --debuginfo``: each frame annotated as the kernel's
``scripts/decode_stacktrace.sh`` annotates it.

The script reads a line (``read``: white space at both ends dropped); a line
holding ``[<...>]`` or ``name+0xoff/0xsize`` is rewritten, any other is
echoed.  A rewritten line is split into words; ``[<...>]`` words go, a
``[`` word before a ``123.456]`` one joins it as ``[%13s``; the last word
(or the one before a ``[module]`` / ``[module build-id]`` word) is the
frame.  Its name is found among the debug file's functions (``nm``: a
``t``/``T`` symbol), the offset added, and ``addr2line -i`` gives
``file:line`` for it and each inlined caller, innermost first, joined by
spaces, each with the build directory (``basepath``: where ``kernel_init``
says ``init/main.c`` is) stripped.  Output: the other words, then
``name (file:line ...) module``.  A frame not found keeps its text (the
module's brackets still dropped, as the script drops them).

Beyond the script: a line whose only kernel address ends it (``RIP:
0010:0xffffffffc0006015``, ``? 0xffffffff8100166d``) and that a symbol names
is decoded as if the kernel had printed that symbol (``%pB`` for return
addresses, as the kernel prints them today).  ``Code:`` lines, which the
script hands to ``decodecode``, are kept as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pymod.symbolize.lines import DebugFile, Frame
from pymod.symbolize.stackparse import Hit
from pymod.tools.common import terminal_safe

__all__ = ["Decoder", "Request", "frame_line"]

_RAW = re.compile(r"\[<([^]]+)>\]")
_NAMED = re.compile(r"[^+ ]+\+0x[0-9a-f]+/0x[0-9a-f]+")
_BUILD_ID_WORD = re.compile(r"^[0-9a-f]+\]")
_MODULE_WORD = re.compile(r"\[([^]]+)\]")


NO_LINE = Frame(None, "??", 0, 0, False)   # addr2line's "??:?"


@dataclass
class Request:
    """One line's frame: the words around it and what to look up."""

    words: list[str]
    segment: str
    name: str
    symbol: str           # the frame's text, kept when nothing is found
    module: str           # "" for vmlinux
    offset: int | None    # None: the name+offset could not be evaluated


def read_line(line: str) -> str:
    """What bash's ``read line`` leaves: no end-of-line, no white space at
    either end, a backslash escaping the next character."""
    body = line.rstrip("\r\n").rstrip("\r")
    if "\\" in body:
        body = re.sub(r"\\(.)", r"\1", body)
    return body.strip(" \t\n")


def parse(line: str) -> Request | None:
    """``handle_line``'s split of a line the script rewrites; None for a
    line it echoes."""
    if not (_RAW.search(line) or _NAMED.search(line)):
        return None
    words: list[str | None] = list(line.split())
    last = len(words) - 1
    for i, w in enumerate(words):
        if w is not None and "[<" in w and _RAW.search(w):
            words[i] = None
        elif w == "[" and i + 1 < len(words) and (words[i + 1] or "").endswith("]"):
            words[i] = None
            words[i + 1] = "[%13s" % words[i + 1]
    if last >= 1 and _BUILD_ID_WORD.match(words[last] or ""):
        words[last - 1] = "%s %s" % (words[last - 1] or "", words[last])
        words[last] = None
        last -= 1
    if last >= 1 and _MODULE_WORD.search(words[last] or ""):
        module = (words[last] or "").removesuffix(")").removeprefix("[").removesuffix("]")
        module = module.rsplit(" ", 1)[0] if " " in module else module
        symbol = words[last - 1] or ""
        words[last - 1] = None
    else:
        symbol, module = words[last] or "", ""
    words[last] = None
    return _request([w for w in words if w is not None], symbol, module)


def _request(words: list[str], symbol: str, module: str) -> Request:
    sym = symbol.removeprefix("(").removesuffix(")")
    segment = ""
    if ":" in sym:
        head, sym = sym.split(":", 1)
        segment = head + ":"
    name = sym.rsplit("+", 1)[0] if "+" in sym else sym
    expr = sym.rsplit("/", 1)[0] if "/" in sym else sym
    offset: int | None = 0
    rest = expr.replace(name, "", 1)
    if rest:
        try:
            offset = int(rest.removeprefix("+"), 0) if rest.startswith("+") else None
        except ValueError:
            offset = None
    return Request(words, segment, name, symbol, module, offset)


def frame_line(frames: Sequence[Frame], basepath: str | None) -> str:
    """``addr2line -i`` lines joined by spaces, the basepath stripped.
    addr2line prints the innermost frame's discriminator on every line of
    the chain (it is not reset for the inlined callers)."""
    disc = frames[0].discriminator if frames else 0
    out = []
    for f in frames:
        text = "%s:%s" % (f.file or "??", f.line if f.line else "?")
        if f.line and disc:
            text += " (discriminator %d)" % disc
        if basepath is not None and text.startswith(basepath + "/"):
            text = text[len(basepath) + 1:]
        out.append(text)
    return " ".join(out)


class Decoder:
    """Decodes chunks of lines against the debug files of each owner."""

    def __init__(self, debugs: Mapping[str | None, DebugFile],
                 warn: Any = None) -> None:
        self.debugs = debugs
        self.warn = warn or (lambda text: None)
        self._missing: set[str] = set()
        self.basepath = self._basepath()

    def _basepath(self) -> str | None:
        """The build directory, as the script finds it: the file of kernel_init."""
        got = self.chains([_request([], "kernel_init+0x0/0x0", "")])[0]
        if not got:
            return None
        code = frame_line(got, None)
        return code.split("/init/main.c:", 1)[0] if "/init/main.c:" in code else code

    def _debug(self, module: str) -> DebugFile | None:
        key = module or None
        if key in self.debugs:
            return self.debugs[key]
        if module and module not in self._missing:
            self._missing.add(module)
            self.warn("WARNING! Cannot find .ko for module %s, please pass a valid module path"
                      % module)
        return None

    def chains(self, reqs: Sequence[Request]) -> list[list[Frame] | None]:
        """Each request's frames (None: name or debug file not found), one
        native call per debug file."""
        out: list[list[Frame] | None] = [None] * len(reqs)
        groups: dict[str, list[tuple[int, int]]] = {}
        for i, r in enumerate(reqs):
            debug = self._debug(r.module) if r.offset is not None else None
            base = debug.address_of(r.name) if debug is not None else None
            if base is not None and r.offset is not None:
                groups.setdefault(r.module, []).append((i, (base + r.offset) & (2**64 - 1)))
        for module, rows in groups.items():
            debug = self.debugs[module or None]
            got = debug.lines.frames_many(np.array([a for _, a in rows], dtype=np.uint64))
            for k, (i, _) in enumerate(rows):
                # No line rows, but the symbol table has the function:
                # addr2line then names it from there, with no file or line.
                out[i] = got.chain(k) or [NO_LINE]
        return out

    def text(self, req: Request, frames: list[Frame] | None) -> str:
        """The script's output line for ``req``."""
        symbol = req.symbol
        if frames:
            symbol = "%s%s (%s)" % (req.segment, req.name, frame_line(frames, self.basepath))
        return " ".join([*req.words, "%s %s" % (symbol, req.module)])


def substituted(line: str, hits: Sequence[Hit], answers: Sequence[Any]) -> str:
    """``line`` with its only kernel address, when that ends the line and a
    symbol names it, replaced by the symbol's text (see the module doc)."""
    body = read_line(line)
    if len(hits) != 1 or answers[0].symbol is None or _RAW.search(body) or _NAMED.search(body):
        return body
    stripped = line.rstrip("\r\n").rstrip()
    hit = hits[0]
    if hit.end != len(stripped):
        return body
    return read_line(stripped[:hit.start] + answers[0].text)


def decode_chunk(decoder: Decoder, name: str, first: int, lines: Sequence[str],
                 per_line: Sequence[Sequence[Hit]], answers: Sequence[Sequence[Any]],
                 warnings: Sequence[Sequence[str]], as_json: bool) -> str:
    """The decoded text (or JSON Lines) of a chunk; one native lookup per
    debug file for all its frames."""
    numbers = range(first, first + len(lines))
    return "".join(decode_lines(decoder, name, numbers, lines, per_line, answers, warnings,
                                as_json))


def decode_lines(decoder: Decoder, name: str, numbers: Sequence[int], lines: Sequence[str],
                 per_line: Sequence[Sequence[Hit]], answers: Sequence[Sequence[Any]],
                 warnings: Sequence[Sequence[str]], as_json: bool) -> list[str]:
    """:func:`decode_chunk`'s output, one text per line (line numbers given)."""
    bodies = [substituted(line, h, a) for line, h, a in zip(lines, per_line, answers,
                                                             strict=True)]
    reqs = [parse(b) for b in bodies]
    asked = [r for r in reqs if r is not None]
    got = iter(decoder.chains(asked))
    out = []
    for k, (body, req) in enumerate(zip(bodies, reqs, strict=True)):
        frames = next(got) if req is not None else None
        text = body if req is None else decoder.text(req, frames)
        if as_json:
            out.append(_json(name, numbers[k], lines[k], text, req, frames, warnings[k]))
        else:
            # Once, on the whole line: the names the symbols and debug files
            # put in it, and the warnings, never reach the terminal raw.
            out.append(terminal_safe(text + "".join(" [%s]" % w for w in warnings[k])) + "\n")
    return out


def _json(file: str, lineno: int, line: str, text: str, req: Request | None,
          frames: list[Frame] | None, warnings: Sequence[str]) -> str:
    import json

    from pymod.tools.common import json_text

    record: dict[str, Any] = {"file": json_text(file), "line": lineno,
                              "text": json_text(line.rstrip("\r\n")), "decoded": json_text(text)}
    if req is not None:
        record["frame"] = {
            "name": json_text(req.name), "offset": req.offset,
            "module": json_text(req.module) if req.module else None,
            "source": None if frames is None else [
                {"function": None if f.function is None else json_text(f.function),
                 "file": json_text(f.file), "line": f.line, "column": f.column,
                 "inlined": f.inlined} for f in frames]}
    if warnings:
        record["warnings"] = [json_text(w) for w in warnings]
    return json.dumps(record, ensure_ascii=False) + "\n"
