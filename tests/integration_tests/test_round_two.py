"""Regression tests of issue 26 (storage core, round 2), on real Chroma: each failed on the
code before the fix.

A. `forget_run` racing `learn` of the same run id; B. export after eviction.
"""

from __future__ import annotations

import json

import pytest

from langchain_rememberer import Episode, RemembererMemory, Step
from langchain_rememberer._evicted import evict_states
from langchain_rememberer.errors import InvalidInputError, StorageError
from tests.helpers import TASK, q_table, twin


def _run(run_id: str, action: str = "go east", reward: float = 1.0) -> Episode:
    return Episode(
        task=TASK,
        run_id=run_id,
        steps=[
            Step(observation="the hall", action=action),
            Step(observation="the vault", action="open it", reward=reward),
        ],
    )


def _forget_after_first_add(memory: RemembererMemory, other: RemembererMemory, run_id: str):
    """Make `other` forget `run_id` right after `memory`'s next log add (once): between a new
    run's first add (its run record, claims and tentative done) and its read-back."""
    store = memory.store
    original = store.add_log
    done: list[int] = []

    def racing(ns, records):
        original(ns, records)
        if not done:
            done.append(other.forget_run(run_id))

    store.add_log = racing  # type: ignore[method-assign]
    return lambda: setattr(store, "add_log", original)


def test_a_forget_racing_learn_of_the_same_run_never_wedges_it(make_memory, embeddings) -> None:
    memory = make_memory(max_states=None)
    other = twin(memory, embeddings)
    undo = _forget_after_first_add(memory, other, "r")
    # The forget wins: it deleted the run record while the learn was claiming its slots.
    with pytest.raises(StorageError, match="(deleted|forgotten) while it was being learned"):
        memory.learn(_run("r"))
    undo()
    assert not memory.is_learned("r")
    assert memory.stats().updates == 0  # every reader: nothing of r counts
    # Learning it again commits it (before the fix: already_learned=True, is_learned False).
    report = memory.learn(_run("r"))
    assert report.updates_written == 2
    assert not report.already_learned
    assert memory.is_learned("r")
    assert q_table(memory, TASK, "the hall") == {"go east": (1.0, 1)}
    # More than HELP_AFTER later runs on the same states: no RecursionError, counted once each.
    for n in range(10):
        memory.learn(_run(f"later-{n}"))
    memory.rebuild()
    memory.compact()
    assert q_table(memory, TASK, "the hall") == {"go east": (1.0, 11)}
    assert memory.stats().updates == 22


def test_a_forget_after_the_stale_attempt_then_relearn(make_memory, embeddings) -> None:
    memory = make_memory()
    other = twin(memory, embeddings)
    undo = _forget_after_first_add(memory, other, "r")
    with pytest.raises(StorageError):
        memory.learn(_run("r"))
    undo()
    assert other.forget_run("r") == 0  # nothing learned; clears what the attempt left
    assert memory.learn(_run("r")).updates_written == 2
    assert memory.forget_run("r") == 2
    assert memory.stats().updates == 0
    assert memory.learn(_run("r")).updates_written == 2
    assert memory.stats().updates == 2


def test_b_export_after_eviction_imports_again(make_memory, tmp_path) -> None:
    memory = make_memory()
    memory.learn(_run("old"))  # the hall (slot 0) and the vault (slot 0)
    ns = memory._open(None)
    (hall,) = memory.retrieve(TASK, "the hall", k=1)
    evict_states(memory.store, ns, [memory.store.get_rows(ns, [hall.id])[hall.id]])
    # The hall comes back numbering on from 1 (its marker: slot 0 was evicted); done:old still
    # names (hall, 0), which is gone.
    memory.learn(_run("new", action="go west"))
    out = tmp_path / "export.jsonl"
    written = memory.export_jsonl(out)
    lines = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert written == len(lines) == 3  # old: the vault only (its hall was evicted); new: both
    assert len({line["id"] for line in lines}) == 3
    assert sorted((line["run_id"], line["step"]) for line in lines) == [
        ("new", 0),
        ("new", 1),
        ("old", 1),
    ]
    fresh = make_memory()
    assert fresh.import_jsonl(out) == 3
    assert q_table(fresh, TASK, "the hall") == {"go west": (1.0, 1)}


def _export_of(tmp_path, lines: list[dict]) -> object:
    path = tmp_path / "in.jsonl"
    header = {"format": "langchain-rememberer/log", "version": 1, "task_weight": 0.5}
    path.write_text("\n".join(json.dumps(x) for x in [header, *lines]) + "\n")
    return path


def _line(n: int, **changes: object) -> dict:
    line = {
        "id": f"u{n}",
        "state_id": f"s{n}",
        "task": TASK,
        "observation": f"room {n}",
        "action": "look",
        "target": 1.0,
        "reward": 1.0,
        "run_id": f"run-{n}",
        "step": 0,
        "created_at": 0.0,
    }
    return {**line, **changes}


def test_c_import_keeps_the_capacity(make_memory, tmp_path) -> None:
    memory = make_memory(max_states=100)
    path = _export_of(tmp_path, [_line(n) for n in range(300)])
    assert memory.import_jsonl(path) == 300
    assert memory.stats().states <= 100


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"observation": "x" * 300_000}, "300,000 characters, more than the 100,000"),
        ({"step": 1.7}, "step must be a whole number of at least 0, got 1.7"),
        ({"step": -1}, "step must be a whole number"),
        ({"step": True}, "step must be a whole number"),
        ({"steps": "3"}, "steps must be a whole number"),
    ],
)
def test_c_import_refuses_what_learn_refuses(make_memory, tmp_path, changes, words) -> None:
    memory = make_memory()
    path = _export_of(tmp_path, [_line(0), _line(1, **changes)])
    with pytest.raises(InvalidInputError, match=rf"line 3: .*{words}.*nothing was imported"):
        memory.import_jsonl(path)
    assert memory.stats().updates == 0


def test_d_names_do_not_alias(make_memory) -> None:
    with pytest.raises(InvalidInputError, match=r"collection_name 'rememberer\.acme' may not"):
        make_memory(collection_name="rememberer.acme", namespace="bob")
    acme = make_memory(collection_name="tenants", namespace="acme.bob")
    bob = make_memory(collection_name="tenants", namespace="bob")
    acme.learn(_run("r"))
    assert bob.stats().updates == 0
    assert acme.stats().updates == 2


class _Broken:
    pass


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"embeddings": "x"}, "embeddings must be a LangChain Embeddings"),
        ({"client": object()}, "client must be a Chroma client"),
        ({"rlem": {"gama": 0.5}}, "gama"),
        ({"rlem": 0.5}, "rlem must be a RLEMConfig"),
        ({"retrieval": {"discourage_threshold": float("nan")}}, "discourage_threshold"),
        ({"prompt": "Lessons: {lessons}"}, r"prompt must have an \{exemplars\} field"),
        ({"prompt": "{exemplars} {oops}"}, "cannot be rendered"),
        ({"exemplar_template": "{task} {nope}"}, "cannot be rendered"),
        ({"exemplar_template": "{task"}, "cannot be rendered"),
        ({"observation_key": "first line"}, "observation_key must be a function"),
    ],
)
def test_e_bad_construction_is_a_clear_error(make_memory, kwargs, words) -> None:
    with pytest.raises(InvalidInputError, match=words):
        make_memory(**kwargs)


def test_e_a_settings_dict_is_accepted(make_memory) -> None:
    memory = make_memory(rlem={"gamma": 0.9}, retrieval={"k": 3})
    assert memory.rlem.gamma == 0.9
    assert memory.retrieval.k == 3


@pytest.mark.parametrize(
    ("recent", "words"),
    [
        ([None], "recent_actions must hold strings only, got NoneType"),
        ("go east", "got the string 'go east'"),
        (3, "recent_actions must be a list of strings"),
    ],
)
def test_e_bad_recent_actions(make_memory, recent, words) -> None:
    memory = make_memory(action_history=2)
    with pytest.raises(InvalidInputError, match=words):
        memory.retrieve(TASK, "the hall", recent_actions=recent)


@pytest.mark.parametrize(
    ("key", "words"),
    [
        (lambda o: 3, "observation_key must return a str, returned int 3"),
        (lambda o: 1 / 0, "observation_key raised ZeroDivisionError"),
    ],
)
def test_e_bad_observation_key(make_memory, key, words) -> None:
    memory = make_memory(observation_key=key)
    with pytest.raises(InvalidInputError, match=words):
        memory.retrieve(TASK, "the hall")
    with pytest.raises(InvalidInputError, match=words):
        memory.learn(_run("r"))
    assert memory.stats().updates == 0


def test_e_bad_run_ids_and_paths(make_memory) -> None:
    memory = make_memory()
    memory.learn(_run("None"))
    with pytest.raises(InvalidInputError, match="run_id must be a str"):
        memory.forget_run(None)
    assert memory.is_learned("None")  # not forgotten by a None
    with pytest.raises(InvalidInputError, match="path must be a file path"):
        memory.export_jsonl(None)
    with pytest.raises(InvalidInputError, match="path must be a file path"):
        memory.import_jsonl(3)


def test_g_updates_carry_the_time_their_run_was_learned(make_memory, tmp_path) -> None:
    import time

    memory = make_memory()
    before = time.time()
    memory.learn(_run("r"))
    after = time.time()
    out = tmp_path / "export.jsonl"
    memory.export_jsonl(out)
    times = [json.loads(line)["created_at"] for line in out.read_text().splitlines()[1:]]
    assert len(times) == 2
    assert all(before <= t <= after for t in times)
    fresh = make_memory()
    fresh.import_jsonl(out)
    again = tmp_path / "again.jsonl"
    fresh.export_jsonl(again)
    assert [json.loads(line)["created_at"] for line in again.read_text().splitlines()[1:]] == times


def _counting(memory: RemembererMemory) -> list[str]:
    """Record every call on the namespace's collections."""
    ns = memory._open(None)
    calls: list[str] = []
    for kind in ("states", "log", "pending"):
        collection = getattr(ns, kind)
        for method in ("get", "add", "upsert", "update", "query", "delete"):
            original = getattr(collection, method)

            def counted(*args, _o=original, _n=f"{kind}.{method}", **kwargs):
                calls.append(_n)
                return _o(*args, **kwargs)

            setattr(collection, method, counted)
    return calls


def _long(run_id: str, states: int) -> Episode:
    return Episode(
        task=TASK,
        run_id=run_id,
        steps=[Step(observation=f"room {t}", action="go on", reward=1.0) for t in range(states)],
    )


def test_forget_and_rebuild_refold_in_batches(make_memory) -> None:
    memory = make_memory()
    for n in range(3):
        memory.learn(_long(f"r{n}", 15))
    calls = _counting(memory)
    assert memory.forget_run("r1") == 15
    assert len(calls) <= 12, calls  # was ~70: two reads per refolded row
    memory.learn(_long("big", 120))
    calls.clear()
    assert memory.rebuild() == 120
    assert len(calls) <= 12, calls  # one batch for up to 500 rows, not 2 calls a row (240)
    assert q_table(memory, TASK, "room 3") == {"go on": (pytest.approx((12 + 12 + 117) / 3), 3)}
