"""A run is applied whole or not at all, and a run id names one episode (real Chroma)."""

from __future__ import annotations

import pytest

from langchain_rememberer import Episode, InvalidInputError, Step
from langchain_rememberer._records import episode_records, stable_id

TASK = "Walk the corridor."


def _long(run_id: str, steps: int, reward: float = 1.0) -> Episode:
    return Episode(
        task=TASK,
        run_id=run_id,
        steps=[
            Step(observation=f"room {t % 7}", action=f"go {t % 3}", reward=reward)
            for t in range(steps)
        ],
    )


def _visits(memory) -> int:
    return sum(a.visits for s in memory.retrieve(TASK, "room 0", k=50) for a in s.actions)


def _append_first_chunk(memory, episode: Episode) -> None:
    """What a process killed after its first `add` of a sealed run leaves in the log."""
    ns = memory.store.run(memory._open(None))
    keys = [memory.state_key(s.observation) for s in episode.steps]
    ids = [stable_id(TASK, k) for k in keys]
    targets = [1.0] * len(keys)
    records = episode_records(episode, TASK, keys, ids, targets, created_at=1.0, sealed=True)
    memory.store.run(memory.store.append_log(ns, records[: memory.store.batch_size]))


def test_a_long_run_is_sealed_and_seen_only_once_complete(make_memory, tmp_path) -> None:
    memory = make_memory()
    memory.store.batch_size = 10
    episode = _long("long", 25)
    _append_first_chunk(memory, episode)
    assert memory.stats().updates == 10  # in the log, but not part of any reader's view:
    assert not memory.is_learned("long")
    assert memory.rebuild() == 0
    assert _visits(memory) == 0
    assert memory.export_jsonl(tmp_path / "x.jsonl") == 0
    report = memory.learn(episode)  # learning it again completes it, exactly once
    assert report.updates_written == 15
    assert memory.is_learned("long")
    assert _visits(memory) == 25
    assert memory.learn(episode).already_learned
    assert memory.rebuild() == 7
    assert _visits(memory) == 25
    assert memory.export_jsonl(tmp_path / "y.jsonl") == 25


def test_a_sealed_run_imports_whole(make_memory, tmp_path) -> None:
    source = make_memory()
    source.store.batch_size = 10
    source.learn(_long("long", 25))
    source.learn(_long("short", 3))
    source.export_jsonl(tmp_path / "export.jsonl")
    target = make_memory()
    target.store.batch_size = 4
    assert target.import_jsonl(tmp_path / "export.jsonl") == 28
    assert target.is_learned("long")
    assert target.is_learned("short")
    assert _visits(target) == 28


def test_a_run_id_names_one_episode(make_memory) -> None:
    memory = make_memory()
    memory.learn(_long("r1", 3))
    with pytest.raises(InvalidInputError, match=r"run 'r1' was already learned with a different"):
        memory.learn(_long("r1", 5))
    with pytest.raises(InvalidInputError, match="different episode"):
        memory.learn(_long("r1", 3, reward=0.5))
    assert memory.stats().updates == 3  # nothing of either was written
    assert memory.learn(_long("r1", 3)).already_learned  # the same episode: a no-op
    memory.forget_run("r1")
    assert memory.learn(_long("r1", 5)).updates_written == 5  # forgotten, the id is free again


def test_records_written_before_fingerprints_are_taken_on_trust(make_memory) -> None:
    memory = make_memory()
    ns = memory.store.run(memory._open(None))
    episode = _long("old", 2)
    keys = [memory.state_key(s.observation) for s in episode.steps]
    records = episode_records(
        episode, TASK, keys, [stable_id(TASK, k) for k in keys], [1.0, 1.0], created_at=1.0
    )
    legacy = [r.__class__(**{**r.__dict__, "fingerprint": "", "steps": 0}) for r in records]
    memory.store.run(memory.store.append_log(ns, legacy))
    memory.rebuild()
    assert memory.is_learned("old")
    assert memory.learn(_long("old", 4)).updates_written == 2  # as before: steps 2 and 3
