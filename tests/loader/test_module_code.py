"""What module code decides: pymod runs none of it, so a parameter parsed by
the module's own ``kernel_param_ops`` and the init function are named on the
result (``Module.undecided``, ``ModuleLoadError.undecided``) rather than
judged; the standard ops stay exact (``lib/kstrtox.c``).  On the
pm_param_ops sample."""

from __future__ import annotations

import errno
import io
import struct

import pytest
from elftools.elf.elffile import ELFFile

from pymod import Kernel, ModuleLoadError
from pymod.contract.internal import INIT_UNDECIDED, Undecided
from pymod.loader import queries
from pymod.loader.param_ops import INT_TYPES, STANDARD_OPS
from tests.loader.support import assert_consistent, sample_bytes, snapshot

OPS = sample_bytes("pm_param_ops")
MODE = Undecided("param", "mode", "pm_mode_ops",
                 "parameter mode is parsed by pm_param_ops's own ops (pm_mode_ops)")
MODES = Undecided("param", "modes", "pm_mode_ops", "the elements of parameter modes are "
                  "parsed by pm_param_ops's own ops (pm_mode_ops)")


def refused(args: str, image: bytes = OPS) -> tuple[ModuleLoadError, Kernel]:
    k = Kernel()
    before = snapshot(k)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(image, params=args)
    assert snapshot(k) == before
    assert_consistent(k)
    return ei.value, k


def test_without_parameters_only_init_is_the_modules_to_decide():
    mod = Kernel().load_module(OPS)
    assert mod.undecided == (INIT_UNDECIDED,)
    assert {p.name: p.foreign is not None for p in mod.kp} == {
        "count": False, "modes": True, "mode": True}


def test_a_value_only_its_own_ops_can_judge_loads_and_says_so():
    # mode_set refuses 9 in the real kernel; pymod cannot run it
    k = Kernel()
    mod = k.load_module(OPS, params="mode=9 count=2 mode=0")
    assert mod.undecided == (MODE, INIT_UNDECIDED)          # once, however often given
    assert queries.sysfs(k, "pm_param_ops")["parameters/mode"] == "0"
    assert queries.sysfs(k, "pm_param_ops")["parameters/count"] == "2"


def test_noarg_is_read_from_the_modules_own_ops():
    mod = Kernel().load_module(OPS, params="mode")         # KERNEL_PARAM_OPS_FL_NOARG
    assert mod.undecided == (MODE, INIT_UNDECIDED)
    e, _ = refused("count")
    assert e.strerror == "pm_param_ops: `' invalid for parameter `count'"


def test_noarg_cleared_in_the_ops_makes_a_bare_name_invalid():
    elf = ELFFile(io.BytesIO(OPS))
    sym = elf.get_section_by_name(".symtab").get_symbol_by_name("pm_mode_ops")[0]
    flags_at = elf.get_section(sym["st_shndx"])["sh_offset"] + sym["st_value"]
    assert struct.unpack_from("<I", OPS, flags_at) == (1,)
    image = OPS[:flags_at] + bytes(4) + OPS[flags_at + 4:]
    e, k = refused("mode", image)
    assert (e.errno, e.strerror) == (errno.EINVAL, "pm_param_ops: `' invalid for parameter `mode'")
    assert e.undecided == ()                                # refused before its set ran


def test_an_arrays_count_and_limit_stay_the_kernels():
    k = Kernel()
    mod = k.load_module(OPS, params="modes=7,8")
    assert mod.undecided == (MODES, INIT_UNDECIDED)
    nmodes = next(p for p in mod.kp if p.name == "modes").array[2]
    assert queries.read(k, nmodes, 4) == struct.pack("<I", 2)
    e, k = refused("modes=1,2,3,4")
    assert (e.errno, e.strerror) == (errno.EINVAL,
                                     "pm_param_ops: `1' invalid for parameter `modes'")
    assert k.log.lines[-2] == ("err", "modes: can only take 3 arguments")
    assert e.undecided == (MODES,)


def test_a_refusal_names_the_module_code_that_ran_before_it():
    e, _ = refused("mode=5 count=abc")
    assert (e.stage, e.strerror) == ("params", "pm_param_ops: `abc' invalid for parameter `count'")
    assert e.undecided == (MODE,)


def test_standard_ops_are_exactly_vmlinuxs():
    kinds = {"byte", "short", "ushort", "int", "uint", "long", "ulong", "ullong", "hexint",
             "charp", "bool", "bool_enable_only", "invbool", "bint", "string"}
    assert STANDARD_OPS == {**{"param_ops_" + k: k for k in kinds}, "param_array_ops": "array"}


@pytest.mark.parametrize("kind, text, want", [
    ("byte", "255", 255), ("byte", "256", "ERANGE"), ("byte", "-1", "EINVAL"),
    ("short", "-32768", -32768), ("short", "0x8000", "ERANGE"),
    ("ushort", "0xffff", 0xFFFF), ("ushort", "65536", "ERANGE"),
    ("int", "-0x10", -16), ("int", "+5\n", 5), ("int", "2147483648", "ERANGE"),
    ("int", "-+5", "EINVAL"),
    ("uint", "4294967295", 0xFFFFFFFF), ("uint", "-1", "EINVAL"),
    ("long", "-9223372036854775808", -(1 << 63)), ("long", "9223372036854775808", "ERANGE"),
    ("ulong", "18446744073709551615", (1 << 64) - 1), ("ulong", "0x", "EINVAL"),
    ("ullong", "01777777777777777777777", (1 << 64) - 1),
    ("ullong", "18446744073709551616", "ERANGE"), ("ullong", "99999999999999999999x", "ERANGE"),
    ("hexint", "0xdeadbeef", 0xDEADBEEF), ("hexint", "0x100000000", "ERANGE"),
])
def test_standard_integer_ops_parse_as_kstrtox(kind, text, want):
    """kstrto<type>(s, 0): prefix picks the base, one newline allowed, ERANGE
    (checked before trailing junk) past the type, EINVAL otherwise."""
    try:
        got: int | str = INT_TYPES[kind].parse(text)
    except OSError as e:
        got = errno.errorcode[e.errno]
    assert got == want


def test_hexint_prints_as_the_kernels_vsnprintf():
    show = INT_TYPES["hexint"].show
    assert (show(0), show(0x12), show(0xDEADBEEF)) == ("0x000000", "0x000012", "0xdeadbeef")
