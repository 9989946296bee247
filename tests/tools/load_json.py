"""``pymod load --json``'s list of records (docs/cli/json.rst), grouped as
tests read them."""

from __future__ import annotations

from typing import Any


def by_record(records: list[dict[str, Any]]) -> dict[str, Any]:
    """``modules`` and ``failures`` (each record without its ``record`` key,
    in order) and the kernel record's keys; the list's shape is checked."""
    kinds = [r["record"] for r in records]
    assert kinds == sorted(kinds, key=("module", "failure", "kernel").index)
    assert kinds.count("kernel") == 1
    strip = [{k: v for k, v in r.items() if k != "record"} for r in records]
    out: dict[str, Any] = {
        "modules": [r for r, kind in zip(strip, kinds, strict=True) if kind == "module"],
        "failures": [r for r, kind in zip(strip, kinds, strict=True) if kind == "failure"]}
    out.update(strip[kinds.index("kernel")])
    return out
