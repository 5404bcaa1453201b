"""A real `chroma run` server on 127.0.0.1, started per test module and stopped after.

And a memory on it whose every call must go through Chroma's async client (the async tests).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings

from langchain_rememberer import RemembererMemory


@dataclass(frozen=True)
class ChromaServer:
    host: str
    port: int
    path: Path
    process: subprocess.Popen

    def client(self) -> chromadb.api.ClientAPI:
        return chromadb.HttpClient(
            host=self.host, port=self.port, settings=Settings(anonymized_telemetry=False)
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _chroma_executable() -> str:
    beside = Path(sys.executable).with_name("chroma")
    found = str(beside) if beside.exists() else shutil.which("chroma")
    if not found:
        pytest.fail("the `chroma` command (installed with chromadb) was not found")
    return found


def start_chroma_server(
    path: Path, timeout: float = 60.0, *, port: int | None = None, log_name: str = ""
) -> ChromaServer:
    """`chroma run` on `path` (and `port`, default a free one); fails the test if it cannot."""
    port = port or _free_port()
    log = (path.parent / (log_name or f"chroma-{port}.log")).open("wb")
    process = subprocess.Popen(
        [
            _chroma_executable(),
            "run",
            "--path",
            str(path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    server = ChromaServer("127.0.0.1", port, path, process)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"chroma run exited with {process.returncode}; see {log.name}")
        try:
            server.client().heartbeat()
            return server
        except Exception:
            if time.monotonic() > deadline:
                stop_chroma_server(server)
                pytest.fail(f"chroma run did not answer its heartbeat within {timeout}s")
            time.sleep(0.1)  # polling a condition with a deadline, not synchronising by sleep


def stop_chroma_server(server: ChromaServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=15)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory) -> Iterator[ChromaServer]:
    server = start_chroma_server(tmp_path_factory.mktemp("chroma-server") / "db")
    try:
        yield server
    finally:
        stop_chroma_server(server)


# -- a memory on the server whose every call must be async (the async tests) --------------


@pytest.fixture
def server_memory(chroma_server, embeddings) -> RemembererMemory:
    return RemembererMemory(
        client=chroma_server.client(),
        embeddings=embeddings,
        collection_name=f"async-{uuid.uuid4().hex[:8]}",
    )




