"""Real signed modules: each Debian kernel's own certificate, extracted from
its vmlinuz, verifies every module of its tree under enforcement (no taint
E); the other kernel's key is ENOKEY."""

from __future__ import annotations

import errno
import time

import pytest

from pymod import Config, Kernel, ModuleLoadError
from pymod.elf.vmlinuz import certificates_of
from pymod.loader.batch import load_all

pytestmark = pytest.mark.real_kernel


def _vmlinuz(dk) -> str:
    return str(dk.root / "boot" / ("vmlinuz-" + dk.release))


def _kernel(dk, **kw) -> Kernel:
    config = Config.from_kconfig(dk.config, release=dk.release)
    if config.version >= (6, 12):
        config = config.replace(struct_module_size=Config.struct_module_size_of(dk.ko_files()[0]))
    return Kernel(config, symvers=dk.symvers, **kw)


@pytest.mark.slow
def test_every_module_verifies_with_the_kernels_own_certificate(debian_kernel):
    start = time.perf_counter()
    kind, certs = certificates_of(_vmlinuz(debian_kernel))
    took = time.perf_counter() - start
    print("\n%s: %s payload, %d certificate(s) in %.2f s: %s" % (
        debian_kernel.release, kind, len(certs), took,
        [c.subject.rfc4514_string() for c in certs]))
    assert len(certs) >= 1
    k = _kernel(debian_kernel, trusted_keys=tuple(certs), sig_enforce=True)
    result = load_all(k, [debian_kernel.modules_dir])
    assert result.failures == []
    assert len(k.modules) == len(debian_kernel.ko_files())
    assert all(m.sig_ok and m.sig_errno == 0 for m in k.modules)
    assert k.tainted == ""


def test_the_other_kernels_key_is_enokey(debian_kernel_612, debian_kernel_61):
    theirs = certificates_of(_vmlinuz(debian_kernel_61))[1]
    # a module using nothing but vmlinux, signed by 6.12's key
    module = next(f for f in debian_kernel_612.ko_files() if f.name.startswith("dummy."))
    k = _kernel(debian_kernel_612, trusted_keys=tuple(theirs))
    assert k.load_module(module).sig_errno == errno.ENOKEY
    k = _kernel(debian_kernel_612, trusted_keys=tuple(theirs), sig_enforce=True)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(module)
    assert (ei.value.errno, ei.value.strerror) == (
        errno.EKEYREJECTED, "Loading of module with unavailable key is rejected")


@pytest.mark.slow
def test_tampered_real_modules(debian_kernel_612):
    """The tamper matrix on a real signed module: the ELF payload, the
    PKCS#7 blob, the trailer and the magic, truncated and extended."""
    from pymod.elf.compression import decompressed
    from pymod.elf.constants import MODULE_SIG_STRING
    from tests.loader.support import snapshot

    path = next(f for f in debian_kernel_612.ko_files() if f.name.startswith("dummy."))
    image = decompressed(path.read_bytes())
    certs = certificates_of(_vmlinuz(debian_kernel_612))[1]
    struct_at = len(image) - len(MODULE_SIG_STRING) - 12
    sig_at = struct_at - int.from_bytes(image[struct_at + 8:struct_at + 12], "big")

    def flip(at: int) -> bytes:
        b = bytearray(image)
        b[at] ^= 1
        return bytes(b)

    cases = {"payload": (flip(sig_at // 2), {errno.EKEYREJECTED}),
             "signature value": (flip(struct_at - 2), {errno.EKEYREJECTED, errno.EBADMSG}),
             "pkcs7 tag": (flip(sig_at), {errno.EBADMSG}),
             "trailer id_type": (flip(struct_at + 2), {errno.ENOPKG}),
             "trailer pad": (flip(struct_at + 5), {errno.EBADMSG}),
             "magic": (flip(len(image) - 3), {errno.ENODATA}),
             "extended": (image + b"\n", {errno.ENODATA}),
             "truncated": (image[:-1], {errno.ENODATA})}
    for name, (data, want) in cases.items():
        for enforce in (False, True):
            k = _kernel(debian_kernel_612, trusted_keys=tuple(certs), sig_enforce=enforce)
            before = snapshot(k)
            try:
                mod = k.load_module(data)
                got = mod.sig_errno
                assert not enforce and got in want and "E" in mod.taint_letters, name
            except ModuleLoadError as e:
                assert snapshot(k) == before and e.stage == "signature", (name, e)
                soft = want & {errno.ENODATA, errno.ENOPKG, errno.ENOKEY}
                assert e.errno in (want - soft) or (enforce and soft and
                                                    e.errno == errno.EKEYREJECTED), (name, e)
