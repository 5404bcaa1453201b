"""Kill a learning process with SIGKILL at random points: every reader tells the same story.

A worker learns 60-step runs, each written in many Chroma calls; the test kills it after a
random number of writes of a run, then the next worker reports what every reader sees —
`is_learned`, an export, retrieval, `stats()` — and retries the interrupted run, which must
complete it exactly once. Embedded (a persistent path) and client/server (a real `chroma run`).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration_tests._crash_worker import STEPS

ROOT = Path(__file__).resolve().parents[2]
KILLS = 12


def _lines(process: subprocess.Popen) -> dict:
    line = process.stdout.readline()  # type: ignore[union-attr]
    if not line:
        pytest.fail(f"the worker ended early: {process.stderr.read()}")  # type: ignore[union-attr]
    return json.loads(line)


def _agree(view: dict, started: int) -> bool:
    """Every reader tells the same story: the learned runs, and only those, whole."""
    learned = view["learned"]
    return (
        view["exported"] == learned
        and view["partial_exported"] == []
        and view["retrieved_visits"] == STEPS * len(learned)
        and view["stats_updates"] == STEPS * len(learned)
        and set(learned) <= set(range(started))
    )


def _kill_loop(target: str, collection: str, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    figures = {"kills": 0, "not_learned_at_kill": 0, "disagreed": 0, "completed_on_retry": 0}
    first = 0
    for _ in range(KILLS + 1):
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration_tests._crash_worker", target, collection,
             str(first)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )  # fmt: skip
        try:
            seen = [_lines(process)["check"]]  # what the last kill left
            if first:
                retry = _lines(process)
                after = retry["check"]  # after retrying the interrupted run
                seen.append(after)
                assert after["learned"] == list(range(first)), after  # each run exactly once
                figures["completed_on_retry"] += retry["retried"] > 0
                figures["not_learned_at_kill"] += (first - 1) not in seen[0]["learned"]
            figures["disagreed"] += sum(not _agree(view, first) for view in seen)
            if figures["kills"] == KILLS:
                break
            # Let it start a new run, then kill it after a random number of its writes.
            while "start" not in _lines(process):
                pass
            line = _lines(process)
            while "write" not in line:
                line = _lines(process)
            writes, last = line["write"] + rng.randint(0, 24), first
            while (line := _lines(process)).get("write", 0) < writes:
                last = line.get("start", last)  # the kill may land in a later run
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            figures["kills"] += 1
            first = last + 1  # the interrupted run (`last`) is retried by the next worker
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    return figures


def test_sigkill_never_leaves_readers_disagreeing_embedded(tmp_path) -> None:
    figures = _kill_loop(str(tmp_path / "memory"), "crash", seed=0)
    print(f"embedded: {figures}")
    assert figures["kills"] == KILLS
    assert figures["disagreed"] == 0
    assert figures["not_learned_at_kill"] > 0  # the kills did land inside runs
    assert figures["completed_on_retry"] == figures["not_learned_at_kill"]


def test_sigkill_never_leaves_readers_disagreeing_server(chroma_server) -> None:
    target = f"http:{chroma_server.host}:{chroma_server.port}"
    figures = _kill_loop(target, "crash", seed=1)
    print(f"server: {figures}")
    assert figures["kills"] == KILLS
    assert figures["disagreed"] == 0
    assert figures["not_learned_at_kill"] > 0
    assert figures["completed_on_retry"] == figures["not_learned_at_kill"]
