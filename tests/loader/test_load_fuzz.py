"""Randomly corrupted sample modules: every load either succeeds or fails with
a ModuleLoadError, and a failure leaves nothing behind."""

from __future__ import annotations

import random

import pytest

from pymod.errors import ModuleLoadError
from pymod.loader.kernel import Kernel
from tests.loader.support import assert_consistent, sample_bytes, snapshot

SAMPLES = ["pm_hello", "pm_exporter", "pm_ro_after_init", "pm_noinit", "pm_importer"]
EHDR_AND_SHDRS = 64 + 64 * 40     # where corruption most often matters


def corrupt(rng: random.Random, blob: bytes) -> bytes:
    b = bytearray(blob)
    for _ in range(rng.randint(1, 8)):
        r = rng.random()
        if r < 0.6:
            hot = rng.random() < 0.7
            pos = rng.randrange(min(len(b), EHDR_AND_SHDRS) if hot else len(b))
            b[pos] = rng.randrange(256)
        elif r < 0.8:
            b = b[: rng.randrange(len(b))]
        else:
            pos = rng.randrange(len(b))
            b[pos:pos + 8] = rng.randbytes(8)
        if not b:
            break
    return bytes(b)


@pytest.mark.parametrize("seed", range(3))
def test_corrupt_modules_fail_cleanly(seed):
    rng = random.Random(seed)
    k = Kernel()
    k.load_module(sample_bytes("pm_exporter"))      # something to resolve against
    blobs = {n: sample_bytes(n) for n in SAMPLES}
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(400):
        before = snapshot(k)
        try:
            mod = k.load_module(corrupt(rng, blobs[rng.choice(SAMPLES)]))
        except ModuleLoadError as e:
            outcomes["refused"] += 1
            assert e.errno > 0 and e.strerror and e.stage
            assert snapshot(k) == before
        else:
            outcomes["loaded"] += 1
            k.delete_module(mod.name, force=True)
        assert_consistent(k)
    assert outcomes["refused"] > 100          # the corruptions really bite
    assert [m.name for m in k.modules] == ["pm_exporter"]
