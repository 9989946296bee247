"""The fleet frame() with source lines (issue 16 §3): a ``source`` column of
each row's frames, one ``symbolize_many(lines=True)`` batch per host, equal
to Symbol.source and to ``addr2line -f -i``; on Dask, symbolizers with debug
info shipped to worker processes (pickled: their debug files by path)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from pymod.symbolize import Symbolizer
from pymod.symbolize.debugfiles import open_debug_file
from pymod.symbolize.frame import COLUMNS, SOURCE, dask_frame, frame
from pymod.symbolize.inputs import _moved
from pymod.symbolize.model import Maps
from tests.symbolize.gccdebug import addr2line, agrees

if TYPE_CHECKING:
    import pandas as pd

SLIDE = 0x7f000000


def _hosts(exe) -> dict[str, Symbolizer]:
    """``linked``: over the debug file alone; ``slid``: its table moved as
    KASLR moves it, lines by name from the same file; ``bare``: no debug info."""
    linked = Symbolizer.from_debuginfo(exe)
    slid = Symbolizer(Maps(_moved(linked.maps.core, SLIDE), ()))
    slid.add_debuginfo(open_debug_file(exe))
    return {"linked": linked, "slid": slid, "bare": Symbolizer(linked.maps)}


def _pandas():
    """pandas, imported when a test here runs: collecting the suite never
    imports it (a second of start-up for every ``pytest`` run)."""
    return pytest.importorskip("pandas", reason="pandas is not installed (pip install '.[dask]')")


def _rows(exe) -> pd.DataFrame:
    pandas = _pandas()
    core = Symbolizer.from_debuginfo(exe).maps.core
    text = np.arange(core.stext - 2, core.etext + 2, dtype=np.uint64)
    rng = np.random.default_rng(16)
    parts = [pandas.DataFrame({"host": h, "addr": rng.permutation(np.concatenate([a, a]))})
             for h, a in (("linked", text), ("slid", text + np.uint64(SLIDE)), ("bare", text))]
    return pandas.concat(parts, ignore_index=True).sample(frac=1, random_state=3)


@pytest.mark.parametrize("backtrace", [False, True])
def test_source_column_equals_symbol_source(exe, cache, backtrace):
    hosts, rows = _hosts(exe), _rows(exe)
    out = frame(rows, maps=hosts, backtrace=backtrace, lines=True)
    assert list(out.columns) == ["host", "addr", *COLUMNS, SOURCE]
    plain = frame(rows, maps=hosts, backtrace=backtrace)
    _pandas().testing.assert_frame_equal(out.drop(columns=SOURCE), plain)
    seen = {"none": 0, "empty": 0, "inlined": 0}
    for h, a, src in out[["host", "addr", SOURCE]].itertuples(index=False):
        sym = hosts[h].symbolize(int(a), backtrace)
        want = None if sym is None or sym.source is None else tuple(sym.source)
        assert src == want
        seen["none"] += src is None
        seen["empty"] += src == ()
        seen["inlined"] += src is not None and len(src) > 1
    assert all(seen.values()), seen
    assert out.loc[out["host"] == "bare", SOURCE].isna().all()
    assert out.loc[out["reason"] != 0, SOURCE].isna().all()


def test_source_column_equals_addr2line(exe, cache):
    rows = _rows(exe)
    rows = rows[rows["host"] == "linked"]
    out = frame(rows, maps=_hosts(exe), lines=True)
    found = out[out["reason"] == 0]
    want = addr2line(exe, sorted(set(found["addr"].tolist())))
    for a, src in found[["addr", SOURCE]].itertuples(index=False):
        assert agrees(src, want[int(a)]), (hex(a), src, want[int(a)])
    assert found[SOURCE].map(lambda s: bool(s) and s[0].function is not None).sum() > 100


def test_one_lines_batch_per_host(exe, cache, monkeypatch):
    calls: list[tuple[int, bool]] = []
    real = Symbolizer.symbolize_many

    def counted(self, addrs, backtrace=False, lines=False):
        calls.append((id(self), lines))
        return real(self, addrs, backtrace, lines)

    monkeypatch.setattr(Symbolizer, "symbolize_many", counted)
    hosts = _hosts(exe)
    frame(_rows(exe), maps=hosts, lines=True)
    assert sorted(calls) == sorted((id(s), True) for s in hosts.values())


def test_lines_with_prefix_and_clash(exe, cache):
    rows = _rows(exe).iloc[:50]
    out = frame(rows, maps=_hosts(exe), lines=True, prefix="k_")
    assert list(out.columns)[-1] == "k_" + SOURCE
    from pymod.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="already has column"):
        frame(rows.assign(source=1), maps=_hosts(exe), lines=True)
    assert SOURCE in frame(rows.assign(k_source=1), maps=_hosts(exe), lines=True).columns
    empty = frame(rows.iloc[:0], maps={}, lines=True)
    assert list(empty.columns) == ["host", "addr", *COLUMNS, SOURCE]


@pytest.mark.slow
def test_dask_frame_lines_on_worker_processes(exe, cache):
    """The workers get each symbolizer pickled: the debug file's path, which
    they reopen through their own index cache."""
    dd = pytest.importorskip("dask.dataframe",
                             reason="dask[dataframe] is not installed (pip install '.[dask]')")
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (pip install '.[dask]')")
    rows = _rows(exe).reset_index(drop=True)
    single = frame(rows, maps=_hosts(exe), lines=True)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        ddf = dd.from_pandas(rows, npartitions=4, sort=False)
        got = dask_frame(ddf, maps=_hosts(exe), lines=True, client=c).compute().sort_index()
        pids = c.run(lambda: __import__("os").getpid())
    assert len(set(pids.values())) == 2
    _pandas().testing.assert_frame_equal(got.astype({"host": single["host"].dtype}), single)
    assert got[SOURCE].map(lambda s: bool(s)).sum() > 100
