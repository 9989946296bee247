"""Fleet symbolization (issue 8 §5): pymod.symbolize.frame on pandas, and
dask_frame on a two-worker dask.distributed LocalCluster, checked against
the single-process answers and the pure-Python reference, row by row."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import numpy as np
import pytest

from pymod import Kernel
from pymod.errors import InvalidArgument, InvalidType
from pymod.samples import SAMPLES, prebuilt_path
from pymod.symbolize import Symbolizer
from pymod.symbolize.follow import KernelSymbolizer
from pymod.symbolize.frame import COLUMNS, dask_frame, frame
from pymod.symbolize.model import Maps
from pymod.symbolize.reference import reference_sprint
from tests.symbolize.support import core

if TYPE_CHECKING:
    import pandas as pd

LOADABLE = {s.name: s for s in SAMPLES if s.loads}
HOSTS = ("web-1", "db-7", "cache-3")


def _order(seed: int, keep: float) -> list[str]:
    """A random order of (a random share of) the loadable samples, each one's
    requirements first: modules land at different bases on every host."""
    rng = random.Random(seed)
    names = [n for n in LOADABLE if rng.random() < keep or n == "pm_hello"]
    rng.shuffle(names)
    out: list[str] = []
    for n in names:
        out += [r for r in LOADABLE[n].requires if r not in out]
        if n not in out:
            out.append(n)
    return out


def _host_maps(seed: int, keep: float, stext: int | None) -> Maps:
    k = Kernel()
    for name in _order(seed, keep):
        k.load_module(prebuilt_path(name))
    mods = KernelSymbolizer(k).maps.modules
    if stext is None:
        return Maps(None, mods)
    vmlinux = core((stext, "T", "_stext"), (stext, "T", "start_kernel"),
                   (stext + 0x40, "t", "do_one_initcall"), (stext + 0x90, "T", "panic"),
                   stext=stext, etext=stext + 0x100, sinittext=0, einittext=0)
    return Maps(vmlinux, mods)


@pytest.fixture(scope="module")
def fleet() -> dict[str, Maps]:
    return {HOSTS[0]: _host_maps(1, 1.0, None), HOSTS[1]: _host_maps(2, 0.8, 0x1000),
            HOSTS[2]: _host_maps(3, 0.6, 0x8000)}


def _interesting(m: Maps) -> list[int]:
    """Every symbol, region edges (first, last, one past), mid-gaps."""
    out: list[int] = []
    for mod in m.modules:
        out += [int(a) + d for a in mod.symbols.addrs for d in (0, 1, 7)]
        for base, size in mod.regions:
            out += [base, base + size // 2, base + size - 1, base + size]
    if m.core is not None:
        out += [int(a) + d for a in m.core.symbols.addrs for d in (0, 3)]
        out += [m.core.stext - 1, m.core.etext - 1, m.core.etext]
    return out


@pytest.fixture(scope="module")
def pandas():
    """pandas, imported when a test of this file runs: collecting the suite
    never imports it (a second of start-up for every ``pytest`` run)."""
    return pytest.importorskip("pandas", reason="pandas is not installed (pip install '.[dask]')")


@pytest.fixture(scope="module")
def rows(pandas, fleet: dict[str, Maps]) -> pd.DataFrame:
    """Each host asks about addresses from every host's layout (so one
    address means different things on different hosts), repeated, shuffled."""
    pool = sorted({a for m in fleet.values() for a in _interesting(m)})
    rng = np.random.default_rng(8)
    parts = [pandas.DataFrame({"host": h, "addr": rng.choice(np.array(pool, dtype=np.uint64),
                                                          size=400)}) for h in HOSTS]
    df = pandas.concat(parts, ignore_index=True)
    return df.iloc[rng.permutation(len(df))].reset_index(drop=True)


def _mixed(fleet: dict[str, Maps]) -> dict[str, Symbolizer | Maps]:
    """Every form frame() accepts: a symbolizer, maps, a symbolizer built from maps."""
    return {HOSTS[0]: Symbolizer(fleet[HOSTS[0]]), HOSTS[1]: fleet[HOSTS[1]],
            HOSTS[2]: Symbolizer.from_maps(fleet[HOSTS[2]])}


def _check_reference(out: pd.DataFrame, fleet: dict[str, Maps], fmt: str) -> None:
    want = [reference_sprint(fleet[h], int(a), fmt)
            for h, a in zip(out["host"], out["addr"], strict=True)]
    assert out["text"].tolist() == want


@pytest.mark.parametrize("fmt", ["S", "B", "s"])
def test_frame_matches_reference(rows, fleet, fmt):
    out = frame(rows, maps=_mixed(fleet), fmt=fmt)
    assert list(out.columns) == ["host", "addr", *COLUMNS]
    assert out.index.equals(rows.index)
    _check_reference(out, fleet, fmt)
    found = out["reason"] == 0
    assert 0 < found.sum() < len(out)
    assert out.loc[~found, "symbol"].isna().all() and (out.loc[~found, "size"] == 0).all()
    # one address answered differently by different hosts
    per_addr = out[found].groupby("addr")["text"].nunique()
    assert (per_addr > 1).any()


def test_frame_columns_agree_with_symbolize(rows, fleet):
    out = frame(rows, maps=fleet)
    one = {h: Symbolizer(m) for h, m in fleet.items()}
    checked = 0
    for h, a, name, off, size, mod, reason in out[
            ["host", "addr", "symbol", "offset", "size", "module", "reason"]].itertuples(
            index=False):
        sym = one[h].symbolize(int(a))
        if sym is None:
            assert reason != 0 and name is None and mod is None and off == size == 0
        else:
            assert (name, off, size, mod) == (sym.name, sym.offset, sym.size, sym.module)
            checked += 1
    assert checked > 100


def test_frame_arguments(rows, fleet):
    partial = {HOSTS[0]: fleet[HOSTS[0]]}
    with pytest.raises(InvalidArgument, match="no symbolizer for host"):
        frame(rows, maps=partial)
    out = frame(rows, maps=partial, missing="unknown")
    others = out["host"] != HOSTS[0]
    assert (out.loc[others, "reason"] == 1).all()
    assert out.loc[others, "text"].tolist() == ["%#x" % a for a in out.loc[others, "addr"]]
    with pytest.raises(InvalidArgument, match="already has column"):
        frame(rows.assign(text=1), maps=fleet)
    assert "sym_text" in frame(rows.assign(text=1), maps=fleet, prefix="sym_").columns
    with pytest.raises(InvalidArgument, match="backtrace"):
        frame(rows, maps=fleet, fmt="S", backtrace=True)
    with pytest.raises(InvalidType):
        frame(rows, maps={h: object() for h in HOSTS})
    with pytest.raises(InvalidArgument, match="no column"):
        frame(rows, addr="ip", maps=fleet)
    empty = frame(rows.iloc[:0], maps={})
    assert len(empty) == 0 and list(empty.columns) == ["host", "addr", *COLUMNS]


def test_frame_backtrace_flag(pandas, rows, fleet):
    a = frame(rows, maps=fleet, backtrace=True)
    b = frame(rows, maps=fleet, fmt="B")
    pandas.testing.assert_frame_equal(a, b)


@pytest.mark.slow
def test_dask_frame_local_scheduler(pandas, rows, fleet):
    """Without a distributed client the mapping goes to the tasks as is."""
    dd = pytest.importorskip("dask.dataframe",
                             reason="dask[dataframe] is not installed (pip install '.[dask]')")
    import dask

    ddf = dd.from_pandas(rows, npartitions=3, sort=False)
    with dask.config.set(scheduler="threads"):
        got = dask_frame(ddf, maps=_mixed(fleet), fmt="Sb", client=False).compute()
    single = frame(rows, maps=_mixed(fleet), fmt="Sb")
    pandas.testing.assert_frame_equal(got.sort_index().astype({"host": single["host"].dtype}),
                                  single)


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("dask.dataframe",
                        reason="dask[dataframe] is not installed (pip install '.[dask]')")
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (pip install '.[dask]')")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["S", "B"])
def test_dask_frame_on_local_cluster(pandas, client, rows, fleet, fmt):
    import dask.dataframe as dd

    ddf = dd.from_pandas(rows, npartitions=6, sort=False)   # every host in every partition
    assert ddf.npartitions == 6
    lazy = dask_frame(ddf, maps=_mixed(fleet), fmt=fmt)
    got = lazy.compute().sort_index()
    single = frame(rows, maps=_mixed(fleet), fmt=fmt)
    # from_pandas turns the host column into Arrow strings; the added columns keep theirs
    pandas.testing.assert_frame_equal(got.astype({"host": single["host"].dtype}), single)
    _check_reference(got, fleet, fmt)
    assert len(client.scheduler_info()["workers"]) == 2
