"""One module file, read: compression undone, signature trailer split off, ELF viewed.

The one entry point every reader of a whole module file uses (the loader,
the tree loader, ``Config.struct_module_size_of``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pymod.elf.compression import decompressed, detect_compression, file_too_big, read_file
from pymod.elf.constants import MAX_DECOMPRESSED
from pymod.elf.image import ElfImage
from pymod.elf.sigtrailer import SigInfo, split_signature

__all__ = ["KoFile", "read_ko", "ko_from_raw"]


@dataclass
class KoFile:
    """One module file, read: compression undone, signature trailer split off.

    :raw: the bytes as read (possibly compressed)
    :image: the decompressed bytes (== raw when uncompressed), trailer included
    :payload: what the kernel parses as ELF (see
        :class:`~pymod.elf.sigtrailer.SigSplit`): a view into ``image``
    """

    path: str | None
    raw: bytes
    compression: str | None
    image: bytes
    payload: bytes | memoryview
    sig: SigInfo | None
    sig_errno: int
    elf: ElfImage


def read_ko(path_or_bytes: str | os.PathLike[str] | bytes | bytearray | memoryview,
            max_size: int = MAX_DECOMPRESSED) -> KoFile:
    """Read a ``.ko``/``.ko.gz``/``.ko.xz``/``.ko.zst`` file (or its bytes).

    ``max_size`` caps both the file size and the decompressed size.
    A missing file raises ``FileNotFoundError``; the rest as documented on
    :func:`~pymod.elf.compression.decompress`,
    :func:`~pymod.elf.sigtrailer.split_signature` and
    :class:`~pymod.elf.image.ElfImage`.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        path = None
        raw = bytes(path_or_bytes)
    else:
        path = os.fspath(path_or_bytes)
        raw = read_file(path, max_size)
    if len(raw) > max_size:
        raise file_too_big(path, max_size)
    return ko_from_raw(path, raw, max_size=max_size)


def ko_from_raw(path: str | None, raw: bytes, image: bytes | None = None,
                max_size: int = MAX_DECOMPRESSED) -> KoFile:
    """The :class:`KoFile` of a file's bytes; ``image`` is ``raw`` decompressed
    when the caller already did that (e.g. on another thread)."""
    kind = detect_compression(raw)
    if image is None:
        image = decompressed(raw, max_size)
    split = split_signature(image)
    return KoFile(path, raw, kind, image, split.payload, split.sig, split.errno,
                  ElfImage(split.payload))
