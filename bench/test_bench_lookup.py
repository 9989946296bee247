"""pytest-benchmark cases for the lookup core.

    python -m pytest bench/test_bench_lookup.py --benchmark-enable

Grouped so each group compares competitors on the same regions and the same
addresses; read the ratios inside a group (``python -m bench`` prints them
against the targets).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bench import lookup_cases as lc

SIZES = [10, 1000, 10000]


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: "N%d" % n)
def setup(request: Any) -> dict[str, Any]:
    r = lc.make_regions(request.param)
    return {
        "r": r,
        "tree": lc.build_modtree(r, "tree"),
        "list": lc.build_modtree(r, "list"),
        "bisect": lc.BisectMap(r),
        "singles": [int(a) for a in lc.random_addresses(r, 2000, seed=2)],
        "batch": lc.random_addresses(r, 200_000, seed=1),
    }


def _loop(find: Callable[[int], object], addrs: list[int]) -> None:
    for a in addrs:
        find(a)


@pytest.mark.parametrize("who", ["noop", "tree", "list", "bisect"])
def test_single(benchmark: Any, setup: dict[str, Any], who: str) -> None:
    n = setup["r"].n_modules
    benchmark.group = "single-N%d" % n
    find = {"noop": lc.NoopTree().find, "tree": setup["tree"].find,
            "list": setup["list"].find, "bisect": setup["bisect"].find}[who]
    addrs = setup["singles"][:200] if who == "list" and n >= 1000 else setup["singles"]
    benchmark(_loop, find, addrs)


@pytest.mark.parametrize("who", ["tree", "tree_walk", "searchsorted", "list"])
def test_batch(benchmark: Any, setup: dict[str, Any], who: str) -> None:
    r, n = setup["r"], setup["r"].n_modules
    benchmark.group = "batch-N%d" % n
    addrs = setup["batch"]
    if who == "list":
        addrs = addrs[: max(1000, 20_000_000 // (7 * n))]
    fn = {"tree": setup["tree"].find_many,
          "tree_walk": lambda a: setup["tree"].find_many(a, method="walk"),
          "searchsorted": lambda a: lc.searchsorted_many(r, a),
          "list": setup["list"].find_many}[who]
    out = benchmark(fn, addrs)
    assert (out == lc.searchsorted_many(r, addrs)).all()
