"""The address -> module map: ``mod_find`` and ``within_module``.

A thin, checked wrapper over the C lookup core (csrc/, built by cffi).  The
question ("which module owns this address?") is separate from the data
structure answering it: ``ModTree(strategy="tree")`` uses the lock-free latch
tree (CONFIG_MODULES_TREE_LOOKUP), ``strategy="list"`` scans the RCU modules
list, and both give the same answers.  Lookups cost O(log n) with the tree,
O(n) with the list; ``insert``/``remove``/``remove_init`` cost O(log n)
(amortised) with either.

Threading: every method may be called from any thread.  Lookups never block
and take no lock (a single tree lookup holds the GIL for its O(log n) walk,
every other C call releases it); writers serialize in C.  Once
``remove``/``remove_init`` return, no lookup that starts afterwards sees the
removed regions, so the address range can be reused at once; a removed
module's memory is freed only after an RCU grace period (in batches;
``reclaim()`` forces one).  ``os.fork()`` is safe even while other threads
write: the child gets every map as it was between two writer calls.

Arguments are checked here, before C, so a rejected call changes nothing;
every rejection is a ``PymodError`` (EINVAL) that is also a ``ValueError``
(``InvalidArgument``) or a ``TypeError`` (``InvalidType``).  Ids and
addresses are integers of any type, numpy's included, but never bools.

``find`` and ``within`` are C methods (``pymod._lookfast``, csrc/lookfast/)
that call the lookup core directly for a plain int; anything else takes the
Python path below, which checks it and raises.

This module imports nothing else from pymod but the errors.
"""

from __future__ import annotations

import errno as _errno
import operator
from collections.abc import Iterator, Mapping
from typing import Any, SupportsIndex, cast

import numpy as np

from pymod._lookfast import Map as _Map
from pymod._lookfast import set_fallbacks as _set_fallbacks
from pymod._lookup_cffi import ffi, lib
from pymod.errors import InvalidArgument, InvalidType, PymodError, StatusKind, status_error

__all__ = ["ModTree", "REGION_KINDS", "INIT_KINDS", "STRATEGIES"]


def _region_kinds() -> tuple[str, ...]:
    """``enum pm_mem_type``'s names below PM_MEM_NTYPES, in value order,
    as ``PM_MEM_RO_AFTER_INIT`` -> ``"ro_after_init"``."""
    names: dict[int, str] = ffi.typeof("enum pm_mem_type").elements
    return tuple(names[t].removeprefix("PM_MEM_").lower() for t in range(lib.PM_MEM_NTYPES))


#: Region kinds in ``enum mod_mem_type`` order (the C library's enum pm_mem_type).
REGION_KINDS = _region_kinds()
INIT_KINDS = frozenset(REGION_KINDS[lib.PM_MEM_INIT_TEXT:])
STRATEGIES = {"tree": lib.PM_STRATEGY_TREE, "list": lib.PM_STRATEGY_LIST}
_BATCH_MODES = {"auto": lib.PM_BATCH_AUTO, "walk": lib.PM_BATCH_WALK,
                "sorted": lib.PM_BATCH_SORTED}
_KIND_INDEX: dict[object, int] = {k: i for i, k in enumerate(REGION_KINDS)}
_NTYPES = len(REGION_KINDS)
_U64_MAX = (1 << 64) - 1
_ID_MAX = (1 << 63) - 1

# What each failure status of the lookup core means (texts: pm_strerror).
_STATUS_KINDS: dict[int, StatusKind] = {
    lib.PM_ENOMEM: "nomem",
    lib.PM_EDUPID: "duplicate",
    lib.PM_EOVERLAP: "overlap",
    lib.PM_EBADREGION: "invalid",
    lib.PM_ESELFOVERLAP: "invalid",
    lib.PM_ENOENT: "unknown",
    lib.PM_EINVAL: "invalid",
    lib.PM_EIDINDEX: "corrupt",
    lib.PM_ECOUNT: "corrupt",
    lib.PM_ETREE0: "corrupt",
    lib.PM_ETREE1: "corrupt",
    lib.PM_ENODES: "corrupt",
    lib.PM_ELIST: "corrupt",
}


def _raise_for(status: int, what: str, mod_id: int = -1, conflict: int = -1) -> None:
    """Raise the exception for a failure ``status`` of the lookup core."""
    if status != lib.PM_OK:
        text = ffi.string(lib.pm_strerror(status)).decode("ascii")
        raise status_error(status, text, _STATUS_KINDS, what=what, module=mod_id,
                           other=conflict)


def _type_name(value: object) -> str:
    """``int``, ``float``, ``numpy.float64``, ``numpy.bool``: what a message names."""
    t = type(value)
    return t.__qualname__ if t.__module__ == "builtins" else "%s.%s" % (t.__module__,
                                                                         t.__qualname__)


def _as_int(value: object, what: str) -> int:
    """``value`` as a Python int: any integer (numpy's too), never a bool."""
    if isinstance(value, (bool, np.bool_)):
        raise InvalidType("%s must be an int, not %s" % (what, _type_name(value)))
    try:
        return operator.index(cast(SupportsIndex, value))
    except TypeError:
        raise InvalidType("%s must be an int, not %s"
                                % (what, _type_name(value))) from None


def _check_u64(value: object, what: str) -> int:
    """``value`` as an int in 0..2**64-1; ``what`` names it in the error."""
    v = _as_int(value, what)
    if not 0 <= v <= _U64_MAX:
        raise InvalidArgument("%s %s outside 0..2**64-1" % (what, "%#x" % v if v >= 0 else v))
    return v


def _check_id(mod_id: object) -> int:
    if type(mod_id) is int and 0 <= mod_id <= _ID_MAX:
        return mod_id                  # fast path: a plain int in range
    i = _as_int(mod_id, "module id")
    if not 0 <= i <= _ID_MAX:
        raise InvalidArgument("module id %d outside 0..2**63-1" % i)
    return i


def _check_addr(addr: object) -> int:
    return _check_u64(addr, "address")


def _array_addresses(a: np.ndarray) -> np.ndarray:
    """``as_addresses`` for an ndarray: its dtype decides."""
    if a.dtype == np.uint64:
        return np.ascontiguousarray(a).reshape(-1)
    if a.size == 0:
        return np.zeros(0, dtype=np.uint64)
    if a.dtype == object:
        return _object_addresses(a.reshape(-1))
    if a.dtype.kind not in "iu":
        raise InvalidType("addresses must be integers, not %s" % a.dtype)
    if a.dtype.kind == "i" and int(a.min()) < 0:
        raise InvalidArgument("negative address %d" % int(a.min()))
    return np.ascontiguousarray(a, dtype=np.uint64).reshape(-1)


def _object_addresses(objs: np.ndarray) -> np.ndarray:
    """A flat object array of would-be addresses, each checked: the first bad
    one is named (``address -1 outside ...``, ``... not float``)."""
    if set(map(type, objs)) <= {int}:
        try:
            return np.array(objs, dtype=np.uint64)
        except OverflowError:
            pass                    # out of range: found and named below
    return np.array([_check_addr(x) for x in objs], dtype=np.uint64)


def as_addresses(addrs: object) -> np.ndarray:
    """A contiguous uint64 array from any array-like of addresses.

    An ndarray is converted by its dtype: integers when every value fits
    (a negative one raises ValueError), any other dtype raises TypeError
    rather than being silently truncated.  Anything else (lists, tuples,
    ranges, nested sequences) is checked element by element, so a mixed
    list such as ``[2**64-1, -1]`` names the element that is wrong, and
    bools are refused as they are everywhere in ModTree.  For speed pass a
    uint64 ndarray.
    """
    if isinstance(addrs, np.ndarray):
        return _array_addresses(addrs)
    objs = np.asarray(addrs, dtype=object).reshape(-1)
    if objs.size == 0:
        return np.zeros(0, dtype=np.uint64)
    return _object_addresses(objs)


def _check_region(kind: object, region: tuple[int, int]) -> tuple[int, int, int]:
    """(type index, base, size) of one ``kind: (base, size)`` entry, as ints."""
    try:
        t = _KIND_INDEX[kind]
    except (KeyError, TypeError):
        raise InvalidArgument("unknown region kind %r (expected one of %s)"
                              % (kind, ", ".join(REGION_KINDS))) from None
    try:
        b, s = region
    except (TypeError, ValueError):
        raise InvalidType("region %r must be a (base, size) pair, not %r"
                                % (kind, region)) from None
    # Fast path, plain ints that fit (a size-0 region may sit anywhere).
    if type(b) is int and type(s) is int and 0 <= b <= _U64_MAX and 0 <= s <= _U64_MAX \
            and b + s <= _U64_MAX + 1:
        return t, b, s
    base = _check_u64(b, "region %r base" % kind)
    size = _check_u64(s, "region %r size" % kind)
    if size and base + size - 1 > _U64_MAX:
        raise InvalidArgument("region %r [%#x, +%#x) wraps past 2**64" % (kind, base, size))
    return t, base, size


def _find_checked(tree: ModTree, addr: int) -> int | None:
    """``find`` for what its C path leaves: checked, converted, or refused."""
    r = lib.pm_map_find(tree._map, _check_addr(addr))
    return None if r < 0 else int(r)


def _within_checked(tree: ModTree, addr: int, mod_id: int) -> bool:
    """``within`` for what its C path leaves (an unknown id raises here)."""
    addr = _check_addr(addr)
    mod_id = _check_id(mod_id)
    rc = lib.pm_map_within(tree._map, addr, mod_id)
    _raise_for(rc if rc < 0 else 0, "module %d" % mod_id)
    return bool(rc == 1)


# Named as the methods, so a wrong call reads "ModTree.find() missing ...".
_find_checked.__qualname__ = "ModTree.find"
_within_checked.__qualname__ = "ModTree.within"
_set_fallbacks(_find_checked, _within_checked)


class ModTree(_Map):
    """Address -> module map over up to seven regions per module.

    The C base (``pymod._lookfast.Map``) owns the map and frees it with the
    object; ``_map`` is the same map as a cffi pointer for the other calls.
    """

    __slots__ = ("_map", "_strategy", "__weakref__")
    _map: Any           # cdata pm_map *, not owned
    _strategy: str

    def __new__(cls, strategy: str = "tree") -> ModTree:
        try:
            code = STRATEGIES[strategy]
        except (KeyError, TypeError):
            raise InvalidArgument("strategy must be one of %s, not %r"
                                  % (sorted(STRATEGIES), strategy)) from None
        try:
            self = super().__new__(cls, code)
        except MemoryError:
            raise PymodError(_errno.ENOMEM, "out of memory creating the map") from None
        self._map = ffi.cast("pm_map *", self._map_address)
        self._strategy = strategy
        return self

    # -- writers ---------------------------------------------------------
    def insert(self, mod_id: int, regions: Mapping[str, tuple[int, int]]) -> None:
        """Add module ``mod_id`` owning ``{kind: (base, size)}`` regions.

        Size-0 regions are accepted and ignored.  Raises ``RegionOverlap``
        (a ``ValueError``) naming the module already owning an overlapping
        range, ``DuplicateModule`` for a present id, ``InvalidArgument`` for
        unknown kinds or out-of-range values and ``InvalidType`` for
        values that are not integers (bools included); nothing changes on
        failure.  Any integer type is accepted, numpy's too.
        """
        mod_id = _check_id(mod_id)
        if type(regions) is not dict and not isinstance(regions, Mapping):
            raise InvalidType("regions must be a mapping of kind -> (base, size), not %s"
                                    % _type_name(regions))
        base = ffi.new("uint64_t[]", _NTYPES)
        size = ffi.new("uint64_t[]", _NTYPES)
        for kind, region in regions.items():
            t, b, s = _check_region(kind, region)
            base[t] = b
            size[t] = s
        conflict = ffi.new("int64_t *")
        rc = lib.pm_map_insert(self._map, mod_id, base, size, conflict)
        if rc:
            _raise_for(rc, "module %d" % mod_id, mod_id, conflict[0])

    def remove(self, mod_id: int) -> None:
        """Unlink ``mod_id`` (KeyError if unknown); its range is free at once,
        its memory after a grace period."""
        mod_id = _check_id(mod_id)
        rc = lib.pm_map_remove(self._map, mod_id)
        if rc:
            _raise_for(rc, "module %d" % mod_id)

    def remove_init(self, mod_id: int) -> None:
        """Drop ``mod_id``'s init regions, as after a successful module init."""
        mod_id = _check_id(mod_id)
        rc = lib.pm_map_remove_init(self._map, mod_id)
        if rc:
            _raise_for(rc, "module %d" % mod_id)

    def reclaim(self) -> None:
        """Wait for a grace period and free every module removed so far."""
        lib.pm_map_reclaim(self._map)

    # -- readers ---------------------------------------------------------
    # C methods (csrc/lookfast/pm_lookfast.c), named here to be documented.
    find = _Map.find
    within = _Map.within

    def find_many(self, addrs: object, method: str = "auto") -> np.ndarray:
        """``find`` for every address: int64 array of ids, -1 where none.

        One C call per batch.  ``method``: "auto" (default), "walk" (one tree
        walk per address) or "sorted" (radix-sort the batch, one tree pass).
        """
        a = as_addresses(addrs)
        try:
            mode = _BATCH_MODES[method]
        except (KeyError, TypeError):
            raise InvalidArgument("method must be one of %s" % sorted(_BATCH_MODES)) from None
        out = np.empty(a.shape[0], dtype=np.int64)
        if a.shape[0]:
            rc = lib.pm_map_find_many(self._map, ffi.from_buffer("uint64_t[]", a),
                                      ffi.from_buffer("int64_t[]", out, require_writable=True),
                                      a.shape[0], mode)
            _raise_for(rc, "find_many")
        return out

    def regions(self, mod_id: int) -> dict[str, tuple[int, int]]:
        """The module's current non-empty regions (init ones vanish after remove_init)."""
        mod_id = _check_id(mod_id)
        base = ffi.new("uint64_t[]", _NTYPES)
        size = ffi.new("uint64_t[]", _NTYPES)
        _raise_for(lib.pm_map_regions(self._map, mod_id, base, size), "module %d" % mod_id)
        return {k: (base[i], size[i]) for i, k in enumerate(REGION_KINDS) if size[i]}

    def ids(self) -> list[int]:
        """Module ids in list order (newest first, as the kernel's list)."""
        while True:
            n = lib.pm_map_count(self._map)
            buf = ffi.new("int64_t[]", max(n, 1) + 16)
            total = lib.pm_map_ids(self._map, buf, max(n, 1) + 16)
            if total <= max(n, 1) + 16:
                return [buf[i] for i in range(total)]

    @property
    def strategy(self) -> str:
        return self._strategy

    @property
    def addr_min(self) -> int:
        """Lowest address ever inserted (2**64-1 while empty; never shrinks)."""
        return int(lib.pm_map_addr_min(self._map))

    @property
    def addr_max(self) -> int:
        """Highest address ever inserted (0 while empty; never shrinks)."""
        return int(lib.pm_map_addr_max(self._map))

    def __len__(self) -> int:
        return int(lib.pm_map_count(self._map))

    def __contains__(self, mod_id: object) -> bool:
        try:
            i = _check_id(mod_id)
        except (TypeError, ValueError):
            return False
        base = ffi.new("uint64_t[]", _NTYPES)
        size = ffi.new("uint64_t[]", _NTYPES)
        return bool(lib.pm_map_regions(self._map, i, base, size) == lib.PM_OK)

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids())

    def validate(self) -> int:
        """Check every internal invariant (both latch copies, list, id index).

        Returns the number of live regions indexed; raises ``PymodError``
        naming the broken invariant.  Takes the writer lock: a test/debug aid.
        """
        rc = int(lib.pm_map_validate(self._map))
        if rc < 0:
            _raise_for(rc, "ModTree invariant broken")
        return rc

    def __repr__(self) -> str:
        return "<ModTree strategy=%s modules=%d>" % (self._strategy, len(self))
