"""A property test over random interleavings of learn, forget, compact, rebuild and import, any
of them killed after a random number of its writes (a process dying there), on real Chroma.

After each sequence every reader tells the same story (DESIGN §6): the runs `is_learned`
says, and only those, are exported whole, counted by `stats()`, and folded into each state's
table exactly as an independent fold of their updates gives it. Retrying a killed learn
completes it exactly once; running a killed `forget_run` again completes it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_rememberer import Episode, RemembererMemory, RLEMConfig, Step

TASK = "Walk the maze."
ROOMS = ["kitchen", "pantry", "hallway", "garden"]
RUNS = 6


class Killed(BaseException):
    """The process died here (not an `Exception`: nothing may catch it and go on)."""


def _episode(n: int) -> Episode:
    return Episode(
        task=TASK,
        run_id=f"run-{n}",
        steps=[
            Step(observation=ROOMS[(n + t) % len(ROOMS)], action=f"door {(n * t) % 3}")
            for t in range(3)
        ]
        + [Step(observation=ROOMS[n % 2], action="take coin", reward=float(n % 3) - 1.0)],
    )


def _expected(runs: list[int]) -> dict[str, dict[str, tuple[float, int]]]:
    """γ = 1, Monte Carlo, α = 1/N: every target is the final reward; Q is their mean."""
    targets: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for n in runs:
        episode = _episode(n)
        for step in episode.steps:
            targets[step.observation][step.action].append(episode.steps[-1].reward)
    return {
        room: {a: (pytest.approx(sum(g) / len(g)), len(g)) for a, g in actions.items()}
        for room, actions in targets.items()
    }


def _kill_after(memory: RemembererMemory, writes: int | None) -> None:
    """Make the store's writes raise `Killed` after `writes` of them (None: never)."""
    store = memory.store
    for name in ("add_log", "write_rows", "delete_log", "delete_rows"):
        original = getattr(type(store), name)

        def write(*args: object, _original: object = original, **kwargs: object) -> None:
            if writes is not None:
                if store.writes_left <= 0:  # type: ignore[attr-defined]
                    raise Killed
                store.writes_left -= 1  # type: ignore[attr-defined]
            _original(store, *args, **kwargs)  # type: ignore[operator]

        setattr(store, name, write)
    store.writes_left = writes  # type: ignore[attr-defined]


OPERATION = st.one_of(
    st.tuples(st.just("learn"), st.integers(0, RUNS - 1), st.none() | st.integers(0, 12)),
    st.tuples(st.just("forget"), st.integers(0, RUNS - 1), st.none() | st.integers(0, 6)),
    st.tuples(st.just("compact"), st.just(0), st.none() | st.integers(0, 4)),
    st.tuples(st.just("rebuild"), st.just(0), st.none() | st.integers(0, 4)),
    st.tuples(st.just("import"), st.integers(0, RUNS - 1), st.none() | st.integers(0, 8)),
)


def _run(memory: RemembererMemory, operation: tuple, tmp: Path) -> None:
    kind, n, writes = operation
    _kill_after(memory, writes)
    try:
        if kind == "learn":
            memory.learn(_episode(n))
        elif kind == "forget":
            memory.forget_run(f"run-{n}")
        elif kind == "compact":
            memory.compact()
        elif kind == "rebuild":
            memory.rebuild()
        else:  # import run n from another memory's export
            memory.import_jsonl(tmp / f"run-{n}.jsonl")
    except Killed:
        pass
    finally:
        _kill_after(memory, None)


@pytest.fixture(scope="module")
def exports(tmp_path_factory, embeddings) -> Path:
    """One export file per run, learned in a memory of its own."""
    tmp = tmp_path_factory.mktemp("exports")
    for n in range(RUNS):
        source = RemembererMemory(path=None, embeddings=embeddings, rlem=RLEMConfig(gamma=1.0))
        source.learn(_episode(n))
        source.export_jsonl(tmp / f"run-{n}.jsonl")
    return tmp


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(OPERATION, min_size=1, max_size=10))
def test_every_interleaving_with_kills_leaves_readers_agreeing(
    operations, embeddings, exports, tmp_path
) -> None:
    memory = RemembererMemory(
        path=None,
        embeddings=embeddings,
        rlem=RLEMConfig(gamma=1.0),
        collection_name=f"p{uuid.uuid4().hex[:12]}",
    )
    for operation in operations:
        _run(memory, operation, exports)
    for kind, n, writes in operations:  # a killed forget is completed by running it again
        if kind == "forget" and writes is not None:
            memory.forget_run(f"run-{n}")
    _check(memory, tmp_path)
    killed = {n for kind, n, writes in operations if kind == "learn" and writes is not None}
    learned = {n for n in range(RUNS) if memory.is_learned(f"run-{n}")}
    for n in sorted(killed - learned):  # a killed learn, retried, counts exactly once
        assert memory.learn(_episode(n)).updates_written == 4
    _check(memory, tmp_path)


def _check(memory: RemembererMemory, tmp: Path) -> None:
    learned = [n for n in range(RUNS) if memory.is_learned(f"run-{n}")]
    path = tmp / "check.jsonl"
    memory.export_jsonl(path)
    exported = path.read_text(encoding="utf-8").splitlines()[1:]
    runs = sorted({int(line.split('"run_id": "run-')[1].split('"')[0]) for line in exported})
    assert runs == learned
    assert len(exported) == memory.stats().updates == 4 * len(learned)
    expected = _expected(learned)
    for room in ROOMS:
        got = [s for s in memory.retrieve(TASK, room, k=4) if s.observation == room]
        table = {a.action: (a.q, a.visits) for s in got for a in s.actions}
        assert table == expected.get(room, {}), room
