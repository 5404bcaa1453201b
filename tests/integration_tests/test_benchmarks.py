"""Smoke tests: each benchmark script runs on a tiny budget and prints its ratio lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _run(script: str, *args: str) -> str:
    done = subprocess.run(  # noqa: S603
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
    assert "     300" in out
    assert out.count("x") >= 2


def test_learn_benchmark_smoke() -> None:
    out = _run("learn.py", "--episodes", "5", "--steps", "4")
    assert "round trips per learn 4.00" in out  # Monte Carlo: append, read, write, verify
