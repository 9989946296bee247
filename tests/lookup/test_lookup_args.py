"""ModTree argument checks (issue 7, C): numpy scalars, bools, mixed lists.

Every rejected argument raises a ValueError or TypeError that is also a
``PymodError`` (errno EINVAL), whose message names the real problem, and no
numpy warning escapes.  A rejected call changes nothing.
"""

from __future__ import annotations

import errno
import warnings

import numpy as np
import pytest

from pymod.errors import PymodError
from pymod.lookup import ModTree

U64 = (1 << 64) - 1


@pytest.fixture(params=["tree", "list"])
def tree(request):
    return ModTree(strategy=request.param)


@pytest.fixture(autouse=True)
def numpy_warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            yield


def rejected(exc_type, match, call, *args):
    """``call(*args)`` raises ``exc_type`` under PymodError with EINVAL."""
    with pytest.raises(exc_type, match=match) as ei:
        call(*args)
    assert isinstance(ei.value, PymodError) and ei.value.errno == errno.EINVAL
    return ei.value


def unchanged(tree):
    assert len(tree) == 0 and tree.addr_max == 0 and tree.addr_min == U64
    assert tree.validate() == 0


# -- numpy integers in regions ----------------------------------------------

@pytest.mark.parametrize("base, size", [
    (np.int64(0x1000), U64),                   # bare OverflowError before
    (np.uint64(0x1000), U64),                  # RuntimeWarning before
    (np.uint64(U64), np.uint64(2)),
    (np.int32(8), (1 << 64) - 7),
    (np.uint64((1 << 63) + 1), np.uint64(1 << 63)),
])
def test_numpy_region_that_wraps(tree, base, size):
    rejected(ValueError, r"wraps past 2\*\*64", tree.insert, 1, {"text": (base, size)})
    unchanged(tree)


@pytest.mark.parametrize("base, size", [
    (np.uint64(U64), 1),                       # the very last byte
    (np.uint64(U64), np.uint64(1)),
    (np.int64(0x1000), 1 << 63),               # huge, but it fits
    (np.uint64(1 << 63), np.uint64(1 << 63)),  # up to the last byte
    (np.int32(8), (1 << 64) - 8),
])
def test_numpy_region_that_fits(tree, base, size):
    tree.insert(1, {"text": (base, size)})
    b, s = int(base), int(size)
    assert tree.find(b) == 1 and tree.find(b + s - 1) == 1
    assert tree.regions(1) == {"text": (b, s)}
    assert tree.addr_max == b + s - 1
    assert type(tree.regions(1)["text"][0]) is int


@pytest.mark.parametrize("base, size, exc, match", [
    (np.float64(4096), 1, TypeError, "base.*float64"),
    (4096, np.float32(1), TypeError, "size.*float32"),
    (np.int64(-4096), 1, ValueError, "base -4096"),
    (4096, np.int64(-1), ValueError, "size -1"),
    (4096, 1 << 64, ValueError, "size 0x10000000000000000"),
    (True, 1, TypeError, "base.*bool"),
    (4096, True, TypeError, "size.*bool"),
    (np.True_, 1, TypeError, "base.*bool"),
    ("4096", 1, TypeError, "base.*str"),
])
def test_bad_region_values(tree, base, size, exc, match):
    e = rejected(exc, match, tree.insert, 1, {"text": (base, size)})
    assert "'text'" in str(e)
    unchanged(tree)


@pytest.mark.parametrize("regions, match", [
    ([("text", (0, 1))], "mapping"),
    ({"text": 5}, r"\(base, size\) pair, not 5"),
    ({"text": (1, 2, 3)}, r"\(base, size\) pair, not \(1, 2, 3\)"),
    ({3: (1, 2)}, "unknown region kind 3"),
])
def test_bad_region_shapes_are_pymod_errors(tree, regions, match):
    rejected((TypeError, ValueError), match, tree.insert, 1, regions)
    unchanged(tree)


# -- bools are not ids or addresses -----------------------------------------

@pytest.mark.parametrize("flag", [True, False, np.True_, np.False_])
def test_bool_is_not_an_id(tree, flag):
    tree.insert(1, {"text": (0x1000, 0x1000)})
    tree.insert(0, {"text": (0x3000, 0x1000)})
    rejected(TypeError, "module id must be an int, not .*bool", tree.insert, flag,
             {"data": (0x9000, 0x10)})
    for call in (tree.remove, tree.remove_init, tree.regions):
        rejected(TypeError, "module id .*bool", call, flag)
    rejected(TypeError, "module id .*bool", tree.within, 0x1000, flag)
    assert flag not in tree
    assert sorted(tree.ids()) == [0, 1] and tree.find(0x9000) is None
    assert tree.regions(1) == {"text": (0x1000, 0x1000)}


@pytest.mark.parametrize("flag", [True, False, np.True_])
def test_bool_is_not_an_address(tree, flag):
    tree.insert(1, {"text": (0, 0x1000)})
    rejected(TypeError, "address must be an int, not .*bool", tree.find, flag)
    rejected(TypeError, "address must be an int, not .*bool", tree.within, flag, 1)
    rejected(TypeError, "bool", tree.find_many, [0, flag])
    rejected(TypeError, "bool", tree.find_many, np.array([flag, flag]))


def test_numpy_integers_are_addresses_and_ids(tree):
    tree.insert(np.int16(3), {"text": (np.uint32(0x1000), np.uint16(0x100))})
    assert tree.find(np.uint64(0x1010)) == 3 and tree.find(np.int8(5)) is None
    assert tree.within(np.int64(0x10FF), np.uint8(3)) is True
    assert tree.find(np.uint64(U64)) is None
    rejected(ValueError, "address -1 outside", tree.find, np.int64(-1))
    rejected(TypeError, "address must be an int, not .*float64", tree.find, np.float64(16))
    tree.remove(np.uint64(3))
    assert len(tree) == 0


# -- find_many: name the element that is wrong ------------------------------

@pytest.mark.parametrize("addrs, exc, match", [
    ([0x1000, -1], ValueError, "address -1 outside"),
    ([U64, -1], ValueError, "address -1 outside"),        # said "not float64"
    ([1 << 63, -5, 2], ValueError, "address -5 outside"),
    ([1, 1 << 64], ValueError, "address 0x10000000000000000 outside"),
    ([1, 2.5], TypeError, "address must be an int, not float"),
    ([1, "2"], TypeError, "address must be an int, not str"),
    ([1, None], TypeError, "address must be an int, not NoneType"),
    ([[1, 2], [3, -4]], ValueError, "address -4 outside"),
    (np.array([1.0, 2.0]), TypeError, "addresses must be integers, not float64"),
    (np.array([5, -3], dtype=np.int8), ValueError, "negative address -3"),
    (np.array(["a"]), TypeError, "addresses must be integers, not <U1"),
])
def test_find_many_names_the_bad_address(tree, addrs, exc, match):
    rejected(exc, match, tree.find_many, addrs)


def test_find_many_accepts_mixed_integer_lists(tree):
    tree.insert(1, {"text": (U64 - 0xFFF, 0x1000)})
    tree.insert(2, {"text": (0, 0x1000)})
    assert tree.find_many([U64, 0, np.uint64(U64 - 1), np.int32(7)]).tolist() == [1, 2, 1, 2]
    assert tree.find_many((U64, 5)).tolist() == [1, 2]
    assert tree.find_many(range(2)).tolist() == [2, 2]
    assert tree.find_many([[U64], [1 << 63]]).tolist() == [1, -1]
    assert tree.find_many(np.array([U64, 0], dtype=object)).tolist() == [1, 2]


@pytest.mark.parametrize("strategy", [None, 3, "TREE"])
def test_bad_strategy(strategy):
    rejected(ValueError, "strategy must be one of", ModTree, strategy)


def test_bad_method(tree):
    rejected(ValueError, "method must be one of", tree.find_many, [1], "fast")
