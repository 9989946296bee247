"""Fleet symbolization: a pandas DataFrame of ``(host, address)`` rows, each
host with its own kernel and module list, on one process or on Dask.

:func:`frame` answers a pandas DataFrame: rows are grouped by host, and
each host's addresses go to that host's :class:`~pymod.symbolize.Symbolizer`
in one :meth:`~pymod.symbolize.Symbolizer.symbolize_many` call (over the
distinct addresses only: profiles repeat the same frames many times).
:func:`dask_frame` runs :func:`frame` on every partition of a Dask
DataFrame, with the symbolizers shipped once to each worker.

pandas and Dask are optional (``pip install 'pymod[dask]'``); they are
imported when these functions are first called.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pymod.errors import InvalidArgument, InvalidType
from pymod.lookup import as_addresses
from pymod.symbolize.checks import check_maps
from pymod.symbolize.fmt import Format, format_symbol, format_unknown, parse_format
from pymod.symbolize.model import Maps
from pymod.symbolize.symbolizer import UNKNOWN, Symbolizer, SymbolizeResult

__all__ = ["frame", "dask_frame", "COLUMNS", "SOURCE"]

#: The columns :func:`frame` adds (after its ``prefix``).
COLUMNS = ("symbol", "offset", "size", "module", "text", "reason")
#: The column ``lines=True`` adds after them.
SOURCE = "source"

_MISSING = ("raise", "unknown")


def _require(module: str) -> Any:
    """Import an optional dependency, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ModuleNotFoundError(
            "pymod.symbolize.frame needs %s (%s); install it with: pip install 'pymod[dask]'"
            % (module.split(".")[0], e), name=module) from None


class _Deferred:
    """A host's :class:`Maps`, built into a :class:`Symbolizer` on first use
    and kept: shipped to a Dask worker once, it is built there once, for the
    hosts that worker actually sees.  It pickles as its maps."""

    def __init__(self, maps: Maps) -> None:
        self.maps = maps
        self._lock = threading.Lock()
        self._built: Symbolizer | None = None

    def get(self) -> Symbolizer:
        with self._lock:
            if self._built is None:
                self._built = Symbolizer(self.maps)
            return self._built

    def __getstate__(self) -> Maps:
        return self.maps

    def __setstate__(self, maps: Maps) -> None:
        self.__init__(check_maps(maps, "host maps"))  # type: ignore[misc]


def _symbolizer(source: object, host: object) -> Symbolizer:
    if isinstance(source, Symbolizer):
        return source
    if isinstance(source, _Deferred):
        return source.get()
    if isinstance(source, Maps):
        return Symbolizer(source)
    raise InvalidType("maps[%r] must be a Symbolizer or Maps, not %s"
                      % (host, type(source).__name__))


def _format_of(fmt: str | None, backtrace: bool) -> Format:
    f = parse_format(fmt if fmt is not None else "B" if backtrace else "S")
    if backtrace and not f.backtrace:
        raise InvalidArgument("backtrace=True needs a %%pB format (B, Bb), not %r" % fmt)
    return f


class _Columns:
    """The output arrays, filled one host group at a time."""

    def __init__(self, n: int, lines: bool) -> None:
        self.source = np.full(n, None, dtype=object) if lines else None
        self.symbol = np.full(n, None, dtype=object)
        self.module = np.full(n, None, dtype=object)
        self.text = np.empty(n, dtype=object)
        self.offset = np.zeros(n, dtype=np.uint64)
        self.size = np.zeros(n, dtype=np.uint64)
        self.reason = np.full(n, UNKNOWN, dtype=np.uint8)

    def unknown(self, rows: NDArray[np.intp], addrs: NDArray[np.uint64]) -> None:
        self.text[rows] = [format_unknown(a) for a in addrs[rows].tolist()]

    def fill(self, rows: NDArray[np.intp], inverse: NDArray[np.intp], res: SymbolizeResult,
             f: Format) -> None:
        """Rows ``rows`` answered by ``res[inverse]`` (``res`` holds the distinct
        addresses: each one's text is made once, each symbol's name decoded once)."""
        k = len(res)
        symbol, module = np.full(k, None, dtype=object), np.full(k, None, dtype=object)
        text = np.empty(k, dtype=object)
        found = np.flatnonzero(res.found)
        lost = np.flatnonzero(~res.found)
        text[lost] = [format_unknown(a) for a in res.addrs[lost].tolist()]
        tags = res.table[found]
        for tag in np.unique(tags).tolist():
            owner = res.owners[tag]
            at = found[tags == tag]
            distinct, which = np.unique(res.symbol[at], return_inverse=True)
            names = np.array([owner.symbols.name(i) for i in distinct.tolist()],
                             dtype=object)[which.reshape(-1)]
            symbol[at], module[at] = names, owner.module
            text[at] = [format_symbol(n, o, s, owner.module, owner.build_id, f) for n, o, s
                        in zip(names.tolist(), res.offset[at].tolist(), res.size[at].tolist(),
                               strict=True)]
        self.symbol[rows] = symbol[inverse]
        self.module[rows] = module[inverse]
        self.text[rows] = text[inverse]
        self.offset[rows] = res.offset[inverse]
        self.size[rows] = res.size[inverse]
        self.reason[rows] = res.reason[inverse]
        if self.source is not None:
            self.source[rows] = _chains(res)[inverse]


def _chains(res: SymbolizeResult) -> NDArray[np.object_]:
    """Each address's frames as a tuple (shared by the rows of one address,
    so immutable), None where its owner has no debug info or it is unknown."""
    out = np.full(len(res), None, dtype=object)
    if res.lines is None:
        return out
    found = np.flatnonzero(res.found)
    tags = res.table[found]
    for tag in np.unique(tags).tolist():
        if res.owners[tag].module in res.sourced:
            for i in found[tags == tag].tolist():
                out[i] = tuple(res.lines.chain(i))
    return out


def _host_groups(pd: Any, hosts: Any) -> list[tuple[object, NDArray[np.intp]]]:
    """``(host, row positions)`` per distinct host, in order of appearance."""
    codes, uniques = pd.factorize(hosts, sort=False, use_na_sentinel=False)
    if len(uniques) == 0:
        return []
    order = np.argsort(codes, kind="stable")
    cuts = np.searchsorted(codes[order], np.arange(1, len(uniques)))
    return list(zip(list(uniques), np.split(order, cuts), strict=True))


def _new_columns(df: Any, addr: str, host: str, prefix: str, missing: str,
                 lines: bool) -> list[str]:
    """The names of the columns :func:`frame` adds, once its arguments are checked."""
    if missing not in _MISSING:
        raise InvalidArgument("missing must be one of %s, not %r" % (", ".join(_MISSING),
                                                                     missing))
    for col in (addr, host):
        if col not in df.columns:
            raise InvalidArgument("frame: no column %r in the DataFrame" % (col,))
    names = [prefix + c for c in COLUMNS + ((SOURCE,) if lines else ())]
    clash = [c for c in names if c in df.columns]
    if clash:
        raise InvalidArgument("frame: the DataFrame already has column(s) %s (pass prefix=)"
                              % ", ".join(map(repr, clash)))
    return names


def frame(df: Any, addr: str = "addr", host: str = "host",
          maps: Mapping[Any, Symbolizer | Maps] | None = None, fmt: str | None = None,
          backtrace: bool = False, prefix: str = "", missing: str = "raise",
          lines: bool = False) -> Any:
    """``df`` (a pandas DataFrame) with the symbol of each row's address
    under that row's host added as columns.

    :param df: one row per address; ``df[addr]`` holds unsigned 64-bit
        addresses (any integer dtype whose values fit), ``df[host]`` any
        hashable host key
    :param maps: host -> :class:`~pymod.symbolize.Symbolizer`, or host ->
        :class:`~pymod.symbolize.model.Maps` (built into a symbolizer once
        per call, only for the hosts present in ``df``)
    :param fmt: the ``printk`` format of the ``text`` column (``"S"``,
        ``"s"``, ``"B"``, ``"Sb"`` ...); default ``"B"`` with
        ``backtrace``, else ``"S"``.  A ``%pB`` format looks up
        ``addr - 1`` and prints the offset plus one, as does ``backtrace``.
    :param prefix: put before every added column's name
    :param missing: a host absent from ``maps``: ``"raise"``
        (:class:`~pymod.errors.InvalidArgument`), or ``"unknown"`` (its
        rows are answered as unknown addresses)
    :returns: a new DataFrame, ``df``'s columns and index followed by
        ``symbol`` (name, None when not found), ``offset`` and ``size``
        (uint64, 0 when not found), ``module`` (None for vmlinux or not
        found), ``text`` (the ``%pS`` text; ``0x…`` when not found) and
        ``reason`` (uint8: the codes of
        :attr:`SymbolizeResult.reason <pymod.symbolize.SymbolizeResult>`)
    :param lines: also add ``source``: each row's source frames, innermost
        first, as :attr:`Symbol.source <pymod.symbolize.Symbol>` gives
        them (:class:`~pymod.symbolize.lines.Frame` ``(function, file,
        line, column, inlined, discriminator)``) but in a tuple, shared by
        the rows of one address; ``()`` when the debug info has no line
        there, None when the host's symbolizer has no debug info for the
        owner or the address is not found.  One
        ``symbolize_many(lines=True)`` batch per host.
    """
    pd = _require("pandas")
    f = _format_of(fmt, backtrace)
    names = _new_columns(df, addr, host, prefix, missing, lines)
    addrs = as_addresses(df[addr].to_numpy())
    groups = _host_groups(pd, df[host])
    absent = [h for h, _ in groups if maps is None or h not in maps]
    if absent and missing == "raise":
        raise InvalidArgument("frame: no symbolizer for host(s) %s"
                              % ", ".join(map(repr, absent[:5])) + (" ..." * (len(absent) > 5)))
    values = _answers(groups, maps, addrs, f, lines)
    return df.assign(**{n: pd.Series(v, index=df.index, dtype=v.dtype, copy=False)
                        for n, v in zip(names, values, strict=True)})


def _answers(groups: Any, maps: Mapping[Any, Symbolizer | Maps] | None, addrs: NDArray[Any],
             f: Format, lines: bool) -> tuple[NDArray[Any], ...]:
    """:func:`frame`'s new columns: one batch per host over its distinct
    addresses (a host without a symbolizer answers unknown)."""
    out = _Columns(len(addrs), lines)
    for h, rows in groups:
        if maps is None or h not in maps:
            out.unknown(rows, addrs)
            continue
        distinct, inverse = np.unique(addrs[rows], return_inverse=True)
        res = _symbolizer(maps[h], h).symbolize_many(distinct, f.backtrace, lines)
        out.fill(rows, inverse.reshape(-1), res, f)
    values: tuple[NDArray[Any], ...] = (out.symbol, out.offset, out.size, out.module, out.text,
                                        out.reason)
    if out.source is not None:
        values += (out.source,)
    return values


def _shared(maps: Mapping[Any, Symbolizer | Maps]) -> dict[Any, Symbolizer | _Deferred]:
    """What to ship: a symbolizer as is (it pickles as its maps), maps deferred."""
    out: dict[Any, Symbolizer | _Deferred] = {}
    for h, m in maps.items():
        if isinstance(m, Symbolizer):
            out[h] = m
        elif isinstance(m, Maps):
            out[h] = _Deferred(m)
        else:
            raise InvalidType("maps[%r] must be a Symbolizer or Maps, not %s"
                              % (h, type(m).__name__))
    return out


def _client(client: Any) -> Any:
    """The given ``dask.distributed`` client, else the current one, else None
    (also when ``client`` is False)."""
    if client is False:
        return None
    if client is not None:
        return client
    import importlib

    try:
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        return None
    try:
        return distributed.default_client()
    except ValueError:
        return None


def dask_frame(ddf: Any, addr: str = "addr", host: str = "host",
               maps: Mapping[Any, Symbolizer | Maps] | None = None, fmt: str | None = None,
               backtrace: bool = False, prefix: str = "", missing: str = "raise",
               client: Any = None, lines: bool = False) -> Any:
    """:func:`frame` on every partition of the Dask DataFrame ``ddf``, lazily.

    Takes :func:`frame`'s arguments and returns a Dask DataFrame (call
    ``.compute()``, or write it out) with the same partitions and columns.
    With a ``dask.distributed`` client (``client``, else the current one;
    ``client=False``: none) the host mapping is scattered to every worker once, beforehand; each
    partition's tasks refer to it by key, so it is never copied per task.
    A host given as :class:`~pymod.symbolize.model.Maps` is built into its
    symbolizer on a worker the first time that worker meets it, and kept
    for the later partitions.  Without a client (Dask's local schedulers)
    the mapping is passed to the tasks as is.  A symbolizer with debug
    info ships its debug files' paths: each worker reopens them (its own
    index cache), so they must exist there at the same paths.
    """
    _require("dask.dataframe")
    _format_of(fmt, backtrace)
    shared = _shared(maps or {})
    meta = frame(ddf._meta, addr, host, {}, fmt, backtrace, prefix, "unknown", lines)
    c = _client(client)
    arg: Any = shared
    if c is not None:
        arg = c.scatter([shared], broadcast=True, hash=False)[0]
    return ddf.map_partitions(frame, addr=addr, host=host, maps=arg, fmt=fmt,
                              backtrace=backtrace, prefix=prefix, missing=missing, lines=lines,
                              meta=meta)
