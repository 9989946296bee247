"""The C libraries name every status they return (pm_strerror,
pm_kscan_strerror, pm_reloc_strerror, pd_strerror), and errors.status_error
turns each failure into the exception its library's table promises."""

from __future__ import annotations

import errno

import pytest

from pymod import _dwarf_cffi, _kscan_cffi, _lookup_cffi, _reloc_cffi
from pymod.elf import kscan
from pymod.errors import (
    DuplicateModule,
    InvalidArgument,
    ModuleLoadError,
    PymodError,
    RegionOverlap,
    UnknownModule,
    status_error,
)

LIBRARIES = {
    "lookup": (_lookup_cffi, "enum pm_status", "pm_strerror"),
    "kscan": (_kscan_cffi, "enum pm_kscan_status", "pm_kscan_strerror"),
    "reloc": (_reloc_cffi, "enum pm_reloc_status", "pm_reloc_strerror"),
    "dwarf": (_dwarf_cffi, "enum pd_status", "pd_strerror"),
}


def texts(library: str) -> dict[int, str]:
    mod, enum, func = LIBRARIES[library]
    strerror = getattr(mod.lib, func)
    return {status: mod.ffi.string(strerror(status)).decode()
            for status in mod.ffi.typeof(enum).elements}


@pytest.mark.parametrize("library", list(LIBRARIES))
def test_every_status_has_its_own_text(library):
    mod, _, func = LIBRARIES[library]
    t = texts(library)
    assert t[0] == "success"
    assert "unknown status" not in t.values()
    assert len(set(t.values())) == len(t)
    strerror = getattr(mod.lib, func)
    for bogus in (1, min(t) - 1, -(2 ** 31)):
        assert mod.ffi.string(strerror(bogus)) == b"unknown status"


def test_lookup_table_covers_every_failure():
    from pymod.lookup import _STATUS_KINDS

    assert set(_STATUS_KINDS) == {s for s in texts("lookup") if s < 0}


def test_kscan_failures_are_all_enoexec():
    assert set(kscan._STATUS_KINDS) == {s for s in texts("kscan") if s < 0}
    assert set(kscan._STATUS_KINDS.values()) == {"noexec"}


def test_reloc_table_covers_every_failure():
    """Every relocation failure is negative, has its text and refuses the
    load; only a caller's bug (a NULL argument, a machine without a hook) is
    not ENOEXEC."""
    from pymod.loader.relocate import _STATUS_KINDS

    lib = _reloc_cffi.lib
    assert set(_STATUS_KINDS) == {s for s in texts("reloc") if s < 0}
    assert set(texts("reloc")) - set(_STATUS_KINDS) == {lib.PM_RELOC_OK}
    assert {s for s, k in _STATUS_KINDS.items() if k != "noexec"} == {lib.PM_RELOC_EINVAL,
                                                                       lib.PM_RELOC_EMACHINE}


def test_status_error_refusing_a_load():
    """With a stage the status refuses a load: ModuleLoadError, the kind's
    errno, the module's name; what=None keeps a kernel line as it is."""
    e = status_error(-1, "module: foo: Unknown rela relocation: 99", {-1: "noexec"}, what=None,
                     stage="relocate", name="foo")
    assert type(e) is ModuleLoadError and e.errno == errno.ENOEXEC
    assert (e.strerror, e.module, e.stage) == ("module: foo: Unknown rela relocation: 99",
                                               "foo", "relocate")
    e = status_error(-6, "relocation 0 of .rela.text: NULL", {-6: "invalid"}, what="foo",
                     stage="relocate", name="foo")
    assert type(e) is ModuleLoadError and e.errno == errno.EINVAL
    assert e.strerror == "foo: relocation 0 of .rela.text: NULL"
    e = status_error(-9, "unknown status", {}, what="foo", stage="relocate", name="foo")
    assert type(e) is ModuleLoadError and e.errno == errno.EIO and "-9" in e.strerror


def test_dwarf_table_covers_every_failure():
    from pymod.dwarf.native import _STATUS_KINDS

    assert set(_STATUS_KINDS) == {s for s in texts("dwarf") if s < 0}


@pytest.mark.parametrize("kind, cls, code", [
    ("overlap", RegionOverlap, errno.EEXIST),
    ("duplicate", DuplicateModule, errno.EEXIST),
    ("unknown", UnknownModule, errno.ENOENT),
    ("invalid", InvalidArgument, errno.EINVAL),
    ("nomem", PymodError, errno.ENOMEM),
    ("noexec", PymodError, errno.ENOEXEC),
    ("corrupt", PymodError, errno.EIO),
])
def test_status_error_kinds(kind, cls, code):
    e = status_error(-3, "it broke", {-3: kind}, what="module 4", module=4, other=9)
    assert type(e) is cls and e.errno == code
    assert str(e).endswith("module 4: it broke" + (" (module 9)" if kind == "overlap" else ""))
    if kind == "overlap":
        assert (e.module, e.other) == (4, 9)


def test_status_error_unexpected_status():
    e = status_error(-99, "unknown status", {}, what="find_many")
    assert type(e) is PymodError and e.errno == errno.EIO
    assert "find_many: unknown status" in str(e) and "-99" in str(e)


def test_validate_failures_name_the_invariant():
    from pymod.lookup import _raise_for

    lib = _lookup_cffi.lib
    for status in (lib.PM_EIDINDEX, lib.PM_ECOUNT, lib.PM_ETREE0, lib.PM_ETREE1, lib.PM_ENODES,
                   lib.PM_ELIST):
        with pytest.raises(PymodError) as ei:
            _raise_for(status, "ModTree invariant broken")
        assert ei.value.errno == errno.EIO
        assert ei.value.strerror == "ModTree invariant broken: " + texts("lookup")[status]


def test_one_lookup_status_table():
    """The lookup core's statuses are mapped in pymod.lookup alone: the
    symbolizer's binding raises through it (a second table drifted once)."""
    import pathlib

    import pymod
    from pymod.lookup import _raise_for
    from pymod.symbolize import core

    root = pathlib.Path(pymod.__file__).parent
    tables = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                    if "lib.PM_EDUPID:" in p.read_text())
    assert tables == ["lookup.py"]
    with pytest.raises(DuplicateModule, match="module 3: "):
        core._check(_lookup_cffi.lib.PM_EDUPID, "module 3")
    assert core._check is _raise_for
