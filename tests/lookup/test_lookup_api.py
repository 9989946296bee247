"""ModTree behaviour and argument checking, for both strategies."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from pymod.errors import PymodError
from pymod.lookup import REGION_KINDS, ModTree

AREA = 0xFFFFFFFFC0000000


@pytest.fixture(params=["tree", "list"])
def tree(request):
    return ModTree(strategy=request.param)


def test_issue_example(tree):
    tree.insert(7, {"text": (AREA, 0x2000), "data": (AREA + 0x3000, 0x1000)})
    assert tree.find(AREA + 0x10) == 7
    assert tree.find(AREA + 0x2000) is None          # gap between regions
    assert tree.within(AREA + 0x3004, 7) is True
    assert tree.within(AREA + 0x2004, 7) is False
    out = tree.find_many(np.array([AREA + 0x10, AREA + 0x2800, AREA + 0x3FFF, 5],
                                  dtype=np.uint64))
    assert out.dtype == np.int64
    assert out.tolist() == [7, -1, 7, -1]
    assert (tree.addr_min, tree.addr_max, len(tree)) == (AREA, AREA + 0x3FFF, 1)
    tree.remove(7)
    assert tree.find(AREA + 0x10) is None and len(tree) == 0
    assert tree.validate() == 0


def test_region_edges(tree):
    tree.insert(1, {"rodata": (0x1000, 0x1000)})
    assert tree.find(0xFFF) is None
    assert tree.find(0x1000) == 1
    assert tree.find(0x1FFF) == 1
    assert tree.find(0x2000) is None


def test_top_of_address_space(tree):
    top = (1 << 64) - 0x1000
    tree.insert(3, {"text": (top, 0x1000)})
    assert tree.find((1 << 64) - 1) == 3
    assert tree.addr_max == (1 << 64) - 1


def test_empty_map_bounds_are_the_kernels(tree):
    assert tree.addr_min == (1 << 64) - 1 and tree.addr_max == 0
    assert tree.find(0) is None
    assert tree.find_many(np.arange(100, dtype=np.uint64)).tolist() == [-1] * 100


def test_bounds_only_widen(tree):
    tree.insert(1, {"text": (0x10000, 0x1000)})
    tree.insert(2, {"data": (0x90000, 0x1000)})
    tree.remove(2)
    assert tree.addr_max == 0x90FFF          # never shrinks on unload
    assert tree.find(0x90000) is None


def test_remove_init_drops_only_init_regions(tree):
    regions = {k: (0x100000 * (i + 1), 0x1000) for i, k in enumerate(REGION_KINDS)}
    tree.insert(5, regions)
    for b, _ in regions.values():
        assert tree.find(b) == 5 and tree.within(b, 5)
    tree.remove_init(5)
    for k, (b, _) in regions.items():
        expect = None if k.startswith("init_") else 5
        assert tree.find(b) == expect
        assert tree.within(b, 5) is (expect is not None)
    assert set(tree.regions(5)) == {"text", "data", "rodata", "ro_after_init"}
    tree.validate()


def test_zero_size_regions_are_ignored(tree):
    tree.insert(1, {"text": (0x1000, 0x1000), "data": (0x5000, 0)})
    assert tree.find(0x5000) is None
    tree.insert(2, {"data": (0x5000, 0x10)})        # not an overlap
    assert tree.find(0x5000) == 2


def test_overlap_names_both_modules_and_changes_nothing(tree):
    tree.insert(1, {"text": (0x1000, 0x1000)})
    before = (tree.addr_min, tree.addr_max, len(tree), tree.ids())
    with pytest.raises(ValueError) as ei:
        tree.insert(2, {"data": (0x9000, 0x100), "text": (0x1800, 0x1000)})
    assert "module 2" in str(ei.value) and "module 1" in str(ei.value)
    assert ei.value.errno == errno.EEXIST and isinstance(ei.value, PymodError)
    assert (ei.value.module, ei.value.other) == (2, 1)
    assert (tree.addr_min, tree.addr_max, len(tree), tree.ids()) == before
    assert tree.find(0x9000) is None and 2 not in tree
    tree.validate()


def test_self_overlap_rejected(tree):
    with pytest.raises(ValueError, match="overlap"):
        tree.insert(1, {"text": (0x1000, 0x1000), "data": (0x1800, 0x1000)})
    assert len(tree) == 0


def test_duplicate_id(tree):
    tree.insert(1, {"text": (0x1000, 0x10)})
    with pytest.raises(ValueError, match="already"):
        tree.insert(1, {"text": (0x9000, 0x10)})
    assert tree.find(0x9000) is None


@pytest.mark.parametrize("regions, exc", [
    ({"bogus": (0, 1)}, ValueError),
    ({"text": (-1, 1)}, ValueError),
    ({"text": (1 << 64, 1)}, ValueError),
    ({"text": ((1 << 64) - 4, 8)}, ValueError),      # wraps
    ({"text": (0, 1 << 64)}, ValueError),
    ({"text": 5}, TypeError),
    ({"text": (1.5, 2)}, TypeError),
    ([("text", (0, 1))], TypeError),
])
def test_bad_regions(tree, regions, exc):
    with pytest.raises(exc):
        tree.insert(1, regions)
    assert len(tree) == 0 and tree.addr_max == 0


@pytest.mark.parametrize("bad", [-1, 1 << 64, 1 << 80])
def test_bad_addresses(tree, bad):
    with pytest.raises(ValueError):
        tree.find(bad)
    with pytest.raises(ValueError):
        tree.within(bad, 1)


def test_non_int_address(tree):
    with pytest.raises(TypeError):
        tree.find("0x1000")
    with pytest.raises(TypeError):
        tree.find(1.0)


@pytest.mark.parametrize("bad", [-1, 1 << 63, "x"])
def test_bad_ids(tree, bad):
    with pytest.raises((ValueError, TypeError)):
        tree.insert(bad, {})


def test_unknown_ids_raise_keyerror(tree):
    for op in (tree.remove, tree.remove_init, tree.regions):
        with pytest.raises(KeyError) as ei:
            op(42)
        assert ei.value.errno == errno.ENOENT
    with pytest.raises(KeyError):
        tree.within(0, 42)


def test_find_many_conversions(tree):
    tree.insert(1, {"text": (0x1000, 0x1000)})
    assert tree.find_many([0x1000, 0x3000]).tolist() == [1, -1]
    assert tree.find_many(np.array([0x1000], dtype=np.int32)).tolist() == [1]
    assert tree.find_many(np.array([[0x1000, 0x1001]], dtype=np.uint64)).tolist() == [1, 1]
    assert tree.find_many([]).shape == (0,)
    assert tree.find_many([(1 << 64) - 1]).tolist() == [-1]
    with pytest.raises(TypeError):
        tree.find_many(np.array([1.5]))
    with pytest.raises(ValueError):
        tree.find_many(np.array([-5]))
    with pytest.raises(ValueError):
        tree.find_many([1 << 64])
    with pytest.raises(ValueError):
        tree.find_many([1], method="fast")


def test_batch_methods_agree(tree):
    rng = np.random.default_rng(1)
    for i in range(200):
        tree.insert(i, {"text": (AREA + i * 0x10000, 0x3000),
                        "init_data": (AREA + i * 0x10000 + 0x8000, 0x1000)})
    addrs = rng.integers(AREA - 0x10000, AREA + 201 * 0x10000, 50_000, dtype=np.uint64)
    walk = tree.find_many(addrs, method="walk")
    expect = np.array([tree.find(int(a)) if tree.find(int(a)) is not None else -1
                       for a in addrs[:2000]])
    assert (walk[:2000] == expect).all()
    assert (tree.find_many(addrs, method="sorted") == walk).all()
    assert (tree.find_many(addrs) == walk).all()
    assert (walk >= 0).sum() > 1000            # the test really hits modules


def test_independent_maps_and_repr():
    a, b = ModTree(), ModTree("list")
    a.insert(1, {"text": (0x1000, 0x10)})
    assert b.find(0x1000) is None
    assert "tree" in repr(a) and "list" in repr(b)
    with pytest.raises(ValueError):
        ModTree("btree")


def test_ids_newest_first(tree):
    for i in (3, 1, 2):
        tree.insert(i, {"text": (0x1000 * (i + 1), 0x10)})
    assert tree.ids() == [2, 1, 3]
    assert list(tree) == [2, 1, 3] and 1 in tree and 9 not in tree


def test_large_random_churn_keeps_trees_valid():
    """Thousands of nodes: deep trees exercise every rebalancing case."""
    rng = np.random.default_rng(7)
    t = ModTree()
    live: dict[int, int] = {}
    slots = rng.permutation(4000)
    for step in range(6000):
        if live and (len(live) > 1500 or rng.random() < 0.4):
            mid = int(rng.choice(list(live)))
            (t.remove if rng.random() < 0.7 else t.remove_init)(mid)
            if mid in t:
                continue
            del live[mid]
        else:
            mid = step
            slot = int(slots[step % 4000])
            if any(s == slot for s in live.values()):
                continue
            base = 0x1000_0000_0000 + slot * 0x100000
            t.insert(mid, {k: (base + i * 0x10000, 0x1000) for i, k in enumerate(REGION_KINDS)})
            live[mid] = slot
        if step % 500 == 0:
            t.validate()
    t.validate()
    for mid, slot in list(live.items())[:200]:
        assert t.find(0x1000_0000_0000 + slot * 0x100000 + 5) == mid


def test_region_kinds_come_from_the_c_enum():
    from pymod._lookup_cffi import lib
    from pymod.lookup import INIT_KINDS

    assert REGION_KINDS == ("text", "data", "rodata", "ro_after_init", "init_text",
                            "init_data", "init_rodata")
    assert len(REGION_KINDS) == lib.PM_MEM_NTYPES
    assert INIT_KINDS == {"init_text", "init_data", "init_rodata"}
