"""Learning and retrieval under load: many processes writing the same few states of one server.

    python benchmarks/load.py --processes 8 --episodes 50 --steps 10

Starts its own `chroma run` on a free 127.0.0.1 port (in a temporary directory) and stops it.
`--processes` writer processes each learn `--episodes` episodes of `--steps` steps, all on the
same `--states` states (every learn contends with the others), while one more process calls
`retrieve` in a loop. Then the same processes do the raw baseline on the same server: one
`collection.add` of the same records per episode, and the raw `collection.query` that
`retrieve` makes, on the memory's states collection. Printed: episodes/s and the p95 retrieve
latency under load, each with its ratio to the raw baseline, and the exactness check (visit
counts sum to processes x episodes x steps, every table equals the fold of its log).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

TASK = "Find the coin."
ROOMS = [
    "You are in the kitchen. There is a stove and a door to the east.",
    "You are in the pantry. Shelves line the walls; a coin glints on one.",
    "You are in the hallway. A rug, a coat rack, exits north and south.",
    "You are in the garden. Roses, a bench and a gate to the west.",
    "You are in the cellar. It is dark and smells of apples.",
    "You are in the attic. Dusty boxes and a small round window.",
    "You are in the library. Books everywhere and a reading lamp.",
    "You are in the garage. A bicycle, a workbench and a toolbox.",
]
ACTIONS = ["go north", "go south", "take coin"]
K = 2  # retrieve's default k


# -- the workload (shared by the benchmark, its workers and the tests) -------------------------


def episode_steps(
    worker: int, episode: int, steps: int, states: int
) -> list[tuple[str, str, float]]:
    """(observation, action, reward) of one episode: every worker walks the same `states`."""
    return [
        (
            ROOMS[(worker + episode + t) % states],
            ACTIONS[(worker * 7 + episode + t) % len(ACTIONS)],
            float((worker + episode + t) % 3 == 0),
        )
        for t in range(steps)
    ]


def run_id(collection: str, worker: int, episode: int) -> str:
    return f"{collection}-w{worker}-e{episode}"


# -- worker processes ------------------------------------------------------------------------


def _memory(host: str, port: int, collection: str, embeddings: Any = None) -> Any:
    from langchain_rememberer import RemembererMemory, WordLlamaEmbeddings  # noqa: PLC0415

    return RemembererMemory.from_server(
        host, port, collection_name=collection, embeddings=embeddings or WordLlamaEmbeddings()
    )


def _wait_for_go() -> None:
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("no go")


def _until_stopped() -> threading.Event:
    """An event set when the parent writes the next line (or closes stdin)."""
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    return stop


def _worker(
    role: str,
    host: str,
    port: int,
    collection: str,
    worker: int,
    episodes: int,
    steps: int,
    states: int,
) -> None:
    from langchain_rememberer import Episode, Step  # noqa: PLC0415

    memory = _memory(host, port, collection)
    ns = memory._open(None)
    memory.encoder.state_vectors(ns.task_weight, [(TASK, ROOMS[0])])  # warm the embeddings
    result: dict[str, Any] = {"role": role, "worker": worker}
    if role in ("learn", "raw-add"):
        data = [episode_steps(worker, e, steps, states) for e in range(episodes)]
        raw = memory.store.client.get_or_create_collection(
            f"{collection}-raw", embedding_function=None
        )
        _wait_for_go()
        result["start"] = time.monotonic()
        for e, rows in enumerate(data):
            rid = run_id(collection, worker, e)
            if role == "learn":
                memory.learn(
                    Episode(
                        task=TASK,
                        run_id=rid,
                        steps=[Step(observation=o, action=a, reward=r) for o, a, r in rows],
                    )
                )
            else:
                raw.add(
                    ids=[f"{rid}-{t}" for t in range(steps)],
                    embeddings=[[1.0]] * steps,
                    metadatas=[
                        {"state_id": o[:32], "action": a, "reward": r, "run_id": rid, "step": t}
                        for t, (o, a, r) in enumerate(rows)
                    ],
                    documents=[o for o, _a, _r in rows],
                )
        result["end"] = time.monotonic()
    else:  # "retrieve" or "raw-query": in a loop until told to stop
        from _common import CachedEmbeddings  # noqa: PLC0415

        cached = CachedEmbeddings(memory.embeddings)
        memory = _memory(
            host, port, collection, cached
        )  # query embeddings excluded, as retrieval.py
        ns = memory._open(None)
        vectors = memory.encoder.query_vectors(
            ns.task_weight, [(TASK, room) for room in ROOMS[:states]], 0.5
        )
        from chromadb.errors import ChromaError  # noqa: PLC0415

        from langchain_rememberer import StorageError  # noqa: PLC0415

        latencies: list[float] = []
        errors: list[str] = []
        _wait_for_go()
        stop = _until_stopped()
        i = 0
        while not stop.is_set():
            started = time.perf_counter()
            try:
                if role == "retrieve":
                    memory.retrieve(TASK, ROOMS[i % states], k=K)
                else:
                    ns.states.query(
                        query_embeddings=[vectors[i % states]],
                        n_results=K + 1,
                        include=["metadatas", "documents", "distances"],
                    )
            except (StorageError, ChromaError) as e:
                # A fresh collection queried while others write can fail on the server with
                # "Error creating hnsw segment reader: Nothing found on disk" (chroma-core/chroma
                # #4212): counted and reported, not timed.
                errors.append(str(e))
            else:
                latencies.append((time.perf_counter() - started) * 1000)
            i += 1
        result["latencies_ms"] = latencies
        result["errors"] = errors
    print(json.dumps(result), flush=True)


def _spawn(
    role: str,
    host: str,
    port: int,
    collection: str,
    worker: int,
    episodes: int,
    steps: int,
    states: int,
    logs: Path,
) -> tuple[subprocess.Popen, Path]:
    err = logs / f"{role}-{worker}.err"
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "_worker",
            role,
            host,
            str(port),
            collection,
            str(worker),
            str(episodes),
            str(steps),
            str(states),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=err.open("w"),
        text=True,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    return process, err


def _line(process: subprocess.Popen, err: Path) -> str:
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=60)
        raise RuntimeError(
            f"a load worker exited with {process.returncode}: {err.read_text()[-2000:]}"
        )
    return line


def phase(
    mode: str,
    host: str,
    port: int,
    collection: str,
    processes: int,
    episodes: int,
    steps: int,
    states: int,
) -> dict[str, Any]:
    """Writers (learn, or raw add) and one reader (retrieve, or raw query) at once.

    Returns episodes/s over the writers' wall time (first start to last end) and the reader's
    latencies while they wrote.
    """
    writer, reader = ("learn", "retrieve") if mode == "memory" else ("raw-add", "raw-query")
    with tempfile.TemporaryDirectory(prefix="rememberer-load-logs-") as tmp:
        writers = [
            _spawn(writer, host, port, collection, w, episodes, steps, states, Path(tmp))
            for w in range(processes)
        ]
        query = _spawn(
            reader, host, port, collection, processes, episodes, steps, states, Path(tmp)
        )
        everyone = [*writers, query]
        try:
            for process, err in everyone:  # every process has loaded and warmed up
                assert _line(process, err).strip() == "ready"
            for process, _err in everyone:
                process.stdin.write("go\n")
                process.stdin.flush()
            results = [json.loads(_line(process, err)) for process, err in writers]
            query[0].stdin.write("stop\n")
            query[0].stdin.flush()
            reads = json.loads(_line(*query))
            for process, err in everyone:
                if process.wait(timeout=60) != 0:
                    raise RuntimeError(
                        f"a load worker exited with {process.returncode}: {err.read_text()[-2000:]}"
                    )
        finally:
            for process, _err in everyone:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {
        "eps": processes * episodes / wall,
        "wall_s": wall,
        "latencies_ms": reads["latencies_ms"],
        "errors": reads["errors"],
    }


def p95(values: list[float]) -> float:
    """The nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def exactness(host: str, port: int, collection: str) -> dict[str, Any]:
    """Updates, visits, states, and the states whose stored table is not the fold of its log."""
    from langchain_rememberer.rlem import fold_table  # noqa: PLC0415

    memory = _memory(host, port, collection)
    stats = memory.stats()
    retrieved = memory.retrieve(TASK, ROOMS[0], k=100)
    ns = memory._open(None)
    wrong = []
    for state in retrieved:
        # The state's log: its slots, in order; the valid ones count (DESIGN §6).
        row = memory.store.get_rows(ns, [state.id])[state.id]
        slots, _status = memory.ledger.counted(ns, row)
        log = [u for s in slots for u in s.updates]
        folded = {
            a: (s.q, s.visits)
            for a, s in fold_table((u.action, u.target, u.reward) for u in log).items()
        }
        if {a.action: (a.q, a.visits) for a in state.actions} != folded:
            wrong.append(state.observation)
    return {
        "updates": stats.updates,
        "states": stats.states,
        "retrieved": len(retrieved),
        "visits": sum(s.visits for s in retrieved),
        "not_folded": wrong,
    }


def run(
    host: str,
    port: int,
    processes: int,
    episodes: int,
    steps: int,
    states: int,
    collection: str = "load",
) -> dict[str, Any]:
    memory = phase("memory", host, port, collection, processes, episodes, steps, states)
    check = exactness(host, port, collection)
    raw = phase("raw", host, port, collection, processes, episodes, steps, states)
    return {"memory": memory, "raw": raw, "check": check}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=50, help="per process")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument(
        "--states",
        type=int,
        default=4,
        choices=range(1, len(ROOMS) + 1),
        metavar=f"1..{len(ROOMS)}",
    )
    args = parser.parse_args()
    total = args.processes * args.episodes * args.steps
    print(
        f"run: load processes={args.processes} episodes={args.episodes} steps={args.steps} "
        f"states={args.states} (chroma run server, WordLlama, +1 retrieving process)"
    )
    from _common import chroma_server  # noqa: PLC0415 - beside this script, not a package

    with chroma_server() as (host, port):
        r = run(host, port, args.processes, args.episodes, args.steps, args.states)
    mem, raw, check = r["memory"], r["raw"], r["check"]
    ours, base = p95(mem["latencies_ms"]), p95(raw["latencies_ms"])
    print(
        f"learn under load     {mem['eps']:7.1f} episodes/s  raw add {raw['eps']:7.1f}/s "
        f"(ratio {raw['eps'] / mem['eps']:.1f}x)"
    )
    print(
        f"retrieve under load  p95 {ours:7.2f} ms  raw query p95 {base:7.2f} ms "
        f"(ratio {ours / base:.1f}x)  queries {len(mem['latencies_ms'])} / {len(raw['latencies_ms'])}"  # noqa: E501
        f"  failed {len(mem['errors'])} / {len(raw['errors'])}"
    )
    for name, errors in (("retrieve", mem["errors"]), ("raw query", raw["errors"])):
        for message in sorted(set(errors)):
            print(f"  {name} failed {errors.count(message)}x: {message[:160]}")
    exact = (
        check["updates"] == check["visits"] == total
        and check["states"] == check["retrieved"] == args.states
        and not check["not_folded"]
    )
    print(
        f"exact: {'yes' if exact else 'NO'}  visits {check['visits']} of {total}, updates "
        f"{check['updates']}, states {check['states']}, tables not equal to their log's fold "
        f"{len(check['not_folded'])}"
    )
    if not exact:
        raise SystemExit(1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["_worker"]:
        role, host, port, collection, worker, episodes, steps, states = sys.argv[2:10]
        _worker(
            role, host, int(port), collection, int(worker), int(episodes), int(steps), int(states)
        )
    else:
        main()
