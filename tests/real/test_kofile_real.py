"""kofile/ksymtab on every module of a real Debian kernel, checked against its
``Module.symvers`` and, for a sample, against binutils and kmod."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from pymod.elf.kofile import read_ko
from pymod.elf.ksymtab import exports, undefined_symbols, versions
from tests.conftest import STRUCT_MODULE_SIZE, series_of

pytestmark = pytest.mark.real_kernel


def read_symvers(path) -> dict[str, tuple[int, str, str, str]]:
    out = {}
    for line in open(path):
        crc, sym, mod, kind, ns = line.rstrip("\n").split("\t")
        out[sym] = (int(crc, 16), mod, kind, ns)
    return out


@pytest.mark.slow
def test_every_module_parses_and_exports_match_symvers(debian_kernel):
    symvers = read_symvers(debian_kernel.symvers)
    seen: set[str] = set()
    bad = []
    files = debian_kernel.ko_files()
    size = STRUCT_MODULE_SIZE[series_of(debian_kernel.release)]
    for f in files:
        ko = read_ko(f)
        assert ko.sig_errno == 0 and ko.sig.id_type == 2, f
        assert ko.elf.e_type == 1 and ko.elf.e_machine == 62
        assert ko.elf.section(".gnu.linkonce.this_module").size == size
        modpath = str(f.relative_to(debian_kernel.modules_dir / "kernel")).split(".ko")[0]
        for e in exports(ko.elf):
            seen.add(e.name)
            kind = "EXPORT_SYMBOL_GPL" if e.gpl else "EXPORT_SYMBOL"
            want = symvers.get(e.name)
            if want is None or want != (e.crc, modpath, kind, e.namespace):
                bad.append((f.name, e, want))
        ours = {n for _, n in versions(ko.elf)}
        for name, weak in undefined_symbols(ko.elf):
            # modpost records a CRC for every strong undefined symbol
            if not weak and name not in ours:
                bad.append((f.name, "no version for " + name))
    module_exports = {s for s, v in symvers.items() if v[1] != "vmlinux"}
    assert not bad, bad[:5]
    assert seen == module_exports


@pytest.mark.slow
def test_sample_against_nm_and_kmod(debian_kernel, tmp_path):
    for tool in ("nm", "modprobe"):
        if shutil.which(tool) is None:
            pytest.skip("%s not installed" % tool)
    files = random.Random(7).sample(debian_kernel.ko_files(), 25)
    for f in files:
        ko = read_ko(f)
        plain = tmp_path / "m.ko"
        plain.write_bytes(ko.image)
        nm = subprocess.run(["nm", "-u", str(plain)], capture_output=True, text=True,
                            check=True).stdout.split()
        assert sorted(undefined_symbols(ko.elf)) == sorted(
            (name, kind == "w") for kind, name in zip(nm[::2], nm[1::2], strict=False)), f
        dump = subprocess.run(["modprobe", "--dump-modversions", str(plain)],
                              capture_output=True, text=True, check=True).stdout.split()
        pairs = zip(dump[::2], dump[1::2], strict=False)
        assert versions(ko.elf) == [(int(c, 16), n) for c, n in pairs], f
