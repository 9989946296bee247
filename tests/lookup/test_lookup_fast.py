"""ModTree.find / within through the C extension (pymod._lookfast, issue 17 §5).

The one-address path must give exactly the answers of the batch path
(find_many), of the O(n) list strategy and of a plain reference over the
regions, on random trees, while writers race, and after fork(); anything
that is not a plain int in range must be checked, converted or refused
exactly as the Python path does.  No timings are asserted here.
"""

from __future__ import annotations

import errno
import os
import threading

import numpy as np
import pytest

from pymod import _lookfast
from pymod._lookup_cffi import ffi, lib
from pymod.errors import InvalidArgument, InvalidType, PymodError, UnknownModule
from pymod.lookup import REGION_KINDS, ModTree

U64 = (1 << 64) - 1


def random_modules(seed: int, n: int) -> dict[int, dict[str, tuple[int, int]]]:
    """``n`` modules with disjoint random regions (some kinds absent), random ids,
    spread over the whole address space, the top byte included."""
    rng = np.random.default_rng(seed)
    slots = rng.choice(1 << 20, size=n * len(REGION_KINDS), replace=False)
    ids = rng.choice(1 << 40, size=n, replace=False)
    step = (1 << 64) >> 20
    mods = {}
    for m in range(n):
        regs = {}
        for k, kind in enumerate(REGION_KINDS):
            if rng.random() < 0.2:
                continue
            base = int(slots[m * len(REGION_KINDS) + k]) * step + int(rng.integers(0, 64))
            regs[kind] = (base, min(int(rng.integers(1, step - 64)), U64 - base + 1))
        mods[int(ids[m])] = regs
    return mods


def probes(mods, rng, count: int) -> list[int]:
    """Addresses at every region's edges and inside, in gaps, and the extremes."""
    out = [0, 1, U64, U64 - 1]
    for regs in mods.values():
        for b, s in regs.values():
            out += [b, b + s - 1, b + int(rng.integers(s)), b - 1 if b else 0,
                    min(b + s, U64)]
    out += [int(a) for a in rng.integers(0, U64, count, dtype=np.uint64, endpoint=True)]
    return out


def reference(mods, addr: int) -> int | None:
    for mid, regs in mods.items():
        if any(b <= addr < b + s for b, s in regs.values()):
            return mid
    return None


@pytest.mark.parametrize("seed", range(6))
def test_find_agrees_with_batch_list_and_reference(seed):
    mods = random_modules(seed, 5 + 40 * seed)
    trees = {s: ModTree(s) for s in ("tree", "list")}
    for t in trees.values():
        for mid, regs in mods.items():
            t.insert(mid, regs)
    rng = np.random.default_rng(100 + seed)
    gone = list(mods)[: len(mods) // 4]         # removed, and init regions dropped
    for t in trees.values():
        for mid in gone:
            t.remove(mid)
        for mid in list(mods)[len(mods) // 4: len(mods) // 2]:
            t.remove_init(mid)
    live = {mid: {k: r for k, r in regs.items()
                  if mid in list(mods)[len(mods) // 2:] or not k.startswith("init_")}
            for mid, regs in mods.items() if mid not in gone}
    addrs = probes(mods, rng, 500)
    want = [reference(live, a) for a in addrs]
    batch = np.array(addrs, dtype=np.uint64)
    for t in trees.values():
        assert [t.find(a) for a in addrs] == want
        assert [t.find(np.uint64(a)) for a in addrs[:50]] == want[:50]     # the Python path
        assert (t.find_many(batch) == [-1 if w is None else w for w in want]).all()
        assert (t.find_many(batch, method="walk") == t.find_many(batch)).all()
    for mid, regs in live.items():
        for b, s in regs.values():
            for t in trees.values():
                assert t.within(b, mid) and t.within(b + s - 1, mid)
                assert t.within(b + s - 1, np.int64(mid))
    other = next(iter(live))
    for a, w in zip(addrs[:300], want[:300], strict=True):
        for t in trees.values():
            assert t.within(a, other) is (w == other)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["tree", "list"])
def test_find_races_writers(strategy):
    """Two writer threads churn disjoint id/address windows while readers
    check every answer of find and within against what must hold."""
    t = ModTree(strategy)
    base = 0xFFFF_F000_0000_0000
    stable = random_modules(7, 30)
    for mid, regs in stable.items():
        t.insert(mid, regs)
    addrs = [(mid, b + o) for mid, regs in stable.items() for b, s in regs.values()
             for o in (0, s - 1, s // 2)]
    stop = threading.Event()
    errors: list[str] = []

    def writer(w):
        for k in range(1500):
            mid = (1 << 50) + w * 10**6 + k
            region = base + (w * 64 + k % 64) * 0x10000
            t.insert(mid, {"text": (region, 0x8000), "init_text": (region + 0x8000, 0x100)})
            if t.find(region + 5) != mid:
                errors.append("writer %d: own module %d not found" % (w, mid))
            t.remove_init(mid)
            t.remove(mid)

    def reader(r):
        rng = np.random.default_rng(r)
        while not stop.is_set():
            mid, a = addrs[int(rng.integers(len(addrs)))]
            if t.find(a) != mid or not t.within(a, mid):
                errors.append("stable %d lost at %#x" % (mid, a))
            got = t.find(base + int(rng.integers(128 * 0x10000)))
            if got is not None and got < (1 << 50):
                errors.append("churn area answered by stable module %d" % got)

    readers = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
    writers = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for th in readers + writers:
        th.start()
    for th in writers:
        th.join()
    stop.set()
    for th in readers:
        th.join()
    assert not errors, errors[:5]
    assert len(t) == len(stable) and t.validate() > 0


BAD_ADDRESSES = [
    (True, InvalidType, "address must be an int, not bool"),
    (np.True_, InvalidType, "address must be an int, not numpy.bool"),
    (1.0, InvalidType, "address must be an int, not float"),
    (np.float64(1), InvalidType, "address must be an int, not numpy.float64"),
    ("4096", InvalidType, "address must be an int, not str"),
    (None, InvalidType, "address must be an int, not NoneType"),
    (-1, InvalidArgument, "address -1 outside"),
    (np.int64(-5), InvalidArgument, "address -5 outside"),
    (1 << 64, InvalidArgument, "address 0x10000000000000000 outside"),
    (-(1 << 70), InvalidArgument, "outside 0..2"),
]


@pytest.mark.parametrize("strategy", ["tree", "list"])
@pytest.mark.parametrize("addr, exc, match", BAD_ADDRESSES)
def test_wrong_addresses_refused_as_before(strategy, addr, exc, match):
    t = ModTree(strategy)
    t.insert(1, {"text": (0, 0x10000)})
    for call, args in ((t.find, (addr,)), (t.within, (addr, 1))):
        with pytest.raises(exc, match=match) as ei:
            call(*args)
        assert isinstance(ei.value, PymodError) and ei.value.errno == errno.EINVAL
    assert t.find(1) == 1 and len(t) == 1


def test_wrong_ids_and_calls_refused_as_before():
    t = ModTree()
    t.insert(3, {"text": (0x1000, 0x1000)})
    for mid, exc in ((True, InvalidType), (1.5, InvalidType), (-1, InvalidArgument),
                     (1 << 63, InvalidArgument), ("3", InvalidType)):
        with pytest.raises(exc):
            t.within(0x1000, mid)
    with pytest.raises(UnknownModule, match="module 4: no such module"):
        t.within(0x1000, 4)
    with pytest.raises(KeyError):
        t.within(0x1000, np.int64(4))
    assert t.find(addr=0x1000) == 3 and t.within(addr=0x1000, mod_id=3) is True
    assert t.within(0x1000, mod_id=3) is True and t.within(0x3000, 3) is False
    with pytest.raises(TypeError, match=r"ModTree.find\(\) missing 1 required"):
        t.find()
    with pytest.raises(TypeError, match=r"ModTree.find\(\) takes 2 positional"):
        t.find(1, 2)
    with pytest.raises(TypeError, match=r"ModTree.within\(\) got an unexpected keyword"):
        t.within(1, 3, id=3)
    assert type(t.find(0x1000)) is int and type(t.find(np.uint16(0x1000))) is int


def test_the_map_belongs_to_the_object():
    """Python code never hands the extension a map: ModTree's base makes and
    frees its own, and a bare object of it cannot be made without one."""
    with pytest.raises(TypeError):
        object.__new__(ModTree)
    with pytest.raises(ValueError, match="unknown strategy"):
        _lookfast.Map(7)
    with pytest.raises(InvalidArgument, match="strategy must be one of"):
        ModTree("bogus")
    t = ModTree("list")
    assert t.strategy == "list" and t._map_address == int(ffi.cast("uintptr_t", t._map))
    with pytest.raises(AttributeError):
        t._map_address = 0     # read-only
    for _ in range(2000):      # each map freed with its object (no ffi.gc left)
        ModTree().insert(1, {"text": (0x1000, 0x10)})


def test_bench_hooks_left_the_api():
    assert not hasattr(ModTree, "_noop_call") and not hasattr(lib, "pm_map_noop")
    assert ModTree.find is _lookfast.Map.find and ModTree.within is _lookfast.Map.within
    probe = _lookfast.Probe()
    assert probe.find(5) is None and probe.find(U64) is None
    for bad in (-1, 1 << 64, True, 1.0):
        with pytest.raises(TypeError):
            probe.find(bad)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fast_path_after_fork_with_a_writer():
    """A child forked while a writer thread churns gets a map whose C-path
    answers equal its batch answers and the reference over what it holds."""
    t = ModTree()
    mods = random_modules(11, 50)
    for mid, regs in mods.items():
        t.insert(mid, regs)
    stop = threading.Event()

    def writer():
        k = 0
        while not stop.is_set():
            t.insert((1 << 45) + k, {"text": (0x1000_0000 + (k % 8) * 0x10000, 0x8000)})
            t.remove((1 << 45) + k)
            k += 1

    th = threading.Thread(target=writer)
    th.start()
    statuses = []
    try:
        for _ in range(8):
            pid = os.fork()
            if pid == 0:
                os._exit(child_check(t, mods))
            statuses.append(os.waitpid(pid, 0)[1])
    finally:
        stop.set()
        th.join()
    assert statuses == [0] * 8


def child_check(t: ModTree, mods) -> int:
    try:
        t.validate()
        held = {mid: t.regions(mid) for mid in t.ids()}
        if not set(mods) <= set(held) or len(held) > len(mods) + 1:
            return 3
        addrs = probes(held, np.random.default_rng(0), 300)
        got = [t.find(a) for a in addrs]
        batch = t.find_many(np.array(addrs, dtype=np.uint64))
        if got != [reference(held, a) for a in addrs] or \
                list(batch) != [-1 if g is None else g for g in got]:
            return 4
        t.insert(1 << 60, {"text": (0x2000_0000, 0x100)})
        if t.find(0x2000_0010) != 1 << 60 or not t.within(0x2000_00FF, 1 << 60):
            return 5
        t.remove(1 << 60)
        t.reclaim()
        return 0 if t.find(0x2000_0010) is None else 6
    except BaseException:
        return 7


@pytest.mark.parametrize("mod_id", [0, 256, 257, 4095, (1 << 16) - 1, 1 << 16, (1 << 63) - 1])
def test_found_ids_are_exact_ints_and_stay_so(mod_id):
    # find answers ids above the small ints from a per-tree table of int
    # objects (no allocation per call): the answer must be the id itself,
    # an exact int, equal on every call, across table growth and removal.
    t = ModTree("tree")
    t.insert(mod_id, {"text": (0x1000, 0x1000)})
    if 300 <= mod_id < (1 << 16) - 4:
        t.insert(mod_id + 3, {"text": (0x3000, 0x1000)})          # grows the table
    for _ in range(3):
        got = t.find(0x1800)
        assert type(got) is int and got == mod_id
    t.remove(mod_id)
    assert t.find(0x1800) is None
    t.insert(mod_id, {"data": (0x9000, 0x10)})                  # the id comes back
    assert t.find(0x9008) == mod_id and t.find(0x1800) is None


def test_ids_sharing_a_table_slot_are_each_answered_right():
    # The table is direct-mapped: ids 1024 apart share a slot and evict
    # each other, which must only cost an allocation, never a wrong id.
    t = ModTree("tree")
    ids = [1300, 1300 + 1024, 1300 + 2048, (1 << 63) - 1]
    for k, mod_id in enumerate(ids):
        t.insert(mod_id, {"text": (0x10000 * (k + 1), 0x1000)})
    for _ in range(3):
        assert [t.find(0x10000 * (k + 1) + 5) for k in range(len(ids))] == ids


def test_the_id_table_lets_go_with_the_tree():
    # The table holds a reference to each int it made; freeing the tree
    # must drop them (a leak here would grow with every tree).
    import gc
    import sys
    probe = 10**4 + 7
    t = ModTree("tree")
    t.insert(probe, {"text": (0x1000, 0x1000)})
    got = t.find(0x1000)
    held = sys.getrefcount(got)
    assert t.find(0x1000) is got                                # one object, reused
    del t
    gc.collect()
    assert sys.getrefcount(got) == held - 1
