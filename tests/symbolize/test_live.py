"""The running machine's /proc/kallsyms, against an independent bisect over the same text."""

from __future__ import annotations

import bisect
import random

import pytest

from pymod.symbolize.readers import read_kallsyms, read_system_map
from pymod.symbolize.reference import reference_lookup, reference_sprint
from tests.symbolize.support import same_table


@pytest.fixture(scope="module")
def live() -> bytes:
    try:
        with open("/proc/kallsyms", "rb") as f:
            data = f.read()
    except OSError as e:
        pytest.skip("/proc/kallsyms is unreadable here: %s" % e)
    core = [line for line in data.splitlines() if b"\t" not in line]
    if not core:
        pytest.skip("/proc/kallsyms lists no vmlinux symbols")
    if all(int(line.split()[0], 16) == 0 for line in core):
        pytest.skip("/proc/kallsyms shows only zero addresses to this user (kptr_restrict)")
    return data


class Bisect:
    """The kernel's vmlinux rules written again from the raw lines, with
    nothing shared with pymod: text ranges from the linker symbols, the last
    symbol at or below, the first of its aliases, the next higher address."""

    def __init__(self, data: bytes):
        rows = [line.decode().split(" ", 2) for line in data.splitlines()
                if b"\t" not in line]
        self.addrs = [int(a, 16) for a, _, _ in rows]
        self.names = [n for _, _, n in rows]
        first = {}
        for a, n in zip(self.addrs, self.names, strict=True):
            first.setdefault(n, a)
        self.ranges = [(first["_stext"], first["_etext"])]
        if "_sinittext" in first:
            self.ranges.append((first["_sinittext"], first["_einittext"]))
        if "_end" in first:
            self.ranges[0] = (first["_stext"], first["_end"])

    def lookup(self, addr: int) -> tuple[str, int, int] | None:
        if not any(lo <= addr < hi for lo, hi in self.ranges):
            return None
        i = bisect.bisect_right(self.addrs, addr) - 1
        i = bisect.bisect_left(self.addrs, self.addrs[i])
        nxt = bisect.bisect_right(self.addrs, self.addrs[i])
        end = self.addrs[nxt] if nxt < len(self.addrs) else next(
            hi for lo, hi in reversed(self.ranges) if lo <= addr < hi)
        return self.names[i], addr - self.addrs[i], end - self.addrs[i]


def test_random_addresses_agree_with_a_bisect(live):
    maps = read_kallsyms(live)
    ref = Bisect(live)
    rng = random.Random(8)
    lo, hi = ref.ranges[0]
    picks = [rng.randrange(lo, hi) for _ in range(3000)]
    # and inside real symbols: start, middle, last byte before the next one
    for i in rng.sample(range(len(ref.addrs) - 1), 1000):
        a, b = ref.addrs[i], ref.addrs[i + 1]
        if b > a:
            picks += [a, (a + b) // 2, b - 1]
    for addr in picks:
        got = reference_lookup(maps, addr)
        want = ref.lookup(addr)
        assert (got[:3] if got else None) == want, hex(addr)
        assert got is None or got[3] is None


def test_edges(live):
    maps = read_kallsyms(live)
    ref = Bisect(live)
    core = maps.core
    assert core is not None
    for lo, hi in ref.ranges:
        assert reference_lookup(maps, lo) == ref.lookup(lo) + (None,)
        assert reference_lookup(maps, hi - 1) == ref.lookup(hi - 1) + (None,)
        if not any(a <= hi < b for a, b in ref.ranges):      # one past the range
            assert reference_sprint(maps, hi) == "%#x" % hi
    assert reference_sprint(maps, core.stext - 1) == "%#x" % (core.stext - 1)
    # %pB: the return address just past a function belongs to it
    i = len(ref.addrs) // 2
    while ref.addrs[i + 1] == ref.addrs[i]:
        i += 1
    start, end = ref.addrs[i], ref.addrs[i + 1]
    name = ref.names[bisect.bisect_left(ref.addrs, start)]
    assert reference_sprint(maps, end, "B") == "%s+%#x/%#x" % (name, end - start, end - start)
    assert reference_sprint(maps, start, "B") != reference_sprint(maps, start, "S")


def test_the_live_table_is_what_scripts_kallsyms_rules_give(live):
    # /proc/kallsyms' vmlinux part is scripts/kallsyms' output: read as a
    # System.map it must come back unchanged (filters and tie order alike).
    # Per-cpu symbols it typed A would be dropped as absolute: left out.
    core = b"".join(line + b"\n" for line in live.splitlines()
                    if b"\t" not in line and line[17:18] != b"A")
    as_printed = read_kallsyms(core).core
    all_symbols = b" _end\n" in core
    rebuilt = read_system_map(core, all_symbols=all_symbols, absolute_percpu=False).core
    assert as_printed is not None and rebuilt is not None
    assert same_table(as_printed.symbols, rebuilt.symbols)
