"""Many worker processes learning into one Chroma server, with no update lost.

Each worker (multiprocessing, 'spawn') opens `RemembererMemory(client=chromadb.HttpClient(...))`
on the same server and namespace and learns its own episodes, all starting in the same kitchen.
The parent then reads the kitchen's action table: its visit counts sum to exactly
workers x episodes.

Run: python examples/many_workers.py [--host HOST --port PORT] [--workers 3] [--episodes 4]
Offline. Without --host/--port it starts its own server (`chroma run` on a temporary
directory, on a free port of 127.0.0.1) and stops it at the end. On a server of yours it
learns into a fresh namespace and deletes that namespace at the end.
"""

import argparse
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import chromadb
from chromadb.config import Settings

from langchain_rememberer import Episode, RemembererMemory, Step

TASK = "Find the coin and take it."
KITCHEN = "You are in the kitchen. Exits: east, west."


def connect(host: str, port: int, namespace: str) -> RemembererMemory:
    # The same as RemembererMemory.from_server(host, port, namespace=namespace).
    client = chromadb.HttpClient(
        host=host, port=port, settings=Settings(anonymized_telemetry=False)
    )
    return RemembererMemory(client=client, namespace=namespace)


def worker(host: str, port: int, namespace: str, number: int, episodes: int) -> None:
    """One process: learn `episodes` episodes, each from the kitchen, east or west."""
    memory = connect(host, port, namespace)
    for e in range(episodes):
        east = (number + e) % 2 == 0
        memory.learn(
            Episode(
                task=TASK,
                run_id=f"worker{number}-episode{e}",  # unique: a repeated run id is a no-op
                steps=[
                    Step(observation=KITCHEN, action="go east" if east else "go west"),
                    Step(
                        observation="You are in the pantry. You see a coin."
                        if east
                        else "You are in the garden. Nothing here.",
                        action="take coin" if east else "give up",
                        reward=1.0 if east else -1.0,
                    ),
                ],
            )
        )
    print(f"worker {number} (pid {os.getpid()}) learned {episodes} episodes", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ready(host: str, port: int) -> bool:
    try:
        settings = Settings(anonymized_telemetry=False)
        chromadb.HttpClient(host=host, port=port, settings=settings).heartbeat()
        return True
    except Exception:
        return False


@contextmanager
def chroma_server(timeout: float = 60.0):
    """`chroma run` on a temporary directory and a free port; yields (host, port)."""
    chroma = Path(sys.executable).with_name("chroma")
    command = str(chroma) if chroma.exists() else shutil.which("chroma")
    with tempfile.TemporaryDirectory() as scratch:
        host, port = "127.0.0.1", free_port()
        with (Path(scratch) / "chroma.log").open("wb") as log:
            server = subprocess.Popen(
                [command, "run", "--path", f"{scratch}/db", "--host", host, "--port", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
            )
            try:
                deadline = time.monotonic() + timeout
                while not ready(host, port):  # poll the heartbeat until the server answers
                    if server.poll() is not None:
                        raise SystemExit(f"chroma run exited with {server.returncode}")
                    if time.monotonic() > deadline:
                        raise SystemExit(f"chroma run not ready after {timeout}s")
                    time.sleep(0.1)  # between polls
                print(f"Started chroma run on {host}:{port}", flush=True)
                yield host, port
            finally:
                server.terminate()
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


def learn_in_parallel(host: str, port: int, workers: int, episodes: int) -> int:
    """Run the workers; print the kitchen's visit counts; return their sum."""
    namespace = f"many-workers-{uuid.uuid4().hex[:8]}"
    spawn = multiprocessing.get_context("spawn")
    processes = [
        spawn.Process(target=worker, args=(host, port, namespace, number, episodes))
        for number in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    if any(process.exitcode != 0 for process in processes):
        raise SystemExit(f"a worker failed: {[process.exitcode for process in processes]}")

    memory = connect(host, port, namespace)
    try:
        (kitchen,) = memory.retrieve(TASK, KITCHEN, k=1)
        for action in kitchen.actions:
            print(f"{action.action}: visits={action.visits} Q={action.q:.2f}")
        print(f"Visits in the kitchen: {kitchen.visits} = {workers} workers x {episodes} episodes")
        print(memory.stats())
        return kitchen.visits
    finally:
        memory.clear()  # the namespace was only for this example


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="a running Chroma server (default: start one)")
    parser.add_argument("--port", type=int, help="its port")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=4, help="episodes per worker")
    args = parser.parse_args()
    if args.host or args.port:
        learn_in_parallel(args.host or "127.0.0.1", args.port or 8000, args.workers, args.episodes)
    else:
        with chroma_server() as (host, port):
            learn_in_parallel(host, port, args.workers, args.episodes)


if __name__ == "__main__":
    main()
