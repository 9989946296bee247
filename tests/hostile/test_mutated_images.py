"""Mutated module images: whatever a byte or header field is changed to, a
load either succeeds or fails with a ModuleLoadError (never another
exception), and a failure leaves the kernel exactly as it was."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pymod import Kernel, ModuleLoadError
from pymod.samples import prebuilt_path
from tests.loader.support import assert_consistent, snapshot

pytestmark = pytest.mark.slow   # hundreds of mutated images per test (Hypothesis)

IMAGES = {n: prebuilt_path(n).read_bytes() for n in ("pm_hello", "pm_params", "pm_exporter")}
# (offset, struct format) of the ELF header fields a hostile file would pick
FIELDS = [(0x10, "<H"), (0x12, "<H"), (0x28, "<Q"), (0x3A, "<H"), (0x3C, "<H"), (0x3E, "<H")]
K = [Kernel()]                      # replaced after a load that succeeds
BEFORE = snapshot(K[0])


def _try(image: bytes) -> None:
    k = K[0]
    try:
        k.load_module(image)
    except ModuleLoadError as e:
        assert e.errno > 0 and e.strerror                      # one errno, one message
        assert snapshot(k) == BEFORE
        assert_consistent(k)
        return
    # A mutation that still loads may have renamed the module (even to "",
    # which the kernel accepts and delete_module cannot name): start afresh.
    assert_consistent(k)
    K[0] = Kernel()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(IMAGES)), field=st.sampled_from(FIELDS),
       value=st.integers(0, (1 << 64) - 1))
def test_header_fields(name, field, value):
    offset, fmt = field
    image = bytearray(IMAGES[name])
    struct.pack_into(fmt, image, offset, value & ((1 << 8 * struct.calcsize(fmt)) - 1))
    _try(bytes(image))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(IMAGES)), data=st.data())
def test_random_bytes(name, data):
    image = bytearray(IMAGES[name])
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(image) - 1))
        image[at] = data.draw(st.integers(0, 255))
    _try(bytes(image))


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from(sorted(IMAGES)), cut=st.integers(0, 4096))
def test_truncated(name, cut):
    _try(IMAGES[name][:max(0, len(IMAGES[name]) - cut)])
