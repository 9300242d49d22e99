"""A short run of benchmarks/bench_studio_load.py (the 60 s, 20-user run is a benchmark): a few
concurrent users sampling for two seconds on a live loopback server, without an error."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_studio_load.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_studio_load", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_short_load_has_no_errors(live_server):
    result = load_bench().run_load(live_server, users=4, seconds=2.0, n=2, cap=200)
    assert result["errors"] == 0
    assert 4 <= result["requests"] <= 200
    assert result["p50_ms"] <= result["p95_ms"] <= result["max_ms"]


def test_the_load_test_only_targets_loopback():
    bench = load_bench()
    with pytest.raises(ValueError, match="only targets loopback"):
        bench.run_load("http://192.168.1.10:8000", users=1, seconds=1.0)
