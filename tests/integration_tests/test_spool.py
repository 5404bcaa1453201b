"""Server restarts lose nothing: runs the storage could not take wait in the spool, then learn.

A real `chroma run` server is stopped and restarted on the same path and port in the middle of a
stream of real `create_agent` runs; only the chat model is scripted. Run with `pytest -s` to see
the figures.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage

from langchain_rememberer import (
    Episode,
    RemembererMemory,
    RemembererMiddleware,
    RLEMCallbackHandler,
    Step,
)
from langchain_rememberer._spool import default_spool_directory
from langchain_rememberer.config import SpoolConfig

from .conftest import ChromaServer, start_chroma_server, stop_chroma_server
from .test_middleware import TOOLS, call, scripted

WORKER = Path(__file__).with_name("_spool_worker.py")


def restart_chroma_server(old: ChromaServer, timeout: float = 60.0) -> ChromaServer:
    """`chroma run` again on the stopped server's path and port (retried while it is busy)."""
    deadline = time.monotonic() + timeout
    for attempt in itertools.count(1):
        try:
            return start_chroma_server(
                old.path,
                timeout=max(deadline - time.monotonic(), 1.0),
                port=old.port,
                log_name=f"chroma-{old.port}-restart{attempt}.log",
            )
        except pytest.fail.Exception:
            if time.monotonic() > deadline:  # the port stayed busy, or it never answered
                raise
    raise AssertionError("unreachable")


def run_model(i: int, calls: int):
    """Run i: `calls` add() calls, then the answer; its episode has calls + 1 steps."""
    turns = [AIMessage("", tool_calls=[call("add", f"c{i}-{j}", a=i, b=j)]) for j in range(calls)]
    return scripted(*turns, AIMessage(str(i)))


def log_counts(memory: RemembererMemory, path: Path) -> Counter:
    """Updates per run id in the memory's log (its export: complete runs only)."""
    memory.export_jsonl(path)
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    records = [json.loads(line) for line in lines]
    assert len({r["id"] for r in records}) == len(records)  # no record twice
    return Counter(r["run_id"] for r in records)


def figures(expected: dict[str, int], counts: Counter) -> tuple[int, int]:
    lost = sum(1 for run in expected if run not in counts)
    doubled = sum(1 for run, n in expected.items() if counts.get(run, 0) > n)
    wrong = {run: (counts.get(run), n) for run, n in expected.items() if counts.get(run) != n}
    assert set(counts) <= set(expected), set(counts) - set(expected)
    assert wrong == {} or lost or doubled, wrong
    return lost, doubled


def test_a_server_restart_during_a_stream_of_agent_runs_loses_nothing(
    tmp_path, embeddings, caplog
) -> None:
    server = start_chroma_server(tmp_path / "db")
    spool = SpoolConfig(directory=tmp_path / "spool")
    memory = RemembererMemory.from_server(
        server.host, server.port, embeddings=embeddings, collection_name="stream", spool=spool
    )
    middleware = RemembererMiddleware(memory)
    expected: dict[str, int] = {}  # run id -> updates it must have in the log
    kept_at_restart = 0
    try:
        with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
            for i in range(30):
                if i == 10:
                    stop_chroma_server(server)  # killed mid-stream
                if i == 20:
                    kept_at_restart = len(memory.spool)
                    server = restart_chroma_server(server)
                calls = 1 + i % 3
                agent = create_agent(run_model(i, calls), TOOLS, middleware=[middleware])
                result = agent.invoke({"messages": [("user", f"What is {i} plus 0?")]})
                assert result["messages"][-1].content == str(i)  # the host run never raised
                expected[result["rememberer_run_id"]] = calls + 1
        counts = log_counts(memory, tmp_path / "log.jsonl")
        total_updates = memory.stats().updates
    finally:
        stop_chroma_server(server)
    lost, doubled = figures(expected, counts)
    print(
        f"\nserver restart, middleware: runs={len(expected)} kept={memory.spool.kept} "
        f"waiting at restart={kept_at_restart} learned after restart={memory.spool.replayed} "
        f"lost={lost} doubled={doubled} spool left={len(memory.spool)}"
    )
    assert len(expected) == 30
    assert kept_at_restart == memory.spool.kept == 10  # runs 10..19, the outage
    assert memory.spool.replayed == 10
    assert lost == doubled == 0
    assert counts == Counter(expected)  # every run id exactly once, with all its updates
    assert total_updates == sum(expected.values())
    assert len(memory.spool) == 0
    kept_warnings = [
        r.getMessage() for r in caplog.records if "kept in the spool" in r.getMessage()
    ]
    assert len(kept_warnings) == 10


def test_handler_runs_on_a_restarted_server_lose_nothing(tmp_path, embeddings) -> None:
    server = start_chroma_server(tmp_path / "db")
    memory = RemembererMemory.from_server(
        server.host,
        server.port,
        embeddings=embeddings,
        collection_name="handler",
        spool=SpoolConfig(directory=tmp_path / "spool"),
    )
    handler = RLEMCallbackHandler(memory)
    expected: dict[str, int] = {}
    try:
        for i in range(12):
            if i == 4:
                stop_chroma_server(server)
            if i == 8:
                server = restart_chroma_server(server)
            agent = create_agent(run_model(i, 1), TOOLS)  # no middleware: the handler learns
            result = agent.invoke(
                {"messages": [("user", f"What is {i} plus 0?")]}, config={"callbacks": [handler]}
            )
            assert result["messages"][-1].content == str(i)
            expected[handler.last_run_id] = 2
        counts = log_counts(memory, tmp_path / "log.jsonl")
    finally:
        stop_chroma_server(server)
    lost, doubled = figures(expected, counts)
    print(
        f"\nserver restart, handler: runs={len(expected)} kept={memory.spool.kept} "
        f"learned after restart={memory.spool.replayed} lost={lost} doubled={doubled}"
    )
    assert (memory.spool.kept, memory.spool.replayed, lost, doubled) == (4, 4, 0, 0)
    assert counts == Counter(expected)


def _episode(i: int) -> Episode:
    steps = [Step(observation=f"room {i}", action="go east"), Step(observation="hall", action="x")]
    return Episode(task=f"task {i}", run_id=f"run-{i}", steps=steps)


def _worker(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_crash_between_learn_and_delete_is_replayed_once(tmp_path, embeddings) -> None:
    server = start_chroma_server(tmp_path / "db")
    spool_dir = tmp_path / "spool"
    try:
        memory = RemembererMemory.from_server(
            server.host,
            server.port,
            embeddings=embeddings,
            collection_name="crash",
            spool=SpoolConfig(directory=spool_dir),
        )
        for i in range(3):
            assert memory.spool.keep("learn", _episode(i))
        # A real process claims the oldest, learns it, and dies before deleting its file.
        crashed = _worker("crash", str(server.port), "crash", str(spool_dir))
        out, err = crashed.communicate(timeout=300)
        assert crashed.returncode == 17, err
        assert json.loads(out) == {"run_id": "run-0", "updates": 2}
        assert [p.name.split(".")[2] for p in spool_dir.iterdir() if ".claimed." in p.name] == [
            "claimed"
        ]
        assert len(memory.spool) == 3  # the claimed file is still there
        report = memory.spool.replay()
        counts = log_counts(memory, tmp_path / "log.jsonl")
    finally:
        stop_chroma_server(server)
    print(
        f"\ncrash between learn and delete: replayed learned={report.learned} "
        f"already learned={report.already_learned} log={dict(counts)}"
    )
    assert (report.learned, report.already_learned, report.waiting) == (2, 1, 0)
    assert counts == Counter({"run-0": 2, "run-1": 2, "run-2": 2})
    assert list(spool_dir.iterdir()) == []


def test_two_processes_replaying_one_spool_learn_each_episode_once(tmp_path, embeddings) -> None:
    server = start_chroma_server(tmp_path / "db")
    spool_dir = tmp_path / "spool"
    n = 24
    try:
        memory = RemembererMemory.from_server(
            server.host,
            server.port,
            embeddings=embeddings,
            collection_name="shared",
            spool=SpoolConfig(directory=spool_dir),
        )
        for i in range(n):
            assert memory.spool.keep("learn", _episode(i))
        go = tmp_path / "go"
        ready = [tmp_path / f"ready{w}" for w in range(2)]
        workers = [
            _worker("replay", str(server.port), "shared", str(spool_dir), str(r), str(go))
            for r in ready
        ]
        deadline = time.monotonic() + 300
        while not all(r.exists() for r in ready):  # polling a condition with a deadline
            assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        go.write_text("go")
        reports = []
        for w in workers:
            out, err = w.communicate(timeout=300)
            assert w.returncode == 0, err
            reports.append(json.loads(out))
        counts = log_counts(memory, tmp_path / "log.jsonl")
    finally:
        stop_chroma_server(server)
    learned = [r["learned"] for r in reports]
    print(
        f"\ntwo processes, one spool of {n}: learned per process={learned}, "
        f"already learned={[r['already_learned'] for r in reports]}"
    )
    assert sum(learned) == n
    assert sum(r["already_learned"] for r in reports) == 0  # a claim is taken by one only
    assert counts == Counter({f"run-{i}": 2 for i in range(n)})
    assert list(spool_dir.iterdir()) == []


def test_the_spool_is_bounded_dropping_the_oldest_with_a_warning(
    tmp_path, embeddings, caplog
) -> None:
    server = start_chroma_server(tmp_path / "db")
    memory = RemembererMemory.from_server(
        server.host,
        server.port,
        embeddings=embeddings,
        collection_name="bounded",
        spool=SpoolConfig(directory=tmp_path / "spool", max_episodes=3),
    )
    if sys.platform == "linux":  # a server memory's default spool is in the user cache
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        where = cache / "langchain-rememberer" / "spool" / f"127.0.0.1-{server.port}" / "c"
        assert default_spool_directory(memory.store.client, "c") == where
    stop_chroma_server(server)
    runs = []
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        for i in range(5):
            agent = create_agent(run_model(i, 1), TOOLS, middleware=[RemembererMiddleware(memory)])
            result = agent.invoke({"messages": [("user", f"What is {i} plus 0?")]})
            assert result["messages"][-1].content == str(i)
            runs.append(result["rememberer_run_id"])
    full = [r.getMessage() for r in caplog.records if "is full" in r.getMessage()]
    print(
        f"\nbound max_episodes=3: runs=5 kept={memory.spool.kept} waiting={len(memory.spool)} "
        f"dropped={memory.spool.dropped}"
    )
    assert memory.spool.run_ids() == runs[2:]  # the newest three, oldest first
    assert memory.spool.dropped == 2
    assert len(full) == 2
    assert runs[0] in full[0]
    assert runs[1] in full[1]
    assert "max_episodes=3" in full[0]

    server = restart_chroma_server(server)
    try:
        report = memory.spool.replay()
        counts = log_counts(memory, tmp_path / "log.jsonl")
    finally:
        stop_chroma_server(server)
    assert (report.learned, report.waiting, report.storage_down) == (3, 0, False)
    assert counts == Counter(dict.fromkeys(runs[2:], 2))


def test_a_pending_run_spooled_while_down_is_saved_pending_after(tmp_path, embeddings) -> None:
    server = start_chroma_server(tmp_path / "db")
    memory = RemembererMemory.from_server(
        server.host,
        server.port,
        embeddings=embeddings,
        collection_name="pending",
        spool=SpoolConfig(directory=tmp_path / "spool"),
    )
    middleware = RemembererMiddleware(memory, scorer=lambda episode: None)  # waits for feedback
    stop_chroma_server(server)
    agent = create_agent(run_model(1, 1), TOOLS, middleware=[middleware])
    run = agent.invoke({"messages": [("user", "What is 1 plus 0?")]})["rememberer_run_id"]
    assert memory.spool.run_ids() == [run]
    server = restart_chroma_server(server)
    try:
        report = memory.spool.replay()
        assert report.saved_pending == 1
        assert memory.pending_runs() == [run]
        assert memory.learn_pending(run, 1.0).updates_written == 2
    finally:
        stop_chroma_server(server)
