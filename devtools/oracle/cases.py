"""The oracle's questions, generated: every list is drawn by Hypothesis
from a recorded seed, so a run is reproducible and a disagreement can be
asked again alone (``python -m devtools.oracle --seed S --only FAMILY:INDEX``).

Lists (each asked with and without ``module.sig_enforce=1``):

* ``pristine``: each base module as shipped (finit, init), the calibration;
* ``mutation``: one field or byte of a base module changed
  (:mod:`devtools.oracle.mutate`);
* ``compress``: the container (xz check types, gzip, zstd, header bytes),
  with and without ``MODULE_INIT_COMPRESSED_FILE``;
* ``foreign``: the other kernel's modules, init and finit, with the IGNORE
  flags;
* ``deps``: a module after a subset of its dependencies (``modules.dep``
  order, ``softdep pre:`` first);
* ``params``: parameters of every type, unknown names, ``--``, quoting.
"""

from __future__ import annotations

import gzip
import lzma
import random
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from devtools.oracle import mutate
from devtools.oracle.targets import Target
from pymod.oracle.model import (
    COMPRESSED_FILE,
    IGNORE_MODVERSIONS,
    IGNORE_VERMAGIC,
    Case,
    Image,
    Step,
)

BASES = ("dummy", "loop", "tun", "veth", "nbd")
DEPENDENT = ("8021q", "null_blk", "bridge", "xfrm_user", "nf_tables", "bonding", "zram",
             "libcrc32c")
PARAM_MODULES = ("loop", "nbd", "dummy", "null_blk", "bonding", "tun")
FLAG_CHOICES = (0, 0, 0, IGNORE_MODVERSIONS, IGNORE_VERMAGIC,
                IGNORE_MODVERSIONS | IGNORE_VERMAGIC, 8)
XZ_CHECKS = {"none": lzma.CHECK_NONE, "crc32": lzma.CHECK_CRC32, "crc64": lzma.CHECK_CRC64,
             "sha256": lzma.CHECK_SHA256}


def draw_many(strategy: st.SearchStrategy[Any], n: int, at: int) -> list[Any]:
    """``n`` values of ``strategy`` from seed ``at`` (generation only: no
    shrinking, no example database, so a seed always gives the same list)."""
    out: list[Any] = []

    @seed(at)
    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out


def base_of(target: Target, name: str) -> mutate.Base:
    from pymod.elf.kofile import read_ko

    ko = read_ko(target.modules[name])
    return mutate.Base(name, bytes(ko.image), bytes(ko.payload))


def _file_step(target: Target, name: str, params: str = "") -> Step:
    """finit of a module file as kmod would pass it on this kernel."""
    raw = target.modules[name].read_bytes()
    flags = COMPRESSED_FILE if target.config.module_compression and not raw.startswith(
        b"\x7fELF") else 0
    if not flags and not raw.startswith(b"\x7fELF"):
        raw = base_of(target, name).signed
    return Step("finit", Image.of(raw), flags, params)


def pristine(target: Target, bases: list[mutate.Base], n: int, at: int) -> list[Case]:
    cases = []
    for b in bases:
        cases.append(Case("pristine", "%s as shipped (finit)" % b.name,
                          (_file_step(target, b.name),)))
        cases.append(Case("pristine", "%s signed ELF (init_module)" % b.name,
                          (Step("init", Image.of(b.signed)),)))
        cases.append(Case("pristine", "%s unsigned ELF (finit)" % b.name,
                          (Step("finit", Image.of(b.payload)),)))
    return cases[:n] if n < len(cases) else cases


def mutation(target: Target, bases: list[mutate.Base], n: int, at: int) -> list[Case]:
    @st.composite
    def one(draw: Any) -> Case:
        base = draw(st.sampled_from(bases))
        kind = draw(st.sampled_from(sorted(mutate.ELF_MUTATIONS)))
        what, image = mutate.ELF_MUTATIONS[kind](draw, base)
        op = draw(st.sampled_from(("finit", "finit", "finit", "init")))
        flags = draw(st.sampled_from(FLAG_CHOICES)) if op == "finit" else 0
        return Case("mutation", "%s %s: %s (%s flags=%d)" % (base.name, kind, what, op, flags),
                    (Step(op, image, flags),))
    return distinct(one(), n, at)


def _compressed(data: bytes, kind: str) -> bytes:
    if kind.startswith("xz-"):
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=XZ_CHECKS[kind[3:]])
    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def compress(target: Target, bases: list[mutate.Base], n: int, at: int) -> list[Case]:
    cache: dict[tuple[str, str, bool], bytes] = {}

    @st.composite
    def one(draw: Any) -> Case:
        base = draw(st.sampled_from(bases))
        kind = draw(st.sampled_from(["xz-" + c for c in XZ_CHECKS] + ["gzip", "zstd"]))
        signed = draw(st.booleans())
        key = (base.name, kind, signed)
        if key not in cache:
            cache[key] = _compressed(base.signed if signed else base.payload, kind)
        data = cache[key]
        patches: tuple[tuple[int, bytes], ...] = ()
        what = ""
        if draw(st.integers(0, 3)) == 0:
            off = draw(st.integers(0, min(31, len(data) - 1)))
            byte = draw(st.integers(0, 255))
            patches, what = ((off, bytes([byte])),), " byte %d=%#x" % (off, byte)
        flags = draw(st.sampled_from((COMPRESSED_FILE, COMPRESSED_FILE, 0,
                                      COMPRESSED_FILE | IGNORE_MODVERSIONS)))
        return Case("compress", "%s %s %s%s (flags=%d)" % (
            base.name, "signed" if signed else "unsigned", kind, what, flags),
            (Step("finit", Image(data, len(data), patches), flags),))
    return distinct(one(), n, at)


def foreign(target: Target, other: Target | None, n: int, at: int) -> list[Case]:
    if other is None:
        return []
    names = sorted(other.modules)

    @st.composite
    def one(draw: Any) -> Case:
        name = draw(st.sampled_from(names))
        op = draw(st.sampled_from(("finit", "init")))
        flags = draw(st.sampled_from((0, 0, IGNORE_MODVERSIONS, IGNORE_VERMAGIC,
                                      IGNORE_MODVERSIONS | IGNORE_VERMAGIC)))
        step = _file_step(other, name)
        if op == "init" or step.flags and not target.config.MODULE_DECOMPRESS:
            step = Step(op, Image.of(base_of(other, name).signed), flags if op == "finit" else 0)
        else:
            step = Step("finit", step.image, step.flags | flags)
        return Case("foreign", "%s from %s (%s flags=%d)" % (name, other.release, step.op,
                                                              step.flags), (step,))
    return distinct(one(), n, at)


def deps(target: Target, n: int, at: int) -> list[Case]:
    names = [m for m in DEPENDENT if m in target.modules]
    natives = sorted(target.modules)

    @st.composite
    def one(draw: Any) -> Case:
        name = draw(st.one_of(st.sampled_from(names), st.sampled_from(natives)))
        order = _with_softdeps(target, name)
        keep = [d for d in order[:-1] if draw(st.booleans())]
        steps = tuple(_file_step(target, m) for m in [*keep, name])
        return Case("deps", "%s after [%s] of [%s]" % (name, " ".join(keep),
                                                       " ".join(order[:-1])), steps)
    return distinct(one(), n, at)


def _with_softdeps(target: Target, name: str) -> list[str]:
    """``name`` and what it needs, in load order, ``softdep pre:`` first."""
    from pymod.elf.kofile import read_ko

    order: list[str] = []
    for m in [*target.deps.get(name, []), name]:
        info = read_ko(target.modules[m]).elf.modinfo()
        for key, value in info:
            if key == "softdep" and value.startswith("pre:"):
                order += [p for p in value[4:].split() if p in target.modules
                          and p not in order]
        if m not in order:
            order.append(m)
    return order


def distinct(strategy: st.SearchStrategy[Case], n: int, at: int) -> list[Case]:
    """``n`` distinct cases of ``strategy`` (fewer only if it has fewer)."""
    return _numbered(draw_many(strategy, n * 3 // 2 + 5, at), at)[:n]


def _numbered(cases: list[Case], at: int) -> list[Case]:
    """Distinct cases (generation repeats itself; a repeat asks nothing new
    and a repeated hang costs a reboot each time), numbered."""
    seen: set[str] = set()
    out: list[Case] = []
    for c in cases:
        if c.what not in seen:
            seen.add(c.what)
            out.append(Case(c.family, c.what, c.steps, at, len(out)))
    return out


Family = Callable[..., list[Case]]


def generate(target: Target, other: Target | None, per_family: dict[str, int], at: int
             ) -> list[Case]:
    """Every list for ``target``, from seed ``at``."""
    from devtools.oracle.params import params

    bases = [base_of(target, b) for b in BASES if b in target.modules]
    out: list[Case] = []
    rng = random.Random(at)
    for family, n in per_family.items():
        if n <= 0:
            continue
        s = rng.randrange(1 << 30)
        if family in ("pristine", "mutation", "compress"):
            out += globals()[family](target, bases, n, s)
        elif family == "foreign":
            out += foreign(target, other, n, s)
        elif family == "deps":
            out += deps(target, n, s)
        elif family == "params":
            out += params(target, n, s)
    return out
