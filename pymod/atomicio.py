"""Writing a file the careful way, for every tool that writes one (``pymod
sign``, ``pymod certs -o``) and for the DWARF index cache: a layer of its own,
below both.

The bytes go to a new file beside the target, created with ``O_EXCL`` under
a random name (so nothing planted there, a symbolic link least of all, is
opened), flushed to disk, then renamed over the target.  ``rename()``
replaces whatever the final name is -- a symbolic link included -- and never
writes through it: a link planted at the target is replaced by the file,
the file it pointed to is untouched.  Readers see the old file or the new
one, never a part; on any failure the temporary is removed and the target
is as it was.  The new file gets the mode ``open()`` would give it (0666
less the umask).
"""

from __future__ import annotations

import errno
import os
import secrets

__all__ = ["write_atomic"]

_ATTEMPTS = 16


def _create_beside(path: str) -> tuple[int, str]:
    """A new, empty file in ``path``'s directory: (descriptor, name)."""
    directory, base = os.path.split(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(_ATTEMPTS):
        tmp = os.path.join(directory, ".%s.%s.tmp" % (base[:200], secrets.token_hex(8)))
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:       # someone's file, or a link: never ours
            continue
        except OSError as e:          # (named by the target, not the temporary)
            raise OSError(e.errno, e.strerror, path) from None
    raise OSError(errno.EEXIST, "no free temporary name beside it", path)


def write_atomic(path: str | os.PathLike[str], data: bytes | bytearray | memoryview) -> None:
    """``path`` replaced, atomically, by a new file holding ``data``."""
    target = os.fspath(path)
    fd, tmp = _create_beside(target)
    try:
        with open(fd, "wb", closefd=True) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(tmp, target)
        except OSError as e:
            raise OSError(e.errno, e.strerror, target) from None
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
