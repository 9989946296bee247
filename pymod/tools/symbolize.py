"""``pymod symbolize``: annotate every kernel address in oops, ``dmesg``,
``perf script``, bpftrace or plain address text with its ``%pS`` text.

Input is read in chunks of :data:`CHUNK_LINES` lines; each chunk's addresses
are answered by one :meth:`~pymod.symbolize.Symbolizer.symbolize_many` call
(return addresses as ``addr - 1``, their offset printed plus one, as
``%pB`` does), then written out, so memory stays constant however long the
input.  Which addresses are return addresses is decided by
:class:`~pymod.symbolize.stackparse.StackScanner`; where the symbols come
from by :mod:`pymod.tools.symbolize_sources`.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import sys
from collections.abc import Sequence
from typing import IO, Any, NamedTuple

import numpy as np

from pymod.symbolize.fmt import Format, format_unknown
from pymod.symbolize.stackparse import Hit, StackScanner
from pymod.symbolize.symbolizer import (
    FOUND,
    NO_SYMBOL,
    NO_SYMBOLS,
    UNKNOWN,
    Symbol,
    Symbolizer,
)
from pymod.symbolize.tracenames import NamedFrame, named_frames, pair, trace_identity
from pymod.tools.common import error, json_text, os_message, terminal_safe, write
from pymod.tools.symbolize_decode import Decoder, decode_lines
from pymod.tools.symbolize_fast import fast_decode, usable
from pymod.tools.symbolize_input import LineReader, stdin_bytes
from pymod.tools.symbolize_report import STRICT_EXIT, Report
from pymod.tools.symbolize_sources import check_options, identity_of, make_symbolizer

__all__ = ["main", "Answer", "Annotator", "annotate_line", "json_line", "CHUNK_LINES"]

PROG = "pymod symbolize"
CHUNK_LINES = 4096                 #: input lines answered by one lookup batch
ARROW = " <- "
REASONS = {FOUND: "found", UNKNOWN: "unknown address", NO_SYMBOLS: "module without symbols",
           NO_SYMBOL: "no symbol"}

EPILOG = """\
annotation:
  A line with at least one kernel address that a symbol names gets
  " <- " and the %pS text of each of its kernel addresses appended (in the
  order they appear, separated by "; ", "0x..." for one nothing names);
  the line is otherwise kept byte for byte.  Other lines are unchanged.
  A control byte in a name (ESC, BEL, a newline ...) is written \\xNN.
  Return addresses use the backtrace lookup (%pB: addr-1 is looked up and
  the offset printed plus one): the frames after "Call Trace:" in an oops
  (not its RIP:/register lines), and every frame but the first of a
  perf script / bpftrace call chain.  --format B uses %pB for every
  address, --exact uses %pS for every address.

inputs recognized:
  oops/dmesg (x86-64)   RIP: 0010:0xffffffffc0a1b2c3, [<ffffffffc0a1b2c3>],
                        ? 0xffffffffc0a1b2c3 lines inside Call Trace
  perf script           \\tffffffff81234567 sym+0x5 ([kernel.kallsyms])
  bpftrace kstack       indented 0xffffffff81234567 or func+off lines, and
                        kstack(raw) lines inside an @[ ... ] key
  bare addresses        one per line, with or without 0x
  A kernel address is 16 hex digits (0x optional) >= 0xffff800000000000.

foreign traces:
  Where a line names an address itself ([<addr>] foo+0x1a/0x30, perf's
  addr foo+0x1a), a name other than pymod's is warned about on that line
  ("[warning: the trace names it ...]"); so is a release (the CPU: ... PID:
  ... Comm: line) or build id ([mod <build id>]) other than the symbols',
  where the symbols' is known.  A summary on stderr counts them and the
  unresolved addresses; --strict then exits with status 3.

sources:
  With no --kallsyms, --system-map or --ko-dir the running system's
  /proc/kallsyms and /proc/modules are read (as root: an unprivileged
  reader sees zeros, which is refused).
"""


class Answer(NamedTuple):
    """What one address is annotated with.

    :text: the ``%pS`` (or ``--format``) text, ``0x…`` when not found
    :reason: the symbolizer's reason code (``FOUND`` ...)
    :symbol: the symbol, its offset as printed, or None
    """

    text: str
    reason: int
    symbol: Symbol | None


class Annotator:
    """Answers a chunk's addresses with one batch lookup."""

    def __init__(self, symbolizer: Symbolizer, fmt: str = "S", exact: bool = False) -> None:
        self.symbolizer = symbolizer
        self.all_backtrace = fmt == "B"
        self.exact = exact
        self.add_offset = fmt != "s"
        self.add_build_id = fmt == "Sb"
        self.decoder: Decoder | None = None     # --debuginfo: decode_stacktrace.sh's lines

    def backtrace(self, hit: Hit) -> bool:
        """Whether ``hit`` is looked up as ``%pB`` does."""
        return self.all_backtrace or (hit.backtrace and not self.exact)

    def answers(self, hits: Sequence[Hit]) -> list[Answer]:
        """One answer per hit, in order, from one ``symbolize_many`` call."""
        n = len(hits)
        bt = np.fromiter((self.backtrace(h) for h in hits), dtype=np.bool_, count=n)
        addrs = np.fromiter((h.addr for h in hits), dtype=np.uint64, count=n)
        res = self.symbolizer.symbolize_many(addrs - bt.astype(np.uint64))
        reason, table, index = res.reason.tolist(), res.table.tolist(), res.symbol.tolist()
        offset, size = res.offset.tolist(), res.size.tolist()
        owners: dict[tuple[int, int], tuple[str, str | None, bytes | None]] = {}
        out = []
        for i, hit in enumerate(hits):
            if reason[i] != FOUND:
                out.append(Answer(format_unknown(hit.addr), reason[i], None))
                continue
            key = (table[i], index[i])
            entry = owners.get(key)
            if entry is None:
                owner = res.owners[key[0]]
                entry = owners[key] = (owner.symbols.name(key[1]), owner.module, owner.build_id)
            b = bool(bt[i])
            sym = Symbol(entry[0], offset[i] + b, size[i], entry[1], entry[2], b)
            out.append(Answer(sym.format(Format(b, self.add_offset, self.add_build_id)),
                              FOUND, sym))
        return out


def _split_eol(line: str) -> tuple[str, str]:
    body = line.rstrip("\r\n")
    return body, line[len(body):]


def annotate_line(line: str, answers: Sequence[Answer]) -> str:
    """``line`` with its annotation (unchanged when nothing was found); the
    names in it are :func:`~pymod.tools.common.terminal_safe`."""
    if not any(a.symbol is not None for a in answers):
        return line
    body, eol = _split_eol(line)
    return body + ARROW + "; ".join(terminal_safe(a.text) for a in answers) + eol


def _address_dict(hit: Hit, answer: Answer, backtrace: bool) -> dict[str, Any]:
    sym = answer.symbol
    return {"address": "0x%016x" % hit.addr, "column": hit.start,
            "lookup": "B" if backtrace else "S", "found": sym is not None,
            "reason": REASONS.get(answer.reason, str(answer.reason)),
            "symbol": json_text(answer.text),
            "name": None if sym is None else json_text(sym.name),
            "offset": None if sym is None else sym.offset,
            "size": None if sym is None else sym.size,
            "module": None if sym is None or sym.module is None else json_text(sym.module)}


def json_line(file: str, lineno: int, line: str, hits: Sequence[Hit],
              answers: Sequence[Answer], annotator: Annotator,
              paired: dict[int, NamedFrame] | None = None,
              warnings: Sequence[str] = ()) -> str:
    """One JSON Lines record: the input line and its addresses (with the
    trace's own name of an address as "trace_name", and the line's
    foreign-trace "warnings" when there are any)."""
    addresses = [_address_dict(h, a, annotator.backtrace(h))
                 for h, a in zip(hits, answers, strict=True)]
    for k, named in (paired or {}).items():
        addresses[k]["trace_name"] = json_text(named.text())
    record: dict[str, Any] = {"file": json_text(file), "line": lineno,
                              "text": json_text(_split_eol(line)[0]), "addresses": addresses}
    if warnings:
        record["warnings"] = [json_text(w) for w in warnings]
    return json.dumps(record, ensure_ascii=False) + "\n"


class _Progress:
    """``lines processed`` on a terminal stderr, cleared at the end."""

    def __init__(self) -> None:
        self.on = sys.stderr.isatty()
        self.lines = 0

    def add(self, n: int) -> None:
        self.lines += n
        if self.on:
            sys.stderr.write("\r%s: %d lines" % (PROG, self.lines))
            sys.stderr.flush()

    def done(self) -> None:
        if self.on and self.lines:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _checks(name: str, lineno: int, line: str, hits: Sequence[Hit], answers: Sequence[Answer],
            annotator: Annotator, report: Report) -> tuple[list[str], dict[int, NamedFrame]]:
    """The line's warnings (foreign trace) and the named frame of each hit."""
    warnings = []
    if "Comm:" in line:
        ident = trace_identity(line)
        said = report.release_line(ident) if ident is not None else None
        if said:
            warnings.append(said)
    paired = pair([h.start for h in hits], named_frames(line)) if hits else {}
    for k, named in paired.items():
        exact = None
        if annotator.backtrace(hits[k]):
            exact = functools.partial(annotator.symbolizer.symbolize, hits[k].addr)
        said = report.frame(name, lineno, named, answers[k].symbol, exact)
        if said:
            warnings.append(said)
    report.counted(sum(a.symbol is not None for a in answers), len(answers))
    return warnings, paired


def _chunk_text(name: str, first: int, lines: list[str], scanner: StackScanner,
                annotator: Annotator, as_json: bool, report: Report) -> str:
    """The output for one chunk of lines (``first`` is its first line number)."""
    if fast_path and usable(annotator, as_json):
        return fast_decode(first, lines, scanner, annotator, report,
                           functools.partial(_line_texts, name, annotator, as_json, report))
    per_line = [scanner.scan(line) for line in lines]
    numbers = range(first, first + len(lines))
    return "".join(_line_texts(name, annotator, as_json, report, numbers, lines, per_line))


# False: every line on the general path (the tests compare both paths).
fast_path = True


def _line_texts(name: str, annotator: Annotator, as_json: bool, report: Report,
                numbers: Sequence[int], lines: Sequence[str],
                per_line: Sequence[Sequence[Hit]]) -> list[str]:
    """The output of each line, given the scanner's hits of each."""
    flat = list(itertools.chain.from_iterable(per_line))
    answers = annotator.answers(flat) if flat else []
    out = []
    at = 0
    decoded: list[tuple[Sequence[Answer], list[str]]] = []
    for k, (line, hits) in enumerate(zip(lines, per_line, strict=True)):
        mine = answers[at:at + len(hits)]
        at += len(hits)
        warnings, paired = _checks(name, numbers[k], line, hits, mine, annotator, report)
        if annotator.decoder is not None:
            decoded.append((mine, warnings))
        elif as_json:
            out.append(json_line(name, numbers[k], line, hits, mine, annotator, paired,
                                 warnings))
        else:
            out.append(_warned(annotate_line(line, mine), warnings))
    if annotator.decoder is not None:
        return decode_lines(annotator.decoder, name, numbers, lines, per_line,
                            [a for a, _ in decoded], [w for _, w in decoded], as_json)
    return out


def _warned(text: str, warnings: list[str]) -> str:
    """``text`` with the line's warnings appended, each in brackets."""
    if not warnings:
        return text
    body, eol = _split_eol(text)
    return body + "".join(" [%s]" % terminal_safe(w) for w in warnings) + eol


def _stream(stream: IO[bytes], name: str, annotator: Annotator, as_json: bool,
            progress: _Progress, report: Report) -> None:
    """Annotate one input, chunk by chunk."""
    scanner = StackScanner()
    reader = LineReader(stream)
    first = 1
    while True:
        lines = reader.take(CHUNK_LINES)
        if not lines:
            return
        write(sys.stdout, _chunk_text(name, first, lines, scanner, annotator, as_json, report))
        first += len(lines)
        progress.add(len(lines))


def _one_input(name: str, annotator: Annotator, as_json: bool, progress: _Progress,
               report: Report) -> int:
    """Annotate the file ``name`` (``-``: standard input); 1 if it could not be read."""
    try:
        if name == "-":
            _stream(stdin_bytes(), name, annotator, as_json, progress, report)
            return 0
        with open(name, "rb") as f:
            _stream(f, name, annotator, as_json, progress, report)
        return 0
    except BrokenPipeError:
        raise
    except OSError as e:
        error(PROG, "%s: %s" % (name, e.strerror or e))
        return 1


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Annotate every kernel address in kernel oops/dmesg traces, perf script\n"
                    "output, bpftrace stacks or bare address lists with its %pS text\n"
                    "(return addresses in stack traces with %pB's lookup).")
    ap.add_argument("files", nargs="*", metavar="FILE",
                    help="files to annotate (none given, or -: standard input)")
    ap.add_argument("--kallsyms", metavar="FILE", help="a /proc/kallsyms capture")
    ap.add_argument("--modules", metavar="FILE",
                    help="a /proc/modules capture: module bases and sizes")
    ap.add_argument("--system-map", metavar="FILE", help="vmlinux's System.map")
    ap.add_argument("--ko-dir", metavar="DIR",
                    help="module files (.ko) to place at the bases of --modules or --sections")
    ap.add_argument("--sections", metavar="DIR",
                    help="a captured /sys/module tree (DIR/MODULE/sections/NAME)")
    ap.add_argument("--format", choices=("S", "s", "B", "Sb"), default="S",
                    help="S: name+0xoff/0xsize [mod] (default); s: name [mod]; "
                         "B: %%pB for every address; Sb: with the module's build id")
    ap.add_argument("--exact", action="store_true",
                    help="look every address up as is (%%pS), return addresses too")
    ap.add_argument("--json", action="store_true",
                    help="JSON Lines: one object per input line with its addresses")
    ap.add_argument("--debuginfo", metavar="DIR|FILE", action="append",
                    help="debug info (vmlinux, .ko files, or a directory laid out as "
                         "/usr/lib/debug; repeat for several): annotate each frame with its "
                         "source lines as scripts/decode_stacktrace.sh does")
    ap.add_argument("--strict", action="store_true",
                    help="exit with status %d when the trace disagrees with the symbols "
                         "(names, release, build ids)" % STRICT_EXIT)
    return ap


def main(argv: Sequence[str]) -> int:
    """``pymod symbolize``; ``argv`` holds the arguments after ``symbolize``."""
    ap = _parser()
    args = ap.parse_args(argv)
    check_options(ap, args)
    if args.exact and args.format == "B":
        ap.error("--exact and --format B contradict each other")
    try:
        symbolizer = make_symbolizer(args, warn=lambda line: error(PROG, line))
        annotator = Annotator(symbolizer, args.format, args.exact)
        if args.debuginfo:
            annotator.decoder = Decoder(symbolizer.debuginfo, lambda line: error(PROG, line))
    except (OSError, ValueError) as e:
        error(PROG, os_message(e) if isinstance(e, OSError) else str(e))
        return 1
    report = Report(identity_of(args))
    progress = _Progress()
    rc = 0
    try:
        for name in args.files or ["-"]:
            rc |= _one_input(name, annotator, args.json, progress, report)
    finally:
        progress.done()
    for line in report.summary():
        error(PROG, line)
    if args.strict and report.warnings and not rc:
        return STRICT_EXIT
    return rc
