"""Module parameters (parse_args against the relocated __param table, the
kernel's messages and errnos, sysfs parameters/) and per-CPU data
(percpu_modalloc), on the pm_params sample."""

from __future__ import annotations

import errno
import io
import struct

import pytest
from elftools.elf.elffile import ELFFile

from pymod import MODULE_INIT_IGNORE_VERMAGIC, Config, Kernel, ModuleLoadError
from pymod.loader import queries
from pymod.loader.param_ops import kstrtobool, kstrtoll, kstrtoull
from pymod.loader.params import next_arg
from tests.loader.support import assert_consistent, sample_bytes, snapshot

PARAMS = sample_bytes("pm_params")


def load(args: str = "", config: Config | None = None, image: bytes = PARAMS, flags: int = 0):
    k = Kernel(config)
    return k, k.load_module(image, params=args, flags=flags)


def param_files(k: Kernel) -> dict[str, str]:
    return {n.split("/", 1)[1]: v for n, v in queries.sysfs(k, "pm_params").items()
            if n.startswith("parameters/")}


def refused(args: str, config: Config | None = None) -> tuple[ModuleLoadError, Kernel]:
    k = Kernel(config)
    before = snapshot(k)
    with pytest.raises(ModuleLoadError) as ei:
        k.load_module(PARAMS, params=args)
    assert snapshot(k) == before
    assert_consistent(k)
    assert k.features.percpu.chunk.used == {} if config is None or config.SMP else True
    return ei.value, k


def test_defaults_and_visibility():
    k, mod = load()
    assert param_files(k) == {"count": "3", "verbose": "N", "who": "world", "levels": "",
                              "label": "lbl"}
    assert [p.name for p in mod.kp] == ["hidden", "label", "levels", "who", "verbose", "count"]


def test_values_land_in_module_memory():
    k, mod = load('count=0x10 verbose who="hello world" levels=5,6,7 label=abc hidden=011')
    assert param_files(k) == {"count": "16", "verbose": "Y", "who": "hello world",
                              "levels": "5,6,7", "label": "abc"}
    kp = {p.name: p for p in mod.kp}
    assert queries.read(k, kp["count"].arg, 4) == struct.pack("<i", 16)
    assert queries.read(k, kp["hidden"].arg, 4) == struct.pack("<I", 9)            # octal, hidden
    assert queries.read(k, kp["levels"].arg, 16) == struct.pack("<4i", 5, 6, 7, 0)
    assert queries.read(k, kp["label"].string[1], 4) == b"abc\0"


def test_names_match_with_dashes_or_underscores_and_async_probe_is_silent():
    k, mod = load("async_probe dyndbg=+p")
    assert mod.async_probe and not [m for lv, m in k.log.lines if "parameter" in m]


@pytest.mark.parametrize("args, err, message", [
    ("count", errno.EINVAL, "pm_params: `' invalid for parameter `count'"),
    ("count=abc", errno.EINVAL, "pm_params: `abc' invalid for parameter `count'"),
    ("count=08", errno.EINVAL, "pm_params: `08' invalid for parameter `count'"),
    ("count=2147483648", errno.ERANGE, "pm_params: `2147483648' invalid for parameter `count'"),
    ("label=123456789", errno.ENOSPC, "pm_params: `123456789' too large for parameter `label'"),
    ("levels=1,2,3,4,5", errno.EINVAL, "pm_params: `1' invalid for parameter `levels'"),
    ("levels=1,x,3", errno.EINVAL, "pm_params: `1' invalid for parameter `levels'"),
    ("verbose=maybe", errno.EINVAL, "pm_params: `maybe' invalid for parameter `verbose'"),
])
def test_refusals(args, err, message):
    e, k = refused(args)
    assert (e.errno, e.strerror, e.stage) == (err, message, "params")
    assert k.log.lines[-1] == ("err", message)


def test_setter_messages_come_first():
    e, k = refused("label=123456789")
    assert k.log.lines[-2] == ("err", "label: string doesn't fit in 7 chars.")
    e, k = refused("levels=1,2,3,4,5")
    assert k.log.lines[-2] == ("err", "levels: can only take 4 arguments")


def test_every_error_is_logged_and_the_last_errno_wins():
    e, k = refused("count=abc label=123456789 verbose")
    errors = [m for lv, m in k.log.lines if lv == "err"]
    assert errors[-3:] == ["pm_params: `abc' invalid for parameter `count'",
                           "label: string doesn't fit in 7 chars.",
                           "pm_params: `123456789' too large for parameter `label'"]
    assert e.errno == errno.ENOSPC


def test_unknown_and_after_dashes():
    k, _ = load("nosuch=1 --")
    assert ("warn", "pm_params: unknown parameter 'nosuch' ignored") in k.log.lines
    assert k.log.lines[-1] == ("warn", "pm_params: parameters '' after `--' ignored")


@pytest.mark.parametrize("args, shown", [
    ("pm_params.count=2", "pm_params"),          # the dyndbg hook cut the name in place
    ("a.b.c=1", "a"), ("x.dyndbg2", "x"), ("nosuch.", "nosuch"),
])
def test_dynamic_debug_cuts_an_unknown_dotted_name(args, shown):
    k, mod = load(args)
    assert k.log.lines[-1] == ("warn", "pm_params: unknown parameter '%s' ignored" % shown)
    assert param_files(k)["count"] == "3"       # count itself untouched


def test_without_dynamic_debug_the_dotted_name_stays_whole():
    k, _ = load("pm_params.count=2", Config(DYNAMIC_DEBUG=False))
    assert k.log.lines[-1] == ("warn", "pm_params: unknown parameter 'pm_params.count' ignored")


def test_a_dotted_dyndbg_is_handled_silently():
    k, _ = load("other.dyndbg=+p pm_params.dyndbg")
    assert not [m for lv, m in k.log.lines if "parameter" in m]


def test_dyndbg_without_dynamic_debug():
    k, _ = load("dyndbg=+p", Config(DYNAMIC_DEBUG=False))
    assert ("warn", "dyndbg param is supported only in CONFIG_DYNAMIC_DEBUG builds") \
        in k.log.lines


@pytest.mark.parametrize("args, want", [
    ("a=1 b", [("a", "1"), ("b", None)]),
    ('a="x y" b=2', [("a", "x y"), ("b", "2")]),
    ('"a=x y" b', [("a", "x y"), ("b", None)]),
    ("a=1   b=2  ", [("a", "1"), ("b", "2")]),
    ("=5", [("=5", None)]),
    ('a=b"c d"', [("a", 'b"c d"')]),
])
def test_next_arg(args, want):
    got = []
    rest = args
    while rest:
        param, val, rest = next_arg(rest)
        got.append((param, val))
    assert got == want


def test_kstrtox():
    assert kstrtoull("0x1f") == 31 and kstrtoull("017") == 15 and kstrtoull("+5\n") == 5
    assert kstrtoll("-9223372036854775808") == -(1 << 63)
    for bad, err in (("", errno.EINVAL), ("0x", errno.EINVAL), ("5 ", errno.EINVAL),
                     ("18446744073709551616", errno.ERANGE),
                     ("-9223372036854775809", errno.ERANGE)):
        with pytest.raises(OSError) as ei:
            kstrtoll(bad) if bad.startswith("-") else kstrtoull(bad)
        assert ei.value.errno == err, bad
    assert kstrtobool("on") and not kstrtobool("off") and kstrtobool("Yes")
    with pytest.raises(OSError):
        kstrtobool("o")


# ------------------------------------------------------------------ per-CPU data
def test_percpu_variable_gets_the_reserved_chunk_and_returns_it():
    k, mod = load()
    cfg = k.config
    assert cfg.percpu_static_size <= mod.percpu < cfg.percpu_static_size + cfg.percpu_reserve
    assert mod.percpu_size == 4
    k.delete_module("pm_params")
    assert k.features.percpu.chunk.used == {}


def test_percpu_exhausted_is_enomem():
    e, k = refused("", Config(percpu_reserve=2))
    assert (e.errno, e.strerror) == (errno.ENOMEM,
                                     "pm_params: Could not allocate 4 bytes percpu data")


def test_percpu_alignment_above_a_page_warns():
    elf = ELFFile(io.BytesIO(PARAMS))
    index = elf.get_section_index(".data..percpu")
    shdr = elf["e_shoff"] + index * elf["e_shentsize"]
    image = PARAMS[:shdr + 48] + struct.pack("<Q", 8192) + PARAMS[shdr + 56:]
    k, mod = load(image=image)
    assert ("warn", "pm_params: per-cpu alignment 8192 > 4096") in k.log.lines
    assert mod.percpu % 4096 == 0


def test_up_kernel_treats_percpu_as_data():
    k, mod = load(config=Config(SMP=False), flags=MODULE_INIT_IGNORE_VERMAGIC)
    assert mod.percpu == 0 and ".data..percpu" in mod.section_addrs
