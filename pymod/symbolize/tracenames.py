"""What a kernel trace says about itself: the names it already printed for its
frames, its release and its build ids.

* A *named frame* is ``%pS``/``%pB`` text: ``name+0xoff/0xsize``, optionally
  `` [module]`` or, with ``%pSb``, `` [module <40 hex digits>]``; ``perf
  script`` prints ``name+0xoff`` without the size.  An old x86 oops prints
  ``[<ffffffffc0006015>] name+0x5/0x10 [mod]``: the raw address and its name
  side by side, which :func:`pair` matches up.
* The release and vmlinux' build id are in ``dump_stack_print_info``'s
  ``CPU: 0 PID: 1 Comm: x Tainted: G ... 6.1.0-57-cloud-amd64 #1 Debian
  6.1.192-1 [<build id>]`` line (``lib/dump_stack.c``; 6.12 adds ``UID:``;
  the build id only with CONFIG_STACKTRACE_BUILD_ID).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["NamedFrame", "TraceIdentity", "named_frames", "pair", "trace_identity"]

_NAMED = re.compile(
    r"(?<![\w.$])([A-Za-z_.$][\w.$]*)\+0x([0-9a-fA-F]+)(?:/0x([0-9a-fA-F]+))?"
    r"(?:[ \t]+\[([^\]\s]+)(?:[ \t]+([0-9a-fA-F]{40}))?\])?")
_IDENTITY = re.compile(
    r"\bCPU: \d+ (?:UID: \d+ )?PID: -?\d+ Comm: .{0,20}? (?:Kdump: loaded )?"
    r"(?:Not tainted|Tainted: [A-Z ]*?) +(\S+) #\S+(?:.*? ([0-9a-f]{40})(?=\s*$))?")


class NamedFrame(NamedTuple):
    """``name+0xoffset[/0xsize] [module [build id]]`` at ``start:end`` of a line."""

    start: int
    end: int
    name: str
    offset: int
    size: int | None
    module: str | None
    build_id: str | None

    def text(self) -> str:
        out = "%s+%#x" % (self.name, self.offset)
        if self.size is not None:
            out += "/%#x" % self.size
        if self.module is not None:
            out += " [%s]" % self.module
        return out


def named_frames(line: str) -> list[NamedFrame]:
    """Every named frame of ``line``, in order."""
    return [NamedFrame(m.start(), m.end(), m.group(1), int(m.group(2), 16),
                       None if m.group(3) is None else int(m.group(3), 16),
                       m.group(4), None if m.group(5) is None else m.group(5).lower())
            for m in _NAMED.finditer(line)]


def pair(starts: Sequence[int], frames: Sequence[NamedFrame]) -> dict[int, NamedFrame]:
    """Which address (by index in ``starts``, the positions of a line's raw
    addresses) each named frame names: the nearest address before it
    (``[<addr>] name+off/size``), else the first after it."""
    out: dict[int, NamedFrame] = {}
    for f in frames:
        before = [i for i, s in enumerate(starts) if s < f.start]
        after = [i for i, s in enumerate(starts) if s > f.start]
        k = before[-1] if before else after[0] if after else None
        if k is not None and k not in out:
            out[k] = f
    return out


class TraceIdentity(NamedTuple):
    """The release (and vmlinux build id, when printed) a trace names."""

    release: str
    build_id: str | None


def trace_identity(line: str) -> TraceIdentity | None:
    m = _IDENTITY.search(line.rstrip("\r\n"))
    if m is None:
        return None
    return TraceIdentity(m.group(1), m.group(2))
