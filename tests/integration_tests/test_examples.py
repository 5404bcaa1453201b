"""Every script in examples/ runs offline as a real subprocess and prints what it promises."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COVERED: set[str] = set()


def covers(name: str):
    """Mark a test as the one that runs examples/`name`."""
    COVERED.add(name)
    return lambda test: test


def run_example(name: str, cwd: Path, *args: str, timeout: float = 300) -> str:
    """`python examples/<name> args...` offline in `cwd`; fails unless it exits 0; its stdout."""
    env = {key: value for key, value in os.environ.items() if key != "OPENAI_API_KEY"}
    env["ANONYMIZED_TELEMETRY"] = "False"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stderr}"
    return done.stdout


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_has_a_test(script: str) -> None:
    assert script in COVERED, f"examples/{script} has no test in {Path(__file__).name}"


@covers("quickstart.py")
def test_quickstart(tmp_path: Path) -> None:
    out = run_example("quickstart.py", tmp_path)
    assert '<encouraged>\n<action value="0.50" tried="1">go east</action>\n</encouraged>' in out
    assert '<discouraged>\n<action value="-0.50" tried="1">go west</action>\n</discouraged>' in out
    assert "states=3 updates=4 pending=0" in out
    assert list(tmp_path.iterdir()) == []  # the default memory lives in a temporary directory


@covers("quickstart.py")
def test_quickstart_into_a_given_path(tmp_path: Path) -> None:
    run_example("quickstart.py", tmp_path, str(tmp_path / "memory"))
    assert (tmp_path / "memory").is_dir()


@covers("create_agent_memory.py")
def test_create_agent_memory(tmp_path: Path) -> None:
    out = run_example("create_agent_memory.py", tmp_path)
    first, second = out.split("What run 2's model saw")
    assert "Run 1" in first
    assert "Run 2" in first
    assert "<experience_memory>" not in first
    assert (
        '<discouraged>\n<action value="-1.00" tried="1">refund(order_id="42")</action>'
        "\n</discouraged>"
    ) in second
    assert "states=3 updates=4 pending=0" in second
    assert list(tmp_path.iterdir()) == []


@covers("langgraph_handler.py")
def test_langgraph_handler(tmp_path: Path) -> None:
    out = run_example("langgraph_handler.py", tmp_path)
    assert "action='track(order_id=\"42\")', reward=1.0" in out  # the episode, from the graph
    assert "states_added=2 updates_written=2 targets=[1.0, 0.0] already_learned=False" in out
    assert 'Learned: track(order_id="42") -> Q=1.00 after 1 visit(s)' in out


@covers("lcel_chain.py")
def test_lcel_chain(tmp_path: Path) -> None:
    out = run_example("lcel_chain.py", tmp_path)
    assert "Run 1: 'I have refunded order 42.' -> learned targets [-1.0]" in out
    assert "-> learned targets [1.0]" in out.split("Run 2:")[1]
    second_prompt = out.split("The system prompt of run 2:")[1]
    assert (
        '<discouraged>\n<action value="-1.00" tried="1">final_answer</action> <best_answer '
        'return="-1.00">I have refunded order 42.</best_answer>\n</discouraged>'
    ) in second_prompt


@covers("feedback_endpoint.py")
def test_feedback_endpoint(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = run_example("feedback_endpoint.py", tmp_path, "--port", str(port))
    assert f"Feedback endpoint: http://127.0.0.1:{port}/feedback" in out
    pending, learned = out.split("POST /feedback -> ")
    assert "Pending runs: ['" in pending  # saved pending until the feedback arrives
    assert learned.startswith("200: ")
    assert "'updates_written': 2, 'targets': [0.5, 1.0], 'already_learned': False" in learned
    assert "POST /feedback again -> 409: " in learned
    assert "Pending runs: []" in learned
    assert "states=2 updates=2 pending=0" in learned


def visits(out: str) -> list[int]:
    return [int(n) for n in re.findall(r"^go (?:east|west): visits=(\d+) ", out, re.MULTILINE)]


@covers("many_workers.py")
def test_many_workers_on_their_own_server(tmp_path: Path) -> None:
    out = run_example("many_workers.py", tmp_path, "--workers", "3", "--episodes", "2")
    assert out.count(" learned 2 episodes") == 3
    assert sum(visits(out)) == 3 * 2
    assert "Visits in the kitchen: 6 = 3 workers x 2 episodes" in out
    assert "states=3 updates=12 pending=0" in out  # two steps per episode
    (port,) = re.findall(r"Started chroma run on 127\.0\.0\.1:(\d+)", out)
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", int(port)))  # the script stopped its server
    assert list(tmp_path.iterdir()) == []


@covers("many_workers.py")
def test_many_workers_on_a_given_server(tmp_path: Path, chroma_server) -> None:
    out = run_example(
        "many_workers.py", tmp_path, "--host", chroma_server.host, "--port", str(chroma_server.port)
    )
    assert "Started chroma run" not in out
    assert sum(visits(out)) == 3 * 4  # the defaults
    assert "Visits in the kitchen: 12 = 3 workers x 4 episodes" in out
    names = [getattr(c, "name", c) for c in chroma_server.client().list_collections()]
    assert not [name for name in names if "many-workers" in name]  # its namespace is deleted
