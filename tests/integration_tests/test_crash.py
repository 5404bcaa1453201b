"""Kill a learning process with SIGKILL at random points: no reader ever sees part of a run.

A worker learns 60-step runs appended in six Chroma calls each; the test kills it between two
calls of a run (or a little later), then the next worker reports what every reader sees —
`is_learned`, an export, retrieval — and retries the interrupted run, which must complete it
exactly once. Embedded (a persistent path) and client/server (a real `chroma run`).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration_tests._crash_worker import STEPS

ROOT = Path(__file__).resolve().parents[2]
KILLS = 16


def _lines(process: subprocess.Popen) -> dict:
    line = process.stdout.readline()  # type: ignore[union-attr]
    if not line:
        pytest.fail(f"the worker ended early: {process.stderr.read()}")  # type: ignore[union-attr]
    return json.loads(line)


def _kill_loop(target: str, collection: str, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    figures = {"kills": 0, "partial_in_log": 0, "partial_seen": 0, "completed_on_retry": 0}
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
                assert after["partial_in_log"] == [], after
                assert after["complete_runs"] == first
                assert after["visits"] == STEPS * first  # each run folded exactly once
                figures["completed_on_retry"] += retry["retried"] > 0
            figures["partial_in_log"] += bool(seen[0]["partial_in_log"])
            for view in seen:
                bad = (
                    view["learned_but_incomplete"]
                    + view["complete_but_not_learned"]
                    + view["partial_exported"]
                )
                figures["partial_seen"] += bool(bad) or view["visits"] % STEPS != 0
            if figures["kills"] == KILLS:
                break
            # Let it start a new run, then kill it after a random number of its log `add`s.
            while "start" not in _lines(process):
                pass
            adds = rng.randint(1, STEPS // 10 - 1)
            while _lines(process).get("add", 0) < adds:
                pass
            if rng.random() < 0.5:
                time.sleep(rng.uniform(0, 0.02))  # a random kill point, not synchronisation
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            figures["kills"] += 1
            first += 1  # the interrupted run is retried by the next worker
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    return figures


def test_sigkill_never_leaves_a_visible_partial_run_embedded(tmp_path) -> None:
    figures = _kill_loop(str(tmp_path / "memory"), "crash", seed=0)
    print(f"embedded: {figures}")
    assert figures["kills"] == KILLS
    assert figures["partial_seen"] == 0
    assert figures["partial_in_log"] > 0  # the kills did land inside runs
    assert figures["completed_on_retry"] == figures["partial_in_log"]


def test_sigkill_never_leaves_a_visible_partial_run_server(chroma_server) -> None:
    target = f"http:{chroma_server.host}:{chroma_server.port}"
    figures = _kill_loop(target, "crash", seed=1)
    print(f"server: {figures}")
    assert figures["kills"] == KILLS
    assert figures["partial_seen"] == 0
    assert figures["partial_in_log"] > 0
    assert figures["completed_on_retry"] == figures["partial_in_log"]
