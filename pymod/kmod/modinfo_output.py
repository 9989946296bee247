"""kmod's ``modinfo`` for module files, byte for byte (the CLI is :mod:`pymod.tools.info`).

The model follows kmod 30 (the Debian 12 build, +LIBCRYPTO), which is what
parity is measured against:

* the information list is the ``.modinfo`` strings in file order (``key=value``;
  a string without ``=`` is a key with an empty value), then, when the file
  carries a signature kmod can read, ``sig_id``, ``signer``, ``sig_key``,
  ``sig_hashalgo`` and ``signature``;
* ``parm``/``parmtype`` entries are merged per parameter and printed last, in
  reverse order of each parameter's first appearance (kmod prepends to a list);
* keys are printed as ``key:`` padded to 16 columns (``printf("%s:%-*s",
  key, 15 - len(key), "")``: a key longer than 15 gets ``len - 15`` spaces,
  because C reads a negative width as left-justify);
* byte strings are written back unchanged (``surrogateescape``).

Unlike this kmod build, ``.ko.gz`` is read too (and any file name is
accepted, not only ``*.ko*``).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from pymod.elf.constants import (
    ELF64_EHDR_SIZE,
    ELF64_SHDR_SIZE,
    ELFCLASS64,
    ELFDATA2LSB,
    ELFMAG,
    MODULE_SIG_STRING,
    MODULE_SIGNATURE_SIZE,
    PKEY_ID_PKCS7,
)
from pymod.elf.image import ElfImage
from pymod.elf.modinfo_section import kmod_modinfo_strings
from pymod.elf.pkcs7 import HASH_NAMES, parse_pkcs7
from pymod.elf.strings import c_bytes, decode
from pymod.errors import PymodError

if TYPE_CHECKING:
    import mmap

__all__ = ["InfoError", "module_info", "signature_fields", "image_modinfo_strings", "hex_wrapped",
           "format_info", "format_parm_field"]

_HEX_PER_LINE = 20

# kmod's pkey tables (libkmod-signature.c), indexed by struct module_signature fields
_PKEY_ALGOS = ("DSA", "RSA")
_PKEY_HASHES = ("md4", "md5", "sha1", "rmd160", "sha256", "sha384", "sha512", "sha224", "sm3")
_PKEY_ID_TYPES = ("PGP", "X509", "PKCS#7")


class InfoError(PymodError):
    """kmod could not produce a module's information list (its errno and reason)."""


def hex_wrapped(data: bytes) -> str:
    """``01:AB:…`` with a ``\\n\\t\\t`` break after every 20 bytes (kmod_module_hex_to_str)."""
    text = data.hex(":").upper()
    row = 3 * _HEX_PER_LINE  # "XX:" per byte, the row's last colon included
    return "\n\t\t".join(text[i:i + row] for i in range(0, len(text), row))


# --------------------------------------------------------------------------
# The information list

def image_modinfo_strings(image: bytes | mmap.mmap) -> list[bytes]:
    """The ``.modinfo`` strings as kmod's ELF reader finds them (kmod_elf_new +
    kmod_elf_get_strings), or InfoError with kmod's errno.

    kmod reads ELF32/ELF64 of either byte order; pymod reads ELF64
    little-endian only and reports anything else as ENOEXEC.  kmod reads a
    section's bytes whatever its type, and skips a section it cannot read.
    """
    size = len(image)
    if size <= 16 or image[:4] != ELFMAG:
        raise InfoError(errno.ENOEXEC, "not an ELF file")
    if image[4] not in (1, 2) or image[5] not in (1, 2):
        raise InfoError(errno.EINVAL, "bad ELF class or data encoding")
    if image[4] != ELFCLASS64 or image[5] != ELFDATA2LSB:
        raise InfoError(errno.ENOEXEC, "only ELF64 little-endian modules are supported")
    if size <= ELF64_EHDR_SIZE:
        raise InfoError(errno.EINVAL, "shorter than an ELF64 header")
    elf = ElfImage(image)
    if elf.e_shentsize != ELF64_SHDR_SIZE or elf.e_shoff + ELF64_SHDR_SIZE * elf.e_shnum > size:
        raise InfoError(errno.EINVAL, "section header table unreadable")
    headers = elf.headers

    def readable(idx: int) -> tuple[int, int, int] | None:
        """(offset, size, sh_name) of a section whose bytes lie in the file."""
        if idx == 0 or idx >= len(headers):
            return None
        h = headers[idx]
        return (h[4], h[5], h[0]) if h[4] + h[5] <= size else None

    strings = readable(elf.e_shstrndx)
    if strings is None or strings[1] == 0 or image[strings[0] + strings[1] - 1] != 0:
        raise InfoError(errno.EINVAL, "section name table unreadable")
    names = bytes(image[strings[0]:strings[0] + strings[1]])
    for i in range(1, len(headers)):
        s = readable(i)
        if s is not None and s[2] < len(names) and c_bytes(names, s[2]) == b".modinfo":
            return kmod_modinfo_strings(image[s[0]:s[0] + s[1]])
    raise InfoError(errno.ENOENT, "no .modinfo section")


def signature_fields(image: bytes | mmap.mmap) -> list[tuple[str, str]]:
    """kmod's signature entries for a (decompressed) module file; [] when it shows none."""
    mlen = len(MODULE_SIG_STRING)
    if len(image) < mlen or image[len(image) - mlen:] != MODULE_SIG_STRING:
        return []
    size = len(image) - mlen
    if size < MODULE_SIGNATURE_SIZE:
        return []
    size -= MODULE_SIGNATURE_SIZE
    algo, hash_, id_type, signer_len, key_id_len = image[size:size + 5]
    sig_len = int.from_bytes(image[size + 8:size + 12], "big")
    if algo >= len(_PKEY_ALGOS) or hash_ >= len(_PKEY_HASHES) or id_type >= len(_PKEY_ID_TYPES):
        return []
    if sig_len == 0 or size < signer_len + key_id_len + sig_len:
        return []
    sig = image[size - sig_len:size]
    if id_type == PKEY_ID_PKCS7:
        try:
            signers = parse_pkcs7(sig, keep_signers=1).signers   # kmod shows the first
        except PymodError:
            return []
        if not signers:
            return []
        si = signers[0]
        signer = si.signer_name or b""
        key_id = si.serial
        hash_name = HASH_NAMES.get(si.digest_algorithm, "unknown")
        sig = si.signature
    else:
        key_end = size - sig_len
        key_id = image[key_end - key_id_len:key_end]
        signer = image[key_end - key_id_len - signer_len:key_end - key_id_len]
        hash_name = _PKEY_HASHES[hash_]
    return [
        ("sig_id", _PKEY_ID_TYPES[id_type]),
        ("signer", decode(c_bytes(signer))),
        ("sig_key", hex_wrapped(key_id)),
        ("sig_hashalgo", hash_name),
        ("signature", hex_wrapped(sig)),
    ]


def module_info(image: bytes | mmap.mmap) -> list[tuple[str, str]]:
    """kmod_module_get_info() for a decompressed module file: ``(key, value)`` in order."""
    out = [(decode(key), decode(value))
           for key, _, value in (s.partition(b"=") for s in image_modinfo_strings(image))]
    return out + signature_fields(image)


# --------------------------------------------------------------------------
# Formatting

class _Param(NamedTuple):
    name: str
    desc: str | None
    type: str | None


def _params(entries: Sequence[tuple[str, str]], warn: Callable[[str], object]) -> list[_Param]:
    """parm/parmtype merged per name, newest name first (kmod prepends)."""
    order: list[str] = []
    found: dict[str, _Param] = {}
    for key, value in entries:
        if key not in ("parm", "parmtype"):
            continue
        name, colon, rest = value.partition(":")
        if not colon:
            warn('Found invalid "%s=%s": missing \':\'' % (key, value))
            continue
        p = found.get(name) or _Param(name, None, None)
        found[name] = p._replace(desc=rest) if key == "parm" else p._replace(type=rest)
        if name not in order:
            order.append(name)
    return [found[n] for n in reversed(order)]


def format_parm_field(entries: Sequence[tuple[str, str]], sep: str,
                      warn: Callable[[str], object]) -> str:
    """``modinfo -F parm`` output."""
    out = []
    for p in _params(entries, warn):
        if p.desc is None:
            out.append("%s: (%s)%s" % (p.name, p.type, sep))
        elif p.type is not None:
            out.append("%s:%s (%s)%s" % (p.name, p.desc, p.type, sep))
        else:
            out.append("%s:%s%s" % (p.name, p.desc, sep))
    return "".join(out)


def format_info(entries: Sequence[tuple[str, str]], field: str | None = None,
                sep: str = "\n", warn: Callable[[str], object] = lambda msg: None) -> str:
    """The lines modinfo prints after ``filename:`` (everything when ``field`` is None)."""
    if field == "parm":
        return format_parm_field(entries, sep, warn)
    if field is not None:
        return "".join(value + sep for key, value in entries if key == field)
    out = []
    for key, value in entries:
        if key in ("parm", "parmtype"):
            continue
        if sep == "\0":
            out.append("%s=%s%s" % (key, value, sep))
        else:
            out.append("%s:%s%s%s" % (key, " " * abs(15 - len(key)), value, sep))
    for p in _params(entries, warn):
        if p.desc is None:
            body = "%s:%s" % (p.name, p.type)
        elif p.type is not None:
            body = "%s:%s (%s)" % (p.name, p.desc, p.type)
        else:
            body = "%s:%s" % (p.name, p.desc)
        out.append("%-16s%s%s" % ("parm:", body, sep))
    return "".join(out)
