"""Subprocess worker for the spool tests, on a `chroma run` server.

- `crash <port> <collection> <spool>`: claim the oldest spooled episode, learn it, then die
  (`os._exit`) before deleting its file: a crash between learn and delete.
- `replay <port> <collection> <spool> <ready> <go>`: signal ready, wait for the go file, replay
  the shared spool and print the `ReplayReport` as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from langchain_rememberer import RemembererMemory
from langchain_rememberer.config import SpoolConfig


def memory_for(port: str, collection: str, spool: str) -> RemembererMemory:
    return RemembererMemory.from_server(
        "127.0.0.1", int(port), collection_name=collection, spool=SpoolConfig(directory=spool)
    )


def crash(memory: RemembererMemory) -> None:
    spool = memory.spool
    oldest = spool._queued()[0]
    claimed = spool._claim(oldest)
    assert claimed is not None
    entry = spool._read(claimed)
    assert entry is not None
    _kind, namespace, episode = entry
    report = memory.learn(episode, namespace=namespace)
    print(json.dumps({"run_id": episode.run_id, "updates": report.updates_written}), flush=True)
    os._exit(17)  # dies with the file still claimed: learned, not deleted


def replay(memory: RemembererMemory, ready: Path, go: Path) -> None:
    ready.write_text("ready")
    deadline = time.monotonic() + 120
    while not go.exists():  # polling a condition with a deadline: both start together
        if time.monotonic() > deadline:
            sys.exit("no go")
        time.sleep(0.005)
    print(json.dumps(dataclasses.asdict(memory.spool.replay())), flush=True)


if __name__ == "__main__":
    command, port, collection, spool_dir = sys.argv[1:5]
    memory = memory_for(port, collection, spool_dir)
    if command == "crash":
        crash(memory)
    else:
        replay(memory, Path(sys.argv[5]), Path(sys.argv[6]))
