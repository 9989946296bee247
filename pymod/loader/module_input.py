"""What ``finit_module``/``load_module`` are handed, made into a dossier: a
path (read through the one bounded reader), an image, or a ``KoFile``
already read; kmod's user-space decompression; the argument types checked
before anything changes."""

from __future__ import annotations

import errno
import os

from pymod.contract.internal import LoadInfo
from pymod.elf.compression import decompress, read_file
from pymod.elf.kofile import KoFile
from pymod.errors import InvalidArgument, InvalidType, ModuleLoadError, PymodError

__all__ = ["ModuleInput", "load_info_of", "kernel_read_file", "kmod_decompress",
           "read_module_file", "check_load_arguments"]

ModuleInput = str | os.PathLike[str] | bytes | bytearray | memoryview | KoFile
INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1


def load_info_of(source: ModuleInput, flags: int) -> tuple[LoadInfo, str | None]:
    """The dossier of a file (path), an image (bytes) or a ``KoFile`` already
    read: the bytes as the file holds them (an empty file: see
    :func:`kernel_read_file`)."""
    info, path = _load_info_of(source, flags)
    kernel_read_file(info, path)
    return info, path


def kernel_read_file(info: LoadInfo, path: str | None) -> None:
    """``kernel_read_file`` refuses a file of no bytes (i_size <= 0) with
    EINVAL and no message, before ``load_module`` (so before any signature
    check, enforced or not) and before decompression."""
    if not info.raw:
        raise ModuleLoadError(errno.EINVAL, "%s: kernel_read_file: the file is empty (the "
                              "kernel logs nothing)" % (path or "module"), stage="read")


def _load_info_of(source: ModuleInput, flags: int) -> tuple[LoadInfo, str | None]:
    if isinstance(source, KoFile):
        info = LoadInfo(raw=source.raw, payload=source.raw, len=len(source.raw), flags=flags)
        if not source.compression:
            info.elf = source.elf   # reused when the kernel ends up with the same bytes
        elif source.compression == "xz":
            # pymod's reader decodes xz as the kernel's decoder does (one
            # stream, to its end): the kernel's path may reuse its image.
            info.predecompressed = source.image
        return info, source.path
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
        return LoadInfo(raw=raw, payload=raw, len=len(raw), flags=flags), None
    path = os.fspath(source)
    raw = read_module_file(path)
    return LoadInfo(raw=raw, payload=raw, len=len(raw), flags=flags), path


def kmod_decompress(info: LoadInfo, source: ModuleInput, kind: str, flags: int) -> LoadInfo:
    """kmod's user-space path: the file decompressed with the libraries'
    full decoders, the image passed as an uncompressed module."""
    if isinstance(source, KoFile) and source.compression:
        image = source.image
    else:
        try:
            image = decompress(info.raw, kind)
        except ModuleLoadError as e:
            raise ModuleLoadError(e.errno, "kmod: %s" % e.strerror, stage="kmod") from None
    new = LoadInfo(raw=image, payload=image, len=len(image), flags=flags)
    if isinstance(source, KoFile):
        new.elf = source.elf
    return new


def read_module_file(path: str) -> bytes:
    """A module file's bytes through the one bounded reader; any refusal
    (not a regular file, past the cap, an OS error) is a ``read`` failure."""
    try:
        return read_file(path)
    except OSError as e:
        strerror = e.strerror or str(e)
        message = strerror if isinstance(e, PymodError) else "%s: %s" % (path, strerror)
        raise ModuleLoadError(e.errno or errno.EIO, message, stage="read") from None


def check_load_arguments(call: str, source: object, params: object, flags: object,
                          init_result: object) -> None:
    """Wrong types are refused before anything changes (bool is no int here)."""
    if not isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview, KoFile)):
        raise InvalidType("%s: source must be a path, bytes or a KoFile, not %s"
                          % (call, type(source).__name__))
    if not isinstance(params, str):
        raise InvalidType("%s: params must be a str, not %s" % (call, type(params).__name__))
    for name, value in (("flags", flags), ("init_result", init_result)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidType("%s: %s must be an int, not %s"
                              % (call, name, type(value).__name__))
    if isinstance(init_result, int) and not INT_MIN <= init_result <= INT_MAX:
        raise InvalidArgument("%s: init_result %d is no C int (what an init function "
                              "returns)" % (call, init_result))
