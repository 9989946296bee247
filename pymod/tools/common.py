"""What every command shares: output (text with file names' bytes kept, JSON
that is always valid UTF-8, one-line errors) and argument types.

File names and module strings are ``str`` decoded with ``surrogateescape``:
bytes that are not UTF-8 survive as lone surrogates.  Text output writes them
back as the original bytes (what kmod prints); JSON cannot hold them, so in
JSON every undecodable byte is spelled ``\\xNN`` (a backslash, ``x`` and two
hex digits), the same way everywhere.

Names come from the files read (a module's name, a symbol's, a file's), so
the tools' own lines (errors, warnings, verdicts, annotations) pass them
through :func:`terminal_safe`: a control byte (ESC, BEL, CR, a newline ...)
is spelled ``\\xNN`` too, and cannot restyle the terminal or forge a line.
Output that is another program's format keeps its bytes: ``/proc/modules``
(the kernel's), ``modules.dep`` (depmod's).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from typing import IO, Any

ENCODING = "utf-8"
ERRORS = "surrogateescape"


def write(stream: IO[str], text: str) -> None:
    """``text`` to ``stream``, undecodable bytes written back as they were."""
    stream.flush()
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a stream without bytes below (a test's StringIO)
        stream.write(text)
        return
    buffer.write(text.encode(ENCODING, ERRORS))
    buffer.flush()


# What a terminal acts on: C0 controls, DEL, and the C1 controls, both as
# characters and as raw bytes 0x80-0x9f that are not UTF-8 (kept as lone
# surrogates), which an 8-bit terminal takes for C1 (0x9b is CSI).
CONTROL_CHARS = "\x00-\x1f\x7f-\x9f\udc80-\udc9f"    # a character class's body
_CONTROL = re.compile("[%s]" % CONTROL_CHARS)
# The same but tab and newline, for text whose format has them (modinfo's).
_CONTROL_BUT_LAYOUT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\udc80-\udc9f]")


def _spelled(m: re.Match[str]) -> str:
    return "".join("\\x%02x" % b for b in m.group().encode(ENCODING, ERRORS))


def terminal_safe(text: str, keep_layout: bool = False) -> str:
    """``text`` with every control byte spelled ``\\xNN`` (``keep_layout``:
    but tab and newline); ordinary text is unchanged."""
    return (_CONTROL_BUT_LAYOUT if keep_layout else _CONTROL).sub(_spelled, text)


def error(prog: str, message: str) -> None:
    """One line on stderr: ``prog: message`` (:func:`terminal_safe`)."""
    write(sys.stderr, "%s: %s\n" % (prog, terminal_safe(message)))


def os_message(e: OSError) -> str:
    """One line for an OS error: pymod's own errors carry their message, the
    others get their file name in front of the system's text."""
    from pymod.errors import PymodError

    if isinstance(e, PymodError) or not e.filename:
        return e.strerror or str(e)
    return "%s: %s" % (e.filename, e.strerror)


def json_text(text: str) -> str:
    """``text`` with each undecodable byte spelled ``\\xNN``."""
    return text.encode(ENCODING, ERRORS).decode(ENCODING, "backslashreplace")


def _json_safe(value: Any) -> Any:
    if isinstance(value, str):
        return json_text(value)
    if isinstance(value, dict):
        return {json_text(str(k)): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def dump_json(obj: Any, stream: IO[str]) -> None:
    """``obj`` as indented JSON (valid UTF-8) and a newline."""
    write(stream, json.dumps(_json_safe(obj), indent=2, ensure_ascii=False) + "\n")


# reST inline markup as the docstrings use it: :role:`~a.b.c` or
# :role:`text`, then ``literal`` and `interpreted`.
_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`]*)`")
_LITERAL = re.compile(r"``(.+?)``|`([^`]+)`")


def plain_text(text: str) -> str:
    """``text`` without reST inline markup: what a help screen shows of a
    docstring (``:func:`~pymod.a.f``` is ``f``, ````x```` is ``x``)."""
    def role(m: re.Match[str]) -> str:
        target = m.group(1)
        if "<" in target:                   # :doc:`title <target>`
            return target.split("<", 1)[0].strip()
        return target.rsplit(".", 1)[-1] if m.group(0).split("`")[1].startswith("~") \
            else target
    text = _ROLE.sub(role, text)
    return _LITERAL.sub(lambda m: m.group(1) or m.group(2), text)


def help_text(doc: str | None) -> str:
    """A command's argparse description from its module docstring: the
    first paragraph as one line of plain text, without the leading
    ```pymod CMD``: `` (the usage line names the command)."""
    paragraph = (doc or "").strip().split("\n\n", 1)[0]
    text = plain_text(" ".join(paragraph.split()))
    text = re.sub(r"^pymod [a-z]+: ", "", text)
    return text[:1].upper() + text[1:]


def positive_int(text: str) -> int:
    """argparse type: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("%d is not positive" % value)
    return value


def add_trust_options(ap: argparse.ArgumentParser) -> None:
    """``--cert`` and ``--vmlinuz``: the certificates a command trusts."""
    ap.add_argument("--cert", action="append", default=[], metavar="FILE",
                    help="a trusted X.509 certificate (PEM or DER; repeatable)")
    ap.add_argument("--vmlinuz", action="append", default=[], metavar="FILE",
                    help="trust the certificates built into this kernel image (repeatable)")


def trusted_certificates(certs: list[str], images: list[str]) -> list[Any]:
    """The certificates of ``certs`` (files) and those built into ``images``
    (vmlinuz files); OSError when one cannot be read."""
    from pymod.elf.sigverify import load_certificates
    from pymod.elf.vmlinuz import certificates_of

    out = list(load_certificates(certs))
    for image in images:
        out += certificates_of(image)[1]
    return out


def tap_console(kernel: Any) -> list[tuple[str, str]]:
    """Every line ``kernel`` prints from now on, appended to the returned
    list as it is printed (the console, tapped: the log is never read back)."""
    printed: list[tuple[str, str]] = []
    pr = kernel.log.pr

    def console(level: str, message: str) -> str:
        printed.append((level, message))
        return pr(level, message)     # type: ignore[no-any-return]

    kernel.log.pr = console           # every pr_* of this kernel goes through pr
    return printed


def progress_line(what: str) -> Callable[[int, int], None] | None:
    """A ``progress(done, total)`` callback drawing one line on a terminal
    stderr (cleared when done), or None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None

    def progress(done: int, total: int) -> None:
        if done == total:
            sys.stderr.write("\r\033[K")
        elif done % 25 == 0:
            sys.stderr.write("\r%s %d/%d modules" % (what, done, total))
        sys.stderr.flush()
    return progress
