"""The guest's initramfs: the static helper as ``/init``, busybox for a
developer's shell, the cases and the module images they start from.

The helper (``guest/pmguest.c``) is compiled with ``gcc -static`` so the
initramfs needs no libraries; busybox comes without ``modprobe`` so that
``request_module`` finds nothing to run and every answer is the loader's.
The cpio archive (``newc``, uncompressed: the kernel unpacks it fastest) is
written here rather than with ``cpio(1)``, which is not always installed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from pymod.errors import PymodError
from pymod.oracle.model import Case, Image

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "guest" / "pmguest.c"
BUSYBOX = ("/bin/busybox", "/usr/bin/busybox")


def cache_dir() -> Path:
    """Where built helpers and extracted kernels are kept:
    ``$PYMOD_CACHE/oracle``, default ``~/.cache/pymod/oracle``."""
    return Path(os.environ.get("PYMOD_CACHE", Path.home() / ".cache" / "pymod")) / "oracle"


def build_helper(cache: Path) -> Path:
    """The static helper, rebuilt when its source changes."""
    src = SOURCE.read_bytes()
    out = cache / ("pmguest-%s" % hashlib.sha256(src).hexdigest()[:16])
    if not out.exists():
        if shutil.which("gcc") is None:
            raise PymodError(errno.ENOENT, "gcc is needed to build the guest's helper")
        cache.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        subprocess.run(["gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror",
                        "-o", str(tmp), str(SOURCE)], check=True)
        tmp.rename(out)
    return out


class Cpio:
    """A ``newc`` archive built in memory."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.ino = 1

    def add(self, name: str, mode: int, data: bytes = b"") -> None:
        self.ino += 1
        encoded = name.encode() + b"\0"
        head = b"070701" + b"".join(b"%08x" % v for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0))
        entry = head + encoded
        entry += b"\0" * (-len(entry) % 4)
        self.parts += [entry, data, b"\0" * (-len(data) % 4)]

    def dir(self, name: str) -> None:
        self.add(name, 0o040755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self.add(name, 0o100000 | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self.add(name, 0o120777, target.encode())

    def data(self) -> bytes:
        self.add("TRAILER!!!", 0)
        return b"".join(self.parts)


def encode_cases(cases: Sequence[Case], first_id: int = 0) -> tuple[str, list[bytes]]:
    """``/cases.txt`` and the blobs it names (each base image once)."""
    blobs: list[bytes] = []
    index: dict[bytes, int] = {}
    lines = []
    for n, case in enumerate(cases, first_id):
        lines.append("C %d" % n)
        for step in case.steps:
            params = step.params.encode().hex() or "-"
            if step.image is None:
                arg, length, patches = step.name.encode().hex(), 0, "-"
            else:
                arg, length, patches = _image_fields(step.image, blobs, index)
            lines.append("S %s %s %d %s %d %s" % (step.op, arg, step.flags, params,
                                                     length, patches))
        lines.append("E")
    return "".join(line + "\n" for line in lines), blobs


def _image_fields(image: Image, blobs: list[bytes], index: dict[bytes, int]
                  ) -> tuple[str, int, str]:
    key = hashlib.sha256(image.base).digest()
    if key not in index:
        index[key] = len(blobs)
        blobs.append(image.base)
    patches = ",".join("%d:%s" % (off, data.hex()) for off, data in image.patches) or "-"
    return str(index[key]), image.length, patches


def initramfs(helper: Path, cases: Sequence[Case], extra: Iterable[tuple[str, bytes]] = ()
              ) -> bytes:
    """The whole initramfs for ``cases``."""
    text, blobs = encode_cases(cases)
    c = Cpio()
    for d in ("proc", "dev", "tmp", "bin", "blobs"):
        c.dir(d)
    c.file("init", helper.read_bytes(), 0o755)
    busybox = next((p for p in BUSYBOX if Path(p).is_file()), None)
    if busybox is not None:
        c.file("bin/busybox", Path(busybox).read_bytes(), 0o755)
        c.symlink("bin/sh", "busybox")
    c.file("cases.txt", text.encode())
    for n, blob in enumerate(blobs):
        c.file("blobs/%d" % n, blob)
    for name, data in extra:
        c.file(name, data)
    return c.data()
