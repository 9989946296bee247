"""pymod benchmarks: ``python -m bench`` (lookup table + plot),
``python -m pytest bench --benchmark-enable`` (pytest-benchmark cases),
``python bench/bench_tools.py`` (pymod's tools against kmod's)."""
