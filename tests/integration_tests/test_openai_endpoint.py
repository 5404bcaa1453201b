"""`rememberer bench --base-url`: a real `ChatOpenAI` client against an OpenAI-compatible server.

The server on 127.0.0.1 is the fake LLM (the only fake allowed): it reads the prompt the agent
sent over HTTP and answers with an `act` tool call, as a model would. Everything between it
and the game is real: langchain-openai, `create_agent`, `RemembererMiddleware`, Chroma, the JVM.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from langchain_rememberer.cli import app

Policy = Callable[[list[dict[str, Any]]], str | None]

_VALID = re.compile(r"^Valid actions: (.*)$", re.MULTILINE)
_ENCOURAGED = re.compile(r"<encouraged>(.*?)</encouraged>", re.DOTALL)
_COMMAND = re.compile(r"command=(?:\"|&quot;)(.+?)(?:\"|&quot;)\)")


def _text(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content)
    return content


def coin_player(messages: list[dict[str, Any]]) -> str | None:
    """Take the coin when possible, else an encouraged valid action, else the first move."""
    last = _text(messages[-1])
    if "The episode " in last and "(score " in last:
        return None
    found = _VALID.findall(last)
    valid = found[-1].split(" | ") if found else ["look around"]
    if "take coin" in valid:
        return "take coin"
    system = _text(messages[0]) if messages[0]["role"] == "system" else ""
    for block in reversed(_ENCOURAGED.findall(system)):
        for command in _COMMAND.findall(block):
            if command in valid:
                return command
    moves = [a for a in valid if a.startswith(("move", "open door"))]
    return (moves or valid)[len(messages) % len(moves or valid)]


def runaway(messages: list[dict[str, Any]]) -> str | None:
    """A model that never stops acting, even after the episode is over."""
    return "look around"


def refuse(messages: list[dict[str, Any]]) -> str | None:
    """Not a policy: the server answers 401, as with a wrong API key."""
    raise AssertionError


class _Handler(BaseHTTPRequestHandler):
    server: _FakeLLMServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        if self.server.policy is refuse:
            data = json.dumps({"error": {"message": "bad key", "type": "auth"}}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        command = self.server.policy(body["messages"])
        if command is None:
            message: dict[str, Any] = {"role": "assistant", "content": "Done."}
        else:
            call = {
                "id": f"call_{len(self.server.requests)}",
                "type": "function",
                "function": {"name": "act", "arguments": json.dumps({"command": command})},
            }
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
        payload = {
            "id": f"chatcmpl-{len(self.server.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "stop" if command is None else "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _FakeLLMServer(ThreadingHTTPServer):
    def __init__(self, policy: Policy) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.policy = policy
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def serve() -> Iterator[Callable[[Policy], _FakeLLMServer]]:
    servers: list[_FakeLLMServer] = []

    def start(policy: Policy) -> _FakeLLMServer:
        server = _FakeLLMServer(policy)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


BENCH = [
    "bench", "--env", "twx:coin", "--game-params", "numLocations=3,includeDoors=0",
    "--max-steps", "6", "--epochs", "2", "--train-seeds", "2", "--test-seeds", "2",
    "--model", "fake-llm", "--gamma", "0.9",
]  # fmt: skip


def test_bench_drives_an_openai_compatible_model(serve, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # local servers need no key
    server = serve(coin_player)
    out = tmp_path / "run"
    args = [*BENCH, "--methods", "no_memory,rememberer", "--base-url", server.url]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    assert set(data["methods"]) == {"no_memory", "rememberer"}
    assert data["methods"]["rememberer"]["epochs"][1]["eval"]["n"] == 2
    # What went over the wire is what a real model gets: the tool and the exemplar block.
    assert all(r["model"] == "fake-llm" for r in server.requests)
    assert {t["function"]["name"] for r in server.requests for t in r["tools"]} == {"act"}
    systems = [_text(r["messages"][0]) for r in server.requests]
    assert all(s.startswith("You play a text game.") for s in systems)
    # The block is the last message (the middleware's default placement), after the game.
    shown = [_text(r["messages"][-1]) for r in server.requests]
    shown = [s for s in shown if "<experience_memory>" in s]
    assert not any("<experience_memory>" in s for s in systems)
    assert shown, "the memory was never shown to the model"
    assert any('<encouraged>\n<action value="' in s and "act(command=" in s for s in shown)


def test_a_model_that_never_stops_does_not_stop_the_bench(
    serve, tmp_path: Path, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-fake")
    server = serve(runaway)
    out = tmp_path / "run"
    args = [*BENCH, "--methods", "no_memory", "--epochs", "1", "--base-url", server.url]
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    evaluated = data["methods"]["no_memory"]["epochs"][0]["eval"]
    assert evaluated["n"] == 2
    assert evaluated["success"] == 0.0
    assert "GraphRecursionError" in caplog.text


def test_a_model_that_never_answers_stops_the_bench_clearly(serve, tmp_path: Path) -> None:
    server = serve(refuse)
    out = tmp_path / "run"
    args = [*BENCH, "--methods", "no_memory", "--epochs", "1", "--base-url", server.url]
    result = CliRunner().invoke(app, [*args, "--api-key", "sk-wrong", "--out", str(out)])
    assert result.exit_code == 2
    assert "failed 3 runs in a row before taking any step" in result.output
    assert len(server.requests) == 3  # a 401 is not retried; three runs, then a clear stop
    assert not (out / "results.json").exists()
