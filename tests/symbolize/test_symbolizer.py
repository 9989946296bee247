"""The C symbolizer (pymod.symbolize.Symbolizer) against the reference lookup,
following a Kernel, under concurrent loads and unloads, and pickled."""

from __future__ import annotations

import copy
import pickle
import threading

import numpy as np
import pytest

from pymod import InvalidArgument, Kernel, ModuleLoadError
from pymod.samples import prebuilt_path
from pymod.symbolize import Symbolizer
from pymod.symbolize.follow import KernelSymbolizer
from pymod.symbolize.model import Maps, ModuleMap
from pymod.symbolize.reference import module_lookup, reference_lookup, reference_sprint
from tests.symbolize.support import core, maps, table

MASK = (1 << 64) - 1


def _module(name: str, base: int, rows: list[tuple[int, str, str]],
            size: int = 0x1000) -> ModuleMap:
    return ModuleMap(name, ((base, size),), (base, size), (0, 0), table(*rows))


HAND = maps(
    core((0x1000, "T", "_stext"), (0x1000, "T", "alias"), (0x1010, "t", "f"),
         (0x1040, "T", "g"), (0x3000, "t", "init_f"), stext=0x1000, etext=0x1080),
    _module("a", 0x10000, [(0x10010, "t", "a1"), (0x10010, "T", "a1_alias"),
                           (0x10100, "t", "a2")]),
    _module("b", 0x12000, [(0x12000, "t", "b1")], size=0x2000),
    _module("nosyms", 0x20000, []),
)


def _edges(m: Maps) -> list[int]:
    points = {0, MASK, 0x0FFF, 0x1080, 0x107F, 0x3000, 0x30FF, 0x3100}
    for mod in m.modules:
        for base, size in mod.regions:
            points |= {base - 1, base, base + 1, base + size - 1, base + size}
        points |= {int(a) + d for a in mod.symbols.addrs for d in (-1, 0, 1)}
    if m.core is not None:
        points |= {int(a) + d for a in m.core.symbols.addrs for d in (-1, 0, 1)}
    return sorted(p & MASK for p in points)


def _as_tuple(sym):
    return None if sym is None else (sym.name, sym.offset, sym.size, sym.module)


@pytest.mark.parametrize("backtrace", [False, True])
def test_hand_made_maps_match_the_reference(backtrace):
    s = Symbolizer(HAND)
    addrs = _edges(HAND)
    r = s.symbolize_many(np.array(addrs, dtype=np.uint64), backtrace=backtrace)
    got = [_as_tuple(sym) for sym in r]
    assert got == [reference_lookup(HAND, a, backtrace) for a in addrs]
    fmt = "B" if backtrace else "S"
    assert r.format(fmt) == [reference_sprint(HAND, a, fmt) for a in addrs]
    assert [_as_tuple(s.symbolize(a, backtrace)) for a in addrs[:20]] == got[:20]


def test_reason_codes():
    s = Symbolizer(HAND)
    r = s.symbolize_many([0x10010, 0x900000, 0x20010, 0x10001])
    assert r.reason.tolist() == [0, 1, 2, 3]
    assert r.module_id[1] == -2 and r.symbol[1] == -1
    assert r.consistent and r.generation == s.generation


def test_live_kallsyms_matches_the_reference(live_maps):
    s = Symbolizer(live_maps)
    c = live_maps.core
    rng = np.random.default_rng(7)
    addrs = rng.integers(c.stext, c.end or c.etext, 20000, dtype=np.uint64)
    r = s.symbolize_many(addrs)
    for i in range(0, len(addrs), 13):
        assert _as_tuple(r[i]) == reference_lookup(live_maps, int(addrs[i]))


@pytest.fixture(scope="module")
def live_maps() -> Maps:
    from pymod.symbolize.readers import read_kallsyms

    try:
        m = read_kallsyms("/proc/kallsyms")
    except OSError as e:
        pytest.skip("/proc/kallsyms unreadable here: %s" % e)
    if m.core is None or len(m.core.symbols) < 1000:
        pytest.skip("/proc/kallsyms has no core symbols here")
    return m


def _all_addresses(mod) -> np.ndarray:
    return np.concatenate([np.arange(b, b + s, 7, dtype=np.uint64)
                           for b, s in mod.regions().values()])


def test_following_a_kernel():
    k = Kernel()
    s = KernelSymbolizer(k)
    k.load_module(prebuilt_path("pm_exporter"))
    hello = k.load_module(prebuilt_path("pm_hello"))
    addrs = _all_addresses(hello)
    r = s.symbolize_many(addrs)
    current = s.maps
    assert [_as_tuple(x) for x in r] == [reference_lookup(current, int(a)) for a in addrs]
    assert {x.module for x in r if x is not None} == {"pm_hello"}
    gen = s.generation
    k.delete_module("pm_hello")
    assert s.generation > gen
    assert all(x is None for x in s.symbolize_many(addrs))
    assert [m.name for m in s.maps.modules] == ["pm_exporter"]


def test_a_copy_of_a_kernels_symbolizer_follows_nothing():
    """A pickle or copy keeps the tables of the moment, as a plain
    Symbolizer: the kernel's later loads and unloads do not reach it."""
    k = Kernel()
    s = KernelSymbolizer(k)
    hello = k.load_module(prebuilt_path("pm_hello"))
    addrs = _all_addresses(hello)
    copies = [pickle.loads(pickle.dumps(s)), copy.copy(s), copy.deepcopy(s)]
    k.delete_module("pm_hello")
    assert s.maps.modules == ()
    for c in copies:
        assert type(c) is Symbolizer
        assert [m.name for m in c.maps.modules] == ["pm_hello"]
        assert {x.module for x in c.symbolize_many(addrs) if x is not None} == {"pm_hello"}


def test_init_symbols_vanish_after_init(monkeypatch):
    """While COMING the full table answers (init text included); once LIVE
    the init regions and init symbols are gone."""
    k = Kernel()
    s = KernelSymbolizer(k)
    seen = {}
    real = s.module_coming

    def coming(mod):
        real(mod)
        init = mod.mem[4]
        if init.size:
            seen["init"] = (init.base, init.size)
            seen["during"] = s.symbolize(init.base)

    monkeypatch.setattr(s, "module_coming", coming)
    k.load_module(prebuilt_path("pm_hello"))
    assert seen["during"] is not None and seen["during"].module == "pm_hello"
    assert s.symbolize(seen["init"][0]) is None


def test_a_failed_load_leaves_nothing_in_the_symbolizer():
    k = Kernel()
    s = KernelSymbolizer(k)
    with pytest.raises(ModuleLoadError):
        k.load_module(prebuilt_path("pm_hello"), init_result=-12)
    assert s.maps.modules == ()


def test_pickles_as_arrays_and_answers_the_same():
    s = Symbolizer(HAND)
    blob = pickle.dumps(s)
    s2 = pickle.loads(blob)
    addrs = np.array(_edges(HAND), dtype=np.uint64)
    assert s2.symbolize_many(addrs).format() == s.symbolize_many(addrs).format()
    assert b"a1_alias" in blob and len(blob) < 4000


def test_bad_arguments():
    s = Symbolizer(HAND)
    with pytest.raises(TypeError):
        s.symbolize(True)
    with pytest.raises(ValueError):
        s.symbolize(-1)
    with pytest.raises(ValueError):
        s.symbolize_many([1, -5])
    with pytest.raises(InvalidArgument):
        s.add_module(HAND.modules[0])            # already present
    overlapping = _module("c", 0x10800, [(0x10800, "t", "c1")])
    with pytest.raises(ValueError):
        s.add_module(overlapping)
    assert [m.name for m in s.maps.modules] == ["a", "b", "nosyms"]


@pytest.mark.slow
def test_concurrent_loads_never_mix_tables():
    """Readers symbolize batches while a writer loads and unloads modules:
    every answer for the stable module is right, and every answer comes
    whole from the table it names (checked against that table alone)."""
    k = Kernel()
    s = KernelSymbolizer(k)
    stable = k.load_module(prebuilt_path("pm_exporter"))
    stable_addrs = _all_addresses(stable)
    expect = [_as_tuple(x) for x in s.symbolize_many(stable_addrs)]
    stop = threading.Event()
    errors: list[str] = []
    images = [prebuilt_path(n).read_bytes() for n in ("pm_hello", "pm_ro_after_init",
                                                       "pm_weak")]

    def writer() -> None:
        while not stop.is_set():
            for image in images:
                mod = k.load_module(image)
                k.delete_module(mod.name)

    def reader() -> None:
        lo = min(b for b, _ in stable.regions().values())
        probe = np.concatenate([stable_addrs,
                                np.arange(lo, lo + (1 << 20), 64, dtype=np.uint64)])
        for _ in range(200):
            r = s.symbolize_many(probe)
            if [_as_tuple(x) for x in r][:len(expect)] != expect:
                errors.append("stable module answered wrong")
            for i in np.flatnonzero(r.found).tolist():
                owner = r.owners[int(r.table[i])]
                if owner.module is None or owner.module == "pm_exporter":
                    continue
                alone = ModuleMap(owner.module, owner.regions, (0, 0), (0, 0),
                                  owner.symbols)
                want = module_lookup(alone, int(probe[i]))
                got = (r[i].name, r[i].offset, r[i].size)
                if want is not None and want != got:
                    errors.append("%#x: %s, but its table says %s" % (probe[i], got, want))

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader)
                                                    for _ in range(2)]
    for t in threads[1:]:
        t.start()
    threads[0].start()
    for t in threads[1:]:
        t.join()
    stop.set()
    threads[0].join()
    assert errors == []


@pytest.mark.parametrize("seed", range(6))
def test_random_tables_match_the_reference(seed):
    """Tables spanning anything from 0 to 2**64-1 (a module's modinfo symbols
    sit near 0, its functions near the top): the page index never changes an
    answer."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    spread = [int(x) for x in rng.integers(0, 1 << 63, n // 3 + 1, dtype=np.uint64)]
    near_top = [MASK - int(x) for x in rng.integers(0, 1 << 20, n // 3 + 1)]
    small = [int(x) for x in rng.integers(0, 0x200, n // 3 + 1)]
    addrs = spread + near_top + small
    rows = [(a, "t", "s%d" % i) for i, a in enumerate(addrs)]
    rows += [(a, "T", "alias%d" % i) for i, a in enumerate(addrs[::7])]
    base = MASK - (1 << 21) + 1
    mod = ModuleMap("m", ((base, 1 << 21),), (base, 1 << 21), (0, 0), table(*rows))
    c = core(*rows, stext=0, etext=1 << 62, sinittext=0, einittext=0)
    m = maps(c, mod)
    s = Symbolizer(m)
    probes = sorted({a + d for a in addrs for d in (-1, 0, 1)} |
                    {int(x) for x in rng.integers(0, MASK, 2000, dtype=np.uint64)})
    probes = [p & MASK for p in probes]
    r = s.symbolize_many(np.array(probes, dtype=np.uint64))
    assert [_as_tuple(x) for x in r] == [reference_lookup(m, p) for p in probes]
