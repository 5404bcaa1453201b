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
    lines = {line.split("  ")[0]: line for line in out.splitlines()}
    # Monte Carlo: read, append, write, verify; n-step the same once its states are stored
    assert "round trips per learn 4.00" in lines["monte-carlo (default)"]
    assert "round trips per learn 4.00" in lines["n_step=2, states stored"]
    assert "'query'" not in lines["n_step=2, states stored"]


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


def test_scale_benchmark_smoke() -> None:
    out = _run("scale.py", "--sizes", "2000", "--queries", "20", "--learn-episodes", "3")
    head, header, row, ratios, target = out.splitlines()
    assert re.fullmatch(
        r"run: scale seed=0 queries=20 learn_episodes=3 cores=\d+ "
        r"\(ms, WordLlama, embedded Chroma; query embedding cached except \+embed\)",
        head,
    ), head
    assert header.split() == [
        "states", "embed", "s", "fill", "s", "retrieve", "p50/p95", "+embed", "p50/p95", "raw",
        "p50/p95", "numpy", "p50/p95", "InMemoryStore", "p50/p95", "learn", "ep/s", "disk", "MB",
        "peak", "RSS", "MB",
    ]  # fmt: skip
    assert target == (
        "target: retrieve p50 <= 1.3x raw at 100k and 1M (embedding excluded); <= 10 ms p50 at 1M"
    )
    n, pair = r"\s+(\d+\.\d+)", r"\s+(\d+\.\d+)/(\d+\.\d+)"
    match = re.fullmatch(rf"    2000{n}{n}{pair * 5}{n}\s+(\d+)\s+(\d+)", row)
    assert match, row
    figures = list(map(float, match.groups()))
    p50 = dict(zip(["retrieve", "embed", "raw", "numpy", "store"], figures[2:12:2], strict=True))
    assert all(low <= high for low, high in zip(figures[2:12:2], figures[3:12:2], strict=True))
    x = r"(\d+\.\d+)"
    match = re.fullmatch(
        rf"ratio p50 at 2000: retrieve/raw {x}x  \+embed/raw {x}x  numpy/raw {x}x  "
        rf"InMemoryStore/raw {x}x \(InMemoryStore over 20 queries, filled in {x} s; "
        r"Chroma top-2 = exact top-2 for (\d+)% of queries\)",
        ratios,
    )
    assert match, ratios
    raw = p50["raw"]
    printed_ratios = match.groups()[:4]
    for name, printed in zip(["retrieve", "embed", "numpy", "store"], printed_ratios, strict=True):
        # Each ratio is its p50 over the raw query's, up to the rounding of the printed values.
        ratio = float(printed)
        assert ratio == pytest.approx(p50[name] / raw, abs=0.01 + 0.01 * (1 + ratio) / raw)


def test_scale_benchmark_keeps_a_filled_memory_and_times_it_again(tmp_path: Path) -> None:
    kept = tmp_path / "memory"
    args = ["--queries", "10", "--learn-episodes", "2"]
    _run("scale.py", "--sizes", "2000", *args, "--keep", str(kept))
    assert (kept / "chroma.sqlite3").is_file()  # left behind, unlike the default temp dir
    out = _run("scale.py", "--sizes", "2000", "--queries", "10", "--reopen", str(kept))
    number = r"(\d+\.\d+)"
    match = re.fullmatch(
        rf"reopened {re.escape(str(kept))} \(2000 states\): p50 retrieve {number} ms, "
        rf"\+embed {number} ms, raw {number} ms; retrieve/raw {number}x, \+embed/raw {number}x; "
        r"disk (\d+) MB, peak RSS (\d+) MB",
        out.strip(),
    )
    assert match, out
    retrieve, embed, raw, ratio, embed_ratio = map(float, match.groups()[:5])
    assert ratio == pytest.approx(retrieve / raw, abs=0.01 + 0.01 * (1 + ratio) / raw)
    assert embed_ratio == pytest.approx(embed / raw, abs=0.01 + 0.01 * (1 + embed_ratio) / raw)
    wrong = subprocess.run(
        [sys.executable, str(BENCH / "scale.py"), "--sizes", "600", "--reopen", str(kept)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert wrong.returncode != 0
    assert f"{kept} holds 2000 states, not --sizes 600" in wrong.stderr


def test_compaction_benchmark_smoke() -> None:
    out = _run("compaction.py", "--updates", "300", "--episodes", "3")
    head, before, after, raw, target = out.splitlines()
    assert head == "run: compaction updates=300 episodes=3 (embedded Chroma, WordLlama, learn p50)"
    number = r"(\d+\.\d+)"
    match = re.fullmatch(
        rf"before compact: touching the hot state {number} ms, fresh states {number} ms "
        rf"\(ratio {number}x\)",
        before,
    )
    assert match, before
    hot, cold, ratio = map(float, match.groups())
    assert ratio == pytest.approx(hot / cold, abs=0.01 + 0.1 / cold)
    match = re.fullmatch(
        rf"compact: (\d+) updates in {number} s; after: touching the hot state {number} ms, "
        rf"fresh states {number} ms \(ratio {number}x\)",
        after,
    )
    assert match, after
    assert int(match.group(1)) >= 300  # the hot state's updates at least
    hot, cold, ratio = map(float, match.groups()[2:])
    assert ratio == pytest.approx(hot / cold, abs=0.01 + 0.1 / cold)
    assert raw.startswith("raw add of 15 records")
    assert target.startswith("target: touching a state with 10k updates within 2x")
