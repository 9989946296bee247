"""The architecture seam (pymod.arch, csrc/reloc/): every hook there for each
architecture, Config choosing one, and the model following the choice (the
machine check, the module area, vermagic, the layout hook, the C table)."""

from __future__ import annotations

import dataclasses
import errno

import pytest

import pymod.arch
from pymod import Config, Kernel, ModuleLoadError
from pymod._reloc_cffi import ffi, lib
from pymod.arch import ARCHES, HOOKS, Arch, RelocFault, x86_64
from pymod.elf.constants import EM_X86_64
from pymod.samples import prebuilt_path
from tests.loader.support import assert_consistent, sample_bytes

EM_AARCH64 = 183
HELLO = sample_bytes("pm_hello")


def _with_machine(data: bytes, machine: int) -> bytes:
    return data[:18] + machine.to_bytes(2, "little") + data[20:]


@pytest.mark.parametrize("name", sorted(ARCHES))
def test_every_hook_is_implemented(name):
    """Each architecture sets every field of Arch (constants and callables),
    its module area is a real range, and the C library has its relocation
    hook under its e_machine."""
    arch = ARCHES[name]
    assert arch.name == name
    assert set(HOOKS) == {f.name for f in dataclasses.fields(Arch)}
    for hook in HOOKS:
        value = getattr(arch, hook)
        assert value is not None, hook
        if dataclasses.fields(Arch)[HOOKS.index(hook)].type.startswith("Callable"):
            assert callable(value), hook
    assert 0 < arch.modules_vaddr < arch.modules_end <= 1 << 64
    assert arch.modules_vaddr % 4096 == 0 and arch.modules_end % 4096 == 0
    assert lib.pm_reloc_supported(arch.e_machine) == 1


def test_an_unmodelled_machine_has_no_c_hook():
    assert lib.pm_reloc_supported(EM_AARCH64) == 0
    fault = ffi.new("struct pm_reloc_fault *")
    region = ffi.new("unsigned char[]", 8)
    status = lib.pm_reloc_apply(EM_AARCH64, region, 8, 0x1000, 0x1000,
                                ffi.new("unsigned char[]", 24), 1, ffi.new("uint64_t[]", 1),
                                1, fault)
    assert status == lib.PM_RELOC_EMACHINE
    assert ffi.string(lib.pm_reloc_strerror(status)) == b"no relocation hook for this ELF machine"


def test_x86_64_is_the_default_and_what_it_was():
    """The x86-64 values the loader used before the seam, now behind it."""
    config = Config()
    assert config.arch == "x86_64" and config.arch_hooks is x86_64.ARCH
    assert x86_64.ARCH.e_machine == EM_X86_64 == 62
    assert (x86_64.MODULES_VADDR, x86_64.MODULES_END) == (0xFFFFFFFFC0000000,
                                                           0xFFFFFFFFFF000000)
    assert config.vermagic == "6.12.0-pymod-amd64 SMP preempt mod_unload modversions "
    k = Kernel(config)
    assert (k.area.start, k.area.end) == (x86_64.MODULES_VADDR, x86_64.MODULES_END)
    mod = k.load_module(prebuilt_path("pm_hello"))
    assert all(x86_64.MODULES_VADDR <= r.base < x86_64.MODULES_END
               for r in mod.mem.values() if r.size)


def _kconfig(tmp_path, *symbols):
    path = tmp_path / "config-6.12.0-test"
    path.write_text("# Linux/x86 6.12.0 Kernel Configuration\nCONFIG_MODULES=y\n"
                    + "".join("CONFIG_%s=y\n" % s for s in symbols))
    return path


def test_config_picks_the_arch_from_a_config(tmp_path):
    assert Config.from_kconfig(_kconfig(tmp_path, "X86_64", "X86")).arch == "x86_64"
    assert Config.from_kconfig(_kconfig(tmp_path)).arch == "x86_64"   # a fragment naming none
    with pytest.raises(ValueError, match="no architecture 'arm64' in pymod .modelled: x86_64"):
        Config.from_kconfig(_kconfig(tmp_path, "ARM64"))
    with pytest.raises(ValueError, match="'sparc'"):
        Config(arch="sparc")


def _fake(monkeypatch, **changes) -> Arch:
    """An architecture registered for one test: x86-64's with ``changes``."""
    arch = dataclasses.replace(x86_64.ARCH, **changes)
    monkeypatch.setitem(ARCHES, arch.name, arch)
    return arch


def test_an_added_arch_is_chosen_by_its_kconfig_symbol(monkeypatch, tmp_path):
    """Registering an Arch is all Config needs: its symbol selects it, and
    its MODULE_ARCH_VERMAGIC lands between modversions and RANDSTRUCT."""
    _fake(monkeypatch, name="arm64", kconfig="ARM64", e_machine=EM_AARCH64,
          vermagic_suffix="aarch64")
    config = Config.from_kconfig(_kconfig(tmp_path, "ARM64", "MODVERSIONS"),
                                 randstruct_hash="ab12")
    assert config.arch == "arm64"
    assert config.vermagic == "6.12.0-test modversions aarch64RANDSTRUCT_ab12"


def test_an_aarch64_module_is_refused_by_an_x86_64_kernel():
    """elf_check_arch: the kernel's own message, at pr_err, ENOEXEC."""
    k = Kernel()
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(_with_machine(HELLO, EM_AARCH64))
    assert (ei.value.errno, ei.value.stage) == (errno.ENOEXEC, "elf")
    assert ei.value.strerror == "Invalid architecture in ELF header: 183"
    assert ("err", "Invalid architecture in ELF header: 183") in k.log.lines
    assert_consistent(k)


def test_the_machine_check_and_relocations_follow_config_arch(monkeypatch):
    """A kernel of another architecture refuses x86-64's modules by the same
    rule; one without a C relocation hook refuses at relocation (EINVAL: a
    missing hook is pymod's gap, not the module's fault)."""
    _fake(monkeypatch, name="other", kconfig="OTHER", e_machine=EM_AARCH64)
    k = Kernel(Config(arch="other"))
    with pytest.raises(ModuleLoadError, match="Invalid architecture in ELF header: 62$"):
        k.load_module(HELLO)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(_with_machine(HELLO, EM_AARCH64))
    assert (ei.value.errno, ei.value.stage) == (errno.EINVAL, "relocate")
    assert ei.value.strerror.endswith("no relocation hook for this ELF machine")
    assert_consistent(k)


def test_the_layout_hook_runs_before_w_x(monkeypatch):
    """module_frob_arch_sections runs first in layout_and_allocate, with the
    dossier and the module; its refusal is the load's."""
    seen = []

    def frob(info, mod):
        seen.append((info.name, mod.name, int(info.hdr.e_machine)))
        raise ModuleLoadError(errno.ENOEXEC, "frob said no", module=mod.name, stage="layout")

    _fake(monkeypatch, name="frobbing", frob_arch_sections=frob)
    k = Kernel(Config(arch="frobbing"))
    with pytest.raises(ModuleLoadError, match="frob said no"):
        k.load_module(prebuilt_path("pm_wx"))      # W^X would refuse it otherwise
    assert seen == [("pm_wx", "pm_wx", EM_X86_64)]
    assert_consistent(k)


def test_x86_64_refusal_lines():
    """The kernel's lines per status (6.1 prints S+A, 6.12 the PC-relative value)."""
    f = RelocFault(lib.PM_RELOC_ENONZERO, 2, 0x1000, 0x10, "00000000deadbeef")
    assert x86_64.reloc_refusal(f, "m", False) == (
        "module: x86/modules: Invalid relocation target, existing value is nonzero for "
        "type 2, loc 00000000deadbeef, val 10",)
    assert x86_64.reloc_refusal(f, "m", True)[0].endswith("loc 00000000deadbeef, val 1010")
    f = dataclasses.replace(f, status=lib.PM_RELOC_EOVERFLOW, type=10)
    assert x86_64.reloc_refusal(f, "m", False)[1] == (
        "module: `m' likely not compiled with -mcmodel=kernel")
    for status in (lib.PM_RELOC_ESYMBOL, lib.PM_RELOC_ERANGE):
        assert x86_64.reloc_refusal(dataclasses.replace(f, status=status), "m", False) == ()
    assert pymod.arch.get("x86_64") is x86_64.ARCH
