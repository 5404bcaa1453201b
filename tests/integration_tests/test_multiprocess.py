"""Persistence across processes, and concurrent writers on a real `chroma run` server."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings

from langchain_rememberer import RemembererMemory
from langchain_rememberer.rlem import fold_table


def _logged(memory: RemembererMemory, ns, state_id: str) -> list:
    """The learned updates in a state's log, in fold (slot) order: (run id, `Update`)."""
    slots, _status = memory.ledger.counted(ns, memory.store.get_rows(ns, [state_id])[state_id])
    return [(s.run_id, u) for s in slots for u in s.updates]


WORKER = Path(__file__).with_name("_worker.py")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, str(WORKER), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


def test_persistent_path_reopens_in_a_new_process(tmp_path, embeddings) -> None:
    path = str(tmp_path / "memory")
    _run("learn", path, "persist", "0", "6", "3")
    tables = json.loads(_run("dump", path, "persist").stdout)
    assert sum(n for table in tables.values() for _q, n in table.values()) == 18
    # And this process sees the same values.
    memory = RemembererMemory(path=path, collection_name="persist", embeddings=embeddings)
    states = memory.retrieve("Find the coin.", "kitchen with a stove", k=50)
    assert {s.observation: {a.action: [a.q, a.visits] for a in s.actions} for s in states} == tables


def test_four_processes_learning_concurrently_stay_exact(chroma_server, embeddings) -> None:
    target = f"http:{chroma_server.host}:{chroma_server.port}"
    workers = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, str(WORKER), "learn", target, "shared", str(w), "25", "3"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    for worker in workers:
        _out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
    memory = RemembererMemory.from_server(
        chroma_server.host, chroma_server.port, collection_name="shared", embeddings=embeddings
    )
    stats = memory.stats()
    assert stats.updates == 4 * 25 * 3
    states = memory.retrieve("Find the coin.", "kitchen with a stove", k=50)
    assert len(states) == stats.states == 4
    assert sum(s.visits for s in states) == 4 * 25 * 3
    # Every stored table equals the fold of its log: no update was lost to a race.
    ns = memory._open(None)
    for state in states:
        log = _logged(memory, ns, state.id)
        folded = fold_table((u.action, u.target, u.reward) for _r, u in log)
        assert {a.action: (a.q, a.visits) for a in state.actions} == {
            a: (s.q, s.visits) for a, s in folded.items()
        }


def test_unreachable_server_is_a_clear_storage_error(embeddings) -> None:
    import socket

    import pytest

    from langchain_rememberer import StorageError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    with pytest.raises(StorageError, match=f"127.0.0.1:{port}"):
        RemembererMemory.from_server("127.0.0.1", port, embeddings=embeddings)


@pytest.mark.parametrize("where", ["embedded", "server"])
def test_chroma_keeps_the_first_add_and_merges_metadata_on_update(where, request) -> None:
    """The Chroma semantics the storage protocol and `tests/sim_store.py` rely on, pinned.

    `add` of an existing id keeps the first record; `update` and `upsert` of an existing id
    keep the metadata keys they are not given, and a key given as None is deleted.
    """
    if where == "server":
        client = request.getfixturevalue("chroma_server").client()
    else:
        client = chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))
    name = f"semantics-{uuid.uuid4().hex[:8]}"
    records = client.create_collection(name, embedding_function=None)
    try:
        records.add(ids=["a"], embeddings=[[1.0, 0.0]], metadatas=[{"row": "x", "i:r": "p"}])
        records.add(ids=["a", "b"], embeddings=[[0.0, 1.0]] * 2, metadatas=[{"row": "y"}] * 2)
        assert records.get(ids=["a"])["metadatas"] == [{"row": "x", "i:r": "p"}]
        assert records.get(ids=["b"])["metadatas"] == [{"row": "y"}]
        records.update(ids=["a"], metadatas=[{"row": "u"}])
        assert records.get(ids=["a"])["metadatas"] == [{"row": "u", "i:r": "p"}]
        records.upsert(ids=["a"], embeddings=[[1.0, 0.0]], metadatas=[{"row": "v"}])
        assert records.get(ids=["a"])["metadatas"] == [{"row": "v", "i:r": "p"}]
        records.update(ids=["a"], metadatas=[{"i:r": None}])
        assert records.get(ids=["a"])["metadatas"] == [{"row": "v"}]
    finally:
        client.delete_collection(name)
