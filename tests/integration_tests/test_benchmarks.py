"""Smoke tests: each benchmark script runs on a tiny budget and prints its ratio lines."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_retrieval_benchmark_smoke() -> None:
    out = _run("retrieval.py", "--sizes", "300", "--queries", "20")
    head, header, row, target = out.splitlines()
    assert head == "run: retrieval seed=0 queries=20 (p50, WordLlama, embedded Chroma)"
    assert header == "  states  fill s  raw ms retrieve ms  ratio +embed ms  ratio"
    assert target == "target: retrieve (embedding excluded) <= 1.5x raw"
    number = r"\s+(\d+\.\d+)"
    match = re.fullmatch(rf"     300{number}{number}{number}{number}x{number}{number}x", row)
    assert match, row
    _fill, raw, retrieve, ratio, embed, embed_ratio = map(float, match.groups())
    # Each ratio is its latency over the raw query's, up to the rounding of the printed values.
    assert ratio == pytest.approx(retrieve / raw, abs=0.01 + 0.01 * (1 + ratio) / raw)
    assert embed_ratio == pytest.approx(embed / raw, abs=0.01 + 0.01 * (1 + embed_ratio) / raw)


def test_learn_benchmark_smoke() -> None:
    out = _run("learn.py", "--episodes", "5", "--steps", "4")
    assert "round trips per learn 4.00" in out  # Monte Carlo: append, read, write, verify


def test_async_retrieval_benchmark_smoke() -> None:
    out = _run("async_retrieval.py", "--concurrent", "8", "--states", "100", "--repeats", "2")
    head, figures, ratios = out.splitlines()
    assert head == (
        "run: async retrieval concurrent=8 states=100 repeats=2 "
        "(chroma run server, WordLlama, query embeddings cached)"
    )
    number = r"(\d+\.\d+)"
    match = re.fullmatch(
        rf"8 retrievals at once: aretrieve {number} ms, to_thread\(retrieve\) {number} ms, "
        rf"8 threads {number} ms, raw async query {number} ms",
        figures,
    )
    assert match, figures
    native, to_thread, threads, raw = map(float, match.groups())
    match = re.fullmatch(
        rf"ratio to_thread/async {number}x  threads/async {number}x  async/raw {number}x", ratios
    )
    assert match, ratios
    printed = list(map(float, match.groups()))
    assert printed == pytest.approx(
        [to_thread / native, threads / native, native / raw], abs=0.01 + 0.2 / min(native, raw)
    )
