"""Kernel addresses in text: where they are, and whether each one is a return address.

Used by ``pymod symbolize`` (:mod:`pymod.tools.symbolize`).  A *kernel
address* is 16 hex digits, with or without ``0x`` (either case), not part of
a longer word, whose value is at least ``0xffff800000000000`` (the x86-64
kernel half).  Lines are read in order; :class:`StackScanner` keeps the
little context needed to tell a *return address* (looked up as ``%pB``
does: ``addr - 1``, offset printed plus one) from an *exact* address (a
sample or fault IP, a register, a bare address: looked up as ``%pS``).

Kernel oops and ``dmesg`` (x86-64)
   From a line holding ``Call Trace:`` to a line holding ``</TASK>``,
   ``---[ end``, ``Modules linked in:`` or a blank line, addresses are
   return addresses (the kernel prints these frames with ``%pB``), except
   on register lines (a word such as ``RIP:``, ``RSP:``, ``RAX:`` or
   ``Code:``, or old kernels' ``RIP  [<...>]``), which are exact.
   Everything else in an oops is exact, e.g. ``RIP: 0010:0xffffffffc0a1b2c3``.

Call chains (``perf script``, bpftrace ``kstack``)
   A *frame line* is indented and holds a hex address, possibly followed by
   a symbol and ``(dso)`` (``perf script``'s ``\\t%16lx sym+off (dso)``,
   bpftrace's ``kstack(perf)`` and indented ``kstack`` entries), or holds
   ``func+off`` only (a frame bpftrace already named).  In a run of
   consecutive frame lines the first is the sampled IP (exact) and the
   others are return addresses.  Inside a bpftrace map key (after a line
   such as ``@[`` or ``@name[``) unindented address lines are frames too:
   that is how ``kstack(raw)`` prints.

Bare addresses
   Any other line holding only an address is exact, on its own.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["KERNEL_BASE", "Hit", "StackScanner", "kernel_addresses"]

KERNEL_BASE = 0xFFFF800000000000

_ADDR = re.compile(r"(?<![0-9A-Za-z_])(?:0[xX])?([0-9a-fA-F]{16})(?![0-9A-Za-z_])")
_CALL_TRACE = re.compile(r"\bCall Trace:")
_TRACE_END = re.compile(r"</TASK>|---\[ end |\bModules linked in:")
_REGISTER = re.compile(r"\b(?:[A-Z][A-Z0-9_]{1,8}|Code):|\b(?:RIP|RSP|EIP|ESP)\b")
_BARE = re.compile(r"(?:0[xX])?[0-9a-fA-F]{16}")
# an indented hex word (with a digit, or 0x) and anything after it
_FRAME_ADDR = re.compile(r"\s+(?:0[xX][0-9a-fA-F]+|[0-9a-fA-F]*[0-9][0-9a-fA-F]*)(?:\s.*)?")
# an indented name+offset (bpftrace's symbolized kstack entry)
_FRAME_NAME = re.compile(r"\s+[A-Za-z_.$][\w.$]*\+(?:0x[0-9a-fA-F]+|\d+)"
                         r"(?:/0x[0-9a-fA-F]+)?(?:\s+\[[^\]]+\])?")
_MAP_KEY = re.compile(r"@\w*\[")


class Hit(NamedTuple):
    """One kernel address in a line.

    :start: where its text (``0x`` included) starts in the line
    :end: where it ends
    :addr: its value
    :backtrace: True for a return address (``%pB``'s lookup)
    """

    start: int
    end: int
    addr: int
    backtrace: bool


def kernel_addresses(line: str, backtrace: bool = False) -> list[Hit]:
    """Every kernel address of ``line``, in order, all with ``backtrace``."""
    out = []
    for m in _ADDR.finditer(line):
        value = int(m.group(1), 16)
        if value >= KERNEL_BASE:
            out.append(Hit(m.start(), m.end(), value, backtrace))
    return out


class StackScanner:
    """Reads the lines of one input in order and finds their kernel
    addresses, each marked exact or return address (see the module text)."""

    def __init__(self) -> None:
        self.in_trace = False     # inside an oops' Call Trace
        self.in_key = False       # inside a bpftrace map key (after "@[")
        self.run = 0              # frame lines seen in the current run

    def scan(self, line: str) -> list[Hit]:
        """The kernel addresses of the next line."""
        body = line.rstrip("\r\n")
        backtrace = self._oops(body) if self.in_trace or "Call Trace:" in body \
            else self._chain(body)
        return kernel_addresses(body, backtrace)

    def _oops(self, body: str) -> bool:
        """Inside (or entering, or leaving) a Call Trace."""
        self.run, self.in_key = 0, False
        if _CALL_TRACE.search(body):
            self.in_trace = True
            return False
        if not body.strip() or _TRACE_END.search(body):
            self.in_trace = False
            return False
        return _REGISTER.search(body) is None

    def _chain(self, body: str) -> bool:
        """Outside an oops: call-chain frames, bpftrace keys, bare addresses."""
        stripped = body.strip()
        frame = bool(stripped) and body[0].isspace() and (
            _FRAME_ADDR.fullmatch(body) is not None or _FRAME_NAME.fullmatch(body) is not None)
        if not frame and self.in_key and _BARE.fullmatch(stripped):
            frame = True
        if frame:
            self.run += 1
            return self.run > 1
        self.run = 0
        self.in_key = _MAP_KEY.match(stripped) is not None and stripped.endswith("[")
        return False
