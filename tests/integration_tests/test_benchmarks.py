"""Smoke tests: each benchmark script runs on a tiny budget and prints its ratio lines."""

from __future__ import annotations

import ast
import collections
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
    calls = {}
    for name in ["monte-carlo (default)", "n_step=2", "n_step=2, states stored"]:
        match = re.fullmatch(
            rf"{re.escape(name)}\s+(\d+\.\d) episodes/s  raw writes\s+(\d+\.\d)/s "
            r"\(learn/raw time (\d+\.\d)x\)  round trips per learn (\d+\.\d\d) (\{.*\})",
            lines[name],
        )
        assert match, lines[name]
        by_method = ast.literal_eval(match.group(5))
        assert float(match.group(4)) == pytest.approx(sum(by_method.values()), abs=0.02)
        calls[name] = by_method
    # Reads by id and writes only; a query only where an n-step target bootstraps from a state
    # not stored yet; never a scan (`count` or a metadata-filtered read would show here).
    assert set(calls["monte-carlo (default)"]) <= {"get", "add", "upsert", "update"}
    assert set(calls["n_step=2, states stored"]) <= {"get", "add", "upsert", "update"}
    assert calls["n_step=2"]["query"] > 0
    assert 5 <= sum(calls["monte-carlo (default)"].values()) <= 16


def test_async_retrieval_benchmark_smoke() -> None:
    out = _run(
        "async_retrieval.py",
        *("--concurrent", "8", "--states", "100", "--repeats", "2", "--workers", "4"),
        *("--ops", "retrieve", "learn"),
    )
    head, header, *rows, retrieve_ratios, learn_ratios = out.splitlines()
    assert re.fullmatch(
        r"run: async io concurrent=8 states=100 repeats=2 workers=4 steps=3 "
        r"ops=retrieve,learn cores=\d+ \(chroma run server, WordLlama, embeddings cached\)",
        head,
    ), head
    assert header.split() == [
        "op", "mode", "ops/s", "[min-max]", "p50", "ms", "[min-max]", "p95", "ms", "[min-max]"
    ]  # fmt: skip
    n = r"(\d+\.\d+) \[(\d+\.\d+)-(\d+\.\d+)\]"
    modes = [
        ("retrieve", r"async twin \(\d+ thr\)"),
        ("retrieve", r"threads \(4 thr\)"),
        ("retrieve", r"raw async query \(8\)"),
        ("learn", r"async twin \(\d+ thr\)"),
        ("learn", r"threads \(4 thr\)"),
    ]
    assert len(rows) == len(modes), rows
    for row, (op, mode) in zip(rows, modes, strict=True):
        match = re.fullmatch(rf"{op}\s+{mode}\s+{n}\s+{n}\s+{n}", row)
        assert match, row
        values = list(map(float, match.groups()))
        for median, low, high in zip(values[::3], values[1::3], values[2::3], strict=True):
            assert 0 < low <= median <= high, row
    r = r"(\d+\.\d+)x \[(\d+\.\d+)-(\d+\.\d+)\]"
    for line, op, others in [
        (retrieve_ratios, "retrieve", ["threads", "raw"]),
        (learn_ratios, "learn", ["threads"]),
    ]:
        pattern = "; ".join(rf"vs {other} ops/s {r} p95 {r}" for other in others)
        match = re.fullmatch(rf"ratio {op} async \(>1 = async better\): {pattern}", line)
        assert match, line
        values = list(map(float, match.groups()))
        for median, low, high in zip(values[::3], values[1::3], values[2::3], strict=True):
            assert low <= median <= high, line


def test_scale_benchmark_smoke() -> None:
    out = _run("scale.py", "--sizes", "2000", "--queries", "20", "--learn-episodes", "3")
    head, header, row, ratios, learn, target = out.splitlines()
    assert re.fullmatch(
        r"run: scale seed=0 queries=20 learn_episodes=3 cores=\d+ "
        r"\(ms, WordLlama, embedded Chroma; query embedding cached except \+embed\)",
        head,
    ), head
    assert header.split() == [
        "states", "embed", "s", "fill", "s", "retrieve", "p50/p95", "+embed", "p50/p95", "raw",
        "p50/p95", "numpy", "p50/p95", "InMemoryStore", "p50/p95", "learn", "p50/p95", "writes",
        "p50/p95", "learn", "ep/s", "disk", "MB", "peak", "RSS", "MB",
    ]  # fmt: skip
    assert target == (
        "target: retrieve p50 <= 1.3x raw at 100k and 1M (embedding excluded); <= 10 ms p50 at 1M; "
        "learn of a 15-step episode <= 3x its raw Chroma writes at 10k, 100k and 1M"
    )
    n, pair = r"\s+(\d+\.\d+)", r"\s+(\d+\.\d+)/(\d+\.\d+)"
    match = re.fullmatch(rf"    2000{n}{n}{pair * 7}{n}\s+(\d+)\s+(\d+)", row)
    assert match, row
    figures = list(map(float, match.groups()))
    names = ["retrieve", "embed", "raw", "numpy", "store", "learn", "writes"]
    p50 = dict(zip(names, figures[2:16:2], strict=True))
    assert all(low <= high for low, high in zip(figures[2:16:2], figures[3:16:2], strict=True))
    match = re.fullmatch(
        r"learn at 2000: learn/raw writes (\d+\.\d+)x \(median per episode\), "
        r"p50 (\d+\.\d+)x; Chroma calls per learn (.+)",
        learn,
    )
    assert match, learn
    ratio = float(match.group(2))
    assert ratio == pytest.approx(p50["learn"] / p50["writes"], abs=0.01 + 0.01 * ratio)
    methods = dict(part.split() for part in match.group(3).split(", "))
    assert set(methods) <= {"get", "add", "upsert", "update"}, methods  # by id, no scan
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


def test_hot_state_benchmark_smoke() -> None:
    out = _run("compaction.py", "--updates", "40", "--episodes", "2", "--block", "1")
    head, fill, learn, raw, state, target = out.splitlines()
    assert head == (
        "run: hot state updates=40 episodes=2 block=1 steps=15 "
        "(embedded Chroma, WordLlama, learn p50)"
    )
    number = r"(\d+\.\d+)"
    assert re.fullmatch(
        rf"hot state: 40 one-step learns in {number} s, timing began {number} s after the last",
        fill,
    ), fill
    match = re.fullmatch(
        rf"learn touching the hot state {number} ms, fresh states {number} ms "
        rf"\(ratio {number}x\); Chroma calls per learn (\d+) / (\d+)",
        learn,
    )
    assert match, learn
    hot, fresh, ratio = map(float, match.groups()[:3])
    assert ratio == pytest.approx(hot / fresh, abs=0.01 + 0.1 / fresh)
    match = re.fullmatch(
        rf"raw writes of the same learns: hot {number} ms, fresh {number} ms "
        rf"\(learn/raw {number}x hot, {number}x fresh\)",
        raw,
    )
    assert match, raw
    hot_raw, fresh_raw, hot_ratio, fresh_ratio = map(float, match.groups())
    assert hot_ratio == pytest.approx(hot / hot_raw, abs=0.01 + 0.1 / hot_raw)
    assert fresh_ratio == pytest.approx(fresh / fresh_raw, abs=0.01 + 0.1 / fresh_raw)
    # 40 fill updates, a warm-up and 2 timed episodes touch it; its row names the last learn's
    # slot by its intent (each learn folds the one before), never its history
    assert re.fullmatch(
        r"the hot state: 42 slots known, 0 pending and 1 named by an intent in its row, "
        rf"table \{{'take coin': \({number}, 43\)\}}",
        state,
    ), state
    assert target == (
        "target: learn touching a state with 2,000 updates in the last minute <= 1.5x fresh"
    )


def test_lift_calibration_benchmark_smoke() -> None:
    out = _run("lift_calibration.py", "--seeds", "5")
    lines = out.splitlines()
    assert lines[0] == "run: lift_calibration seeds=5 effect=+0.10"
    rows = [line for line in lines if re.match(r"\s+(continuous|binary)\s", line)]
    assert len(rows) == 4
    for row in rows:
        shares = [float(x) for x in re.findall(r"(\d+\.\d)%", row)]
        assert len(shares) == 3
        assert all(0.0 <= s <= 100.0 for s in shares)
    assert lines[-1].startswith("target: coverage 93-97%")


def test_learn_floors_benchmark_smoke() -> None:
    out = _run("learn.py", "--sizes", "200", "--episodes", "2", "--steps", "2")
    head, header, row, ratios, old, alone, learn_calls, m2_calls, legend, load, target = (
        out.splitlines()
    )
    x = r"(\d+\.\d+)x \(per episode (\d+\.\d+)x\)"
    assert re.fullmatch(
        r"run: learn floors seed=0 episodes=2 steps=2 cores=\d+ load=[\d./]+ "
        r"\(embedded Chroma, WordLlama cached\)",
        head,
    ), head
    assert header.split() == [
        "states", "learn", "ms", "M1", "ms", "M2", "ms", "replay", "ms", "(p50)"
    ]  # fmt: skip
    assert re.fullmatch(r"\s+200" + r"\s+(\d+\.\d)" * 4, row), row
    assert re.fullmatch(rf"ratio at 200: learn/M1 {x}  learn/M2 {x}", ratios), ratios
    match = re.fullmatch(
        rf"old ratio at 200: learn/replay {x} vs its own writes replayed \(cannot see extra "
        r"writes\); Chroma calls per learn (.+)",
        old,
    )
    assert match, old
    methods = dict(part.split() for part in match.group(3).split(", "))
    assert set(methods) <= {"get", "add", "upsert", "update"}, methods
    assert re.fullmatch(r"writes alone at 200: replay/M2 (\d+\.\d+)x \(the learn's .+\)", alone)
    made = {}
    for name, line in (("learn", learn_calls), ("M2", m2_calls)):
        match = re.fullmatch(
            rf"calls of {name} at 200 \(p50 ms, in order; 2 of 2 episodes\): (.+); "
            r"Chroma (\d+\.\d) of (\d+\.\d)",
            line,
        )
        assert match, line
        each = [part.rsplit(" ", 1) for part in match.group(1).split(", ")]
        assert abs(sum(float(ms) for _, ms in each) - float(match.group(2))) < 0.1 * len(each)
        made[name] = [call for call, _ in each]
    assert made["M2"] == ["log.add", "log.get", "states.get", "states.update"]
    # the calls the count line counted, by method (a lone writer makes one call sequence)
    counted = collections.Counter(call.split(".")[1] for call in made["learn"])
    assert {m: float(k) for m, k in counted.items()} == {m: float(k) for m, k in methods.items()}
    assert legend.startswith(
        "M1: get the episode's rows by id + update them in place (1 write); M2: M1 + add a run"
    )
    assert re.fullmatch(r"load after: [\d./]+", load), load
    assert target == "target: learn <= 1.5x M2 at 100k"


@pytest.mark.parametrize("server", [False, True], ids=["embedded", "server"])
def test_concurrent_learn_benchmark_smoke(server: bool) -> None:
    args = ["--states", "200", "--concurrent", "4", "--steps", "2", "--repeats", "2"]
    out = _run("concurrent_learn.py", *args, *(["--server"] if server else []))
    where = "chroma run server" if server else "embedded Chroma"
    head, alearn, m1, ratio, load, target = out.splitlines()
    assert re.fullmatch(
        r"run: concurrent learn concurrent=4 states=200 steps=2 repeats=2 cores=\d+ "
        rf"load=[\d./]+ \({where}, \d+ executor threads, WordLlama cached\)",
        head,
    ), head
    n = r"(\d+\.\d+)"
    for line, mode in [(alearn, "alearn "), (m1, "M1     ")]:
        assert re.fullmatch(rf"{mode}\s+{n} learns/s \(each repetition: {n}, {n}\)", line), line
    expected = rf"ratio alearn/M1 at 4 concurrent \({where}\): {n}x \[{n}-{n}\]"
    assert re.fullmatch(expected, ratio), ratio
    assert re.fullmatch(r"load after: [\d./]+", load), load
    assert target.startswith("target: 256 concurrent alearn on an embedded store >= 0.45x M1")
