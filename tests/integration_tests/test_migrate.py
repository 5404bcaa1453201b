"""`migrate`: namespaces written by 0.1 (storage schema 1) upgraded in place, on real Chroma.

The schema-1 namespace is written raw, record by record, as the 0.1 code (commit 27a2a63's
`_store.py`, `_records.py`, `_snapshots.py`) wrote it: per-update log records (sealed runs with
their length), compaction snapshots beside archived updates, folded state tables, pending
episodes. No old code is imported. Expected tables are an independent fold of the old updates.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from langchain_rememberer import (
    EmbeddingDimensionError,
    Episode,
    InvalidInputError,
    RemembererMemory,
    RetrievalConfig,
    Step,
    StorageError,
)
from langchain_rememberer import _migrate as migration
from langchain_rememberer._records import stable_id
from langchain_rememberer.cli import build_app
from langchain_rememberer.config import SpoolConfig
from langchain_rememberer.rlem import fold_table

TASK = "Find the coin and take it."
OTHER = "Water the plants."
WEIGHT = 0.6


class Schema1:
    """Writes a namespace exactly as 0.1 did: its three collections and their records."""

    def __init__(self, memory: RemembererMemory, namespace: str = "default") -> None:
        self.memory = memory
        client, base = memory.store.client, f"{memory.store.collection_name}.{namespace}"
        dim = 2 * memory.encoder.dimension()
        self.states = client.create_collection(
            f"{base}.states",
            embedding_function=None,
            metadata={
                "hnsw:space": "ip",
                "rememberer_schema": 1,
                "rememberer_dim": dim,
                "rememberer_task_weight": WEIGHT,
            },
        )
        self.log = client.create_collection(f"{base}.log", embedding_function=None)
        self.pending = client.create_collection(f"{base}.pending", embedding_function=None)
        self.updates: list[dict] = []  # every update as learned, in fold order

    def learn(self, run_id, task, steps, at, *, sealed=False, only=None) -> None:
        """steps: (key, action, target, reward, answer); `only`: write just these steps."""
        records = []
        for t, (key, action, target, reward, answer) in enumerate(steps):
            meta = {
                "state_id": stable_id(task, key),
                "task": task,
                "action": action,
                "target": target,
                "reward": reward,
                "run_id": run_id,
                "step": t,
                "created_at": at,
                "fingerprint": stable_id("fp", run_id),
                "steps": len(steps),
                **({"answer": answer} if answer else {}),
                **({"sealed": True} if sealed else {}),
            }
            records.append((stable_id("update", run_id, str(t)), meta, key))
        if only is not None:
            records = [records[t] for t in only]
        else:
            self.updates += [dict(m, key=d) for _i, m, d in records]
        self.log.add(
            ids=[i for i, _m, _d in records],
            embeddings=[[1.0]] * len(records),
            metadatas=[m for _i, m, _d in records],
            documents=[d for _i, _m, d in records],
        )
        self._write_tables()

    def _write_tables(self) -> None:
        tables = expected_tables(self.updates, self.memory)
        pairs = sorted(tables)
        vectors = self.memory.encoder.state_vectors(WEIGHT, pairs)
        self.states.upsert(
            ids=[stable_id(task, key) for task, key in pairs],
            embeddings=vectors,
            metadatas=[
                {
                    "task": task,
                    "table": json.dumps(
                        {a: [s.q, s.visits, s.last_reward] for a, s in tables[task, key].items()}
                    ),
                    "visits": sum(s.visits for s in tables[task, key].values()),
                    "last_update": 1.0,
                }
                for task, key in pairs
            ],
            documents=[key for _task, key in pairs],
        )

    def compact(self, task: str, key: str, cutoff: float) -> int:
        """0.1's compaction of one state: snapshots of its table, its updates archived."""
        state = stable_id(task, key)
        covered = self.log.get(where={"state_id": state}, include=["metadatas"])
        table = expected_tables(self.updates, self.memory)[task, key]
        self.log.add(
            ids=[stable_id("snapshot", state, a, repr(cutoff)) for a in table],
            embeddings=[[1.0]] * len(table),
            metadatas=[
                {
                    "state_id": state,
                    "task": task,
                    "action": a,
                    "target": s.q,
                    "reward": s.last_reward,
                    "run_id": "",
                    "step": 0,
                    "created_at": cutoff,
                    "visits": s.visits,
                    "exact": json.dumps([s.q, s.last_reward, 0.0]),
                }
                for a, s in table.items()
            ],
            documents=[key] * len(table),
        )
        archived = [dict(m, state_id="archived:" + state) for m in covered["metadatas"]]
        self.log.update(ids=covered["ids"], metadatas=archived)
        return len(table)

    def save_pending(self, episode: Episode, at: float) -> None:
        self.pending.upsert(
            ids=[stable_id("pending", episode.run_id)],
            embeddings=[[1.0]],
            metadatas=[{"run_id": episode.run_id, "created_at": at}],
            documents=[episode.model_dump_json()],
        )


def expected_tables(updates: list[dict], memory: RemembererMemory) -> dict:
    """(task, key) -> action table: the fold of the updates in 0.1's order (time, run, step)."""
    by_state = defaultdict(list)
    order = sorted(updates, key=lambda u: (u["created_at"], u["run_id"], u["step"]))
    for u in order:
        by_state[u["task"], u["key"]].append((u["action"], u["target"], u["reward"]))
    config = memory.rlem
    return {
        state: fold_table(ups, learning_rate=config.learning_rate, alpha=config.alpha)
        for state, ups in by_state.items()
    }


def build(memory: RemembererMemory, namespace: str = "default") -> Schema1:
    """Three complete runs (one sealed, one compacted state), a partial sealed run, a pending."""
    old = Schema1(memory, namespace)
    old.learn("run-1", TASK, [("kitchen", "go east", 0.5, 0.0, ""),
                              ("pantry", "take coin", 1.0, 1.0, "")], at=10.0)  # fmt: skip
    old.learn("run-2", TASK, [("kitchen", "go west", -0.5, 0.0, ""),
                              ("garden", "give up", -1.0, -1.0, "")], at=20.0)  # fmt: skip
    old.compact(TASK, "kitchen", cutoff=25.0)
    old.learn("run-3", TASK, [("kitchen", "go east", 1.5, 0.0, ""),
                              ("pantry", "take coin", 1.5, 1.5, "")], at=30.0,
              sealed=True)  # fmt: skip
    old.learn("run-4", OTHER, [("garden", "water", 2.0, 2.0, "done")], at=40.0)
    partial = [("kitchen", "wait", 9.0, 0.0, ""), ("attic", "wait", 9.0, 9.0, "")]
    old.learn("run-5", TASK, partial, at=50.0, sealed=True, only=[0])  # killed half-way in 0.1
    old.save_pending(Episode(task=TASK, run_id="run-6", steps=[
        Step(observation="kitchen", action="wait")]), at=60.0)  # fmt: skip
    return old


def collections(memory: RemembererMemory) -> dict[str, int]:
    """Every collection of the memory's prefix and its record count."""
    client, prefix = memory.store.client, memory.store.collection_name + "."
    names = [c if isinstance(c, str) else c.name for c in client.list_collections()]
    return {n: client.get_collection(n).count() for n in sorted(names) if n.startswith(prefix)}


def tables(memory: RemembererMemory, namespace: str = "default") -> dict:
    """(task, key) -> {action: (Q, N)} of every state the memory retrieves."""
    found = {}
    for task in (TASK, OTHER):
        for state in memory.retrieve(task, "kitchen", k=20, namespace=namespace):
            if state.task == task:
                found[task, state.observation] = {a.action: (a.q, a.visits) for a in state.actions}
    return found


def folded(old: Schema1) -> dict:
    return {
        state: {a: (s.q, s.visits) for a, s in table.items()}
        for state, table in expected_tables(old.updates, old.memory).items()
    }


@pytest.fixture
def memory(make_memory) -> RemembererMemory:
    # The default task floor would hide a state of another task; these tests read every state.
    return make_memory(retrieval=RetrievalConfig(min_similarity=-1.0, min_task_similarity=-1.0))


def test_a_schema_1_namespace_is_refused_with_the_way_out(memory) -> None:
    build(memory)
    with pytest.raises(InvalidInputError, match=r"storage schema 1\).*rememberer migrate"):
        memory.stats()


def test_dry_run_reports_and_changes_nothing(memory) -> None:
    build(memory)
    before = collections(memory)
    report = memory.migrate(dry_run=True)
    assert report.status == "would migrate"
    assert report.dry_run
    assert (report.runs, report.updates, report.partial_runs) == (4, 7, 1)
    assert (report.snapshots, report.pending, report.states_before) == (2, 1, 4)
    assert report.states_after == 0
    assert report.summary().startswith("namespace default: would migrate 4 runs, 7 updates")
    assert collections(memory) == before
    with pytest.raises(InvalidInputError, match="storage schema 1"):
        memory.stats()


def test_migrate_keeps_every_run_value_and_pending_episode(memory) -> None:
    old = build(memory)
    report = memory.migrate()
    assert report.status == "migrated"
    assert (report.runs, report.updates, report.updates_learned) == (4, 7, 7)
    assert report.states_after == 4
    base = f"{memory.store.collection_name}.default"
    assert report.kept == tuple(f"{base}.{k}.schema1" for k in ("states", "log", "pending"))
    for run in ("run-1", "run-2", "run-3", "run-4"):
        assert memory.is_learned(run)
    assert not memory.is_learned("run-5")  # 0.1 never counted a partial sealed run either
    assert tables(memory) == folded(old)
    assert folded(old)[TASK, "kitchen"]["go east"][1] == 2  # an archived update and a later one
    stats = memory.stats()
    assert (stats.states, stats.updates, stats.pending) == (4, 7, 1)
    assert stats.task_weight == WEIGHT
    assert memory.pending_runs() == ["run-6"]
    memory.learn_pending("run-6", 1.0)
    assert memory.is_learned("run-6")
    meta = memory.store.client.get_collection(f"{base}.states").metadata
    assert meta["rememberer_migrated_from"] == 1
    assert meta["rememberer_version"] == migration.package_version()
    answered = memory.retrieve(OTHER, "garden", k=1)[0].actions[0]
    assert (answered.action, answered.answer) == ("water", "done")


def test_migrating_again_is_a_no_op_and_drop_old_removes_the_old_collections(memory) -> None:
    old = build(memory)
    memory.migrate()
    after = collections(memory)
    again = memory.migrate()
    assert again.status == "nothing to migrate"
    assert "nothing to migrate" in again.summary()
    assert collections(memory) == after
    assert tables(memory) == folded(old)
    dropped = memory.migrate(drop_old=True)
    assert dropped.kept == ()
    assert not any(name.endswith(".schema1") for name in collections(memory))
    assert tables(memory) == folded(old)


def test_a_current_namespace_has_nothing_to_migrate(memory) -> None:
    memory.learn(Episode(task=TASK, run_id="r", steps=[Step(observation="o", action="a")]))
    before = collections(memory)
    for dry_run in (True, False):
        report = memory.migrate(dry_run=dry_run)
        assert report.status == "nothing to migrate"
        assert (
            report.summary() == "namespace default: nothing to migrate (storage schema 2 already)"
        )
    assert collections(memory) == before
    states = memory.store.client.get_collection(f"{memory.store.collection_name}.default.states")
    kept = {k: v for k, v in states.metadata.items() if not k.startswith("hnsw:")}
    states.modify(metadata={**kept, "rememberer_schema": 3})  # a later version's namespace
    with pytest.raises(InvalidInputError, match="storage schema 3, newer than this version's 2"):
        memory.migrate()


def test_bad_input_is_a_clear_error_and_writes_nothing(memory, make_memory) -> None:
    with pytest.raises(InvalidInputError, match="no namespace 'nope'"):
        memory.migrate("nope")
    with pytest.raises(InvalidInputError, match="namespace"):
        memory.migrate("bad..name")
    assert collections(memory) == {}
    old = build(memory)
    old.log.add(ids=["junk"], embeddings=[[1.0]], metadatas=[{"kind": "run"}], documents=[""])
    before = collections(memory)
    with pytest.raises(StorageError, match="log record junk is not a storage schema 1 update"):
        memory.migrate()
    assert collections(memory) == before


def test_the_stored_vectors_are_kept_so_any_embeddings_can_migrate(memory, make_memory) -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding  # noqa: PLC0415

    old = build(memory)
    other = make_memory(  # e.g. the CLI's WordLlama on a namespace of OpenAI embeddings
        client=memory.store.client,
        collection_name=memory.store.collection_name,
        embeddings=DeterministicFakeEmbedding(size=8),
    )
    assert other.migrate().status == "migrated"
    base = f"{memory.store.collection_name}.default"
    client = memory.store.client
    before = client.get_collection(f"{base}.states.schema1").get(include=["embeddings"])
    after = client.get_collection(f"{base}.states").get(ids=before["ids"], include=["embeddings"])
    assert sorted(before["ids"]) == sorted(after["ids"])
    vectors = dict(zip(after["ids"], after["embeddings"], strict=True))
    for i, vector in zip(before["ids"], before["embeddings"], strict=True):
        assert list(vectors[i]) == pytest.approx(list(vector))
    assert tables(memory) == folded(old)  # read with the namespace's own embeddings
    with pytest.raises(EmbeddingDimensionError):
        other.stats()


def test_a_state_without_a_vector_needs_the_namespace_s_embeddings(memory, make_memory) -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding  # noqa: PLC0415

    old = build(memory)
    old.states.delete(ids=[stable_id(TASK, "pantry")])
    before = collections(memory)
    other = make_memory(
        client=memory.store.client,
        collection_name=memory.store.collection_name,
        embeddings=DeterministicFakeEmbedding(size=8),
    )
    with pytest.raises(EmbeddingDimensionError, match="1 of its states have no stored vector"):
        other.migrate()
    assert collections(memory) == before
    assert memory.migrate().status == "migrated"  # its own embeddings embed that state
    assert tables(memory) == folded(old)


def test_killed_before_the_swap_leaves_the_old_namespace_and_a_rerun_completes(
    memory, monkeypatch
) -> None:
    old = build(memory)

    def killed(*_args, **_kwargs) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(migration, "_swap", killed)
        with pytest.raises(KeyboardInterrupt):
            memory.migrate()
    assert any(name.endswith(".migrating") for name in collections(memory))
    with pytest.raises(InvalidInputError, match="storage schema 1"):
        memory.stats()  # still the old namespace, refused
    report = memory.migrate()
    assert report.status == "migrated"
    assert report.updates_learned == 0  # every run was learned into the new layout already
    assert tables(memory) == folded(old)
    assert memory.stats().updates == 7
    assert not any(name.endswith(".migrating") for name in collections(memory))


@pytest.mark.parametrize("renames", [1, 2, 3, 5])
def test_killed_during_the_swap_a_rerun_finishes_it(memory, monkeypatch, renames) -> None:
    old = build(memory)
    real, done = migration._rename, []

    def rename(*args) -> None:
        if len(done) == renames:
            raise KeyboardInterrupt
        real(*args)
        done.append(args)

    with monkeypatch.context() as patch:
        patch.setattr(migration, "_rename", rename)
        with pytest.raises(KeyboardInterrupt):
            memory.migrate()
    assert memory.migrate(dry_run=True).status == "would finish"
    if renames == 5:  # between the states' two renames: an open creates an empty states
        assert memory.retrieve(TASK, "kitchen") == []  # opening made an empty states
    report = memory.migrate(drop_old=renames == 3)
    assert report.status == "finished"
    assert len(report.kept) == (0 if renames == 3 else 3)
    assert tables(memory) == folded(old)
    assert memory.stats().updates == 7
    assert memory.pending_runs() == ["run-6"]
    assert memory.migrate().status == "nothing to migrate"


FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "schema1" / "namespace.json"


def test_a_namespace_written_by_0_1_itself_keeps_every_value(memory) -> None:
    """Raw records 0.1's own code wrote (`generated_by` in the fixture), compaction included."""
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    client, base = memory.store.client, f"{memory.store.collection_name}.default"
    meta = dict(data["states_metadata"])
    assert meta["rememberer_schema"] == 1
    states = client.create_collection(f"{base}.states", embedding_function=None, metadata=meta)
    pairs = [(m["task"], d) for _i, m, d in data["states"]]
    states.add(
        ids=[i for i, _m, _d in data["states"]],
        embeddings=memory.encoder.state_vectors(meta["rememberer_task_weight"], pairs),
        metadatas=[m for _i, m, _d in data["states"]],
        documents=[d for _i, _m, d in data["states"]],
    )
    for kind in ("log", "pending"):
        rows = data[kind]
        client.create_collection(f"{base}.{kind}", embedding_function=None).add(
            ids=[i for i, _m, _d in rows],
            embeddings=[[1.0]] * len(rows),
            metadatas=[m for _i, m, _d in rows],
            documents=[d for _i, _m, d in rows],
        )
    report = memory.migrate()
    assert (report.status, report.runs, report.pending) == ("migrated", 40, 1)
    assert report.snapshots > 0  # the fixture's states were compacted
    assert report.updates == memory.stats().updates
    found = {}
    for task in {task for task, _key in pairs}:
        for state in memory.retrieve(task, "kitchen", k=50):
            if state.task == task:
                found[f"{task}|{state.observation}"] = sorted(
                    [a.action, round(a.q, 12), a.visits, a.last_reward, a.answer]
                    for a in state.actions
                )
    want = {
        state: [[a, round(q, 12), n, r, answer] for a, q, n, r, answer in table]
        for state, table in data["tables_in_0.1"].items()
    }
    assert found == want
    assert all(memory.is_learned(f"mc-{i}") for i in range(40))
    assert memory.pending_runs() == ["mc-pending"]


# -- the command -------------------------------------------------------------------------------

app = build_app(with_bench=False)
runner = CliRunner()


def run(*args: str | Path, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, (result.exit_code, result.output)
    return result


def on_disk(path: Path, embeddings, namespace: str) -> RemembererMemory:
    return RemembererMemory(
        path=path, namespace=namespace, embeddings=embeddings, spool=SpoolConfig(enabled=False)
    )


def test_the_command_migrates_a_store_on_disk(tmp_path, embeddings) -> None:
    db = tmp_path / "db"
    old = build(on_disk(db, embeddings, "docs"), "docs")
    on_disk(db, embeddings, "new").learn(
        Episode(task=TASK, steps=[Step(observation="o", action="a")])
    )
    refused = run("stats", "--path", db, "-n", "docs", code=2)
    assert "rememberer migrate --namespace docs" in " ".join(refused.stderr.split())
    dry = json.loads(run("migrate", "--path", db, "--all", "--dry-run", "--json").stdout)
    assert dry["dry_run"] is True
    by_name = {r["namespace"]: r for r in dry["namespaces"]}
    assert by_name["docs"]["status"] == "would migrate"
    assert by_name["docs"]["updates"] == 7
    assert by_name["new"]["status"] == "nothing to migrate"
    done = run("migrate", "--path", db, "-n", "docs").stdout
    assert "namespace docs: migrated 4 runs, 7 updates, 1 pending episodes, 4 states" in done
    assert json.loads(run("stats", "--path", db, "-n", "docs", "--json").stdout)["updates"] == 7
    assert json.loads(run("namespaces", "--path", db, "--json").stdout)["namespaces"] == [
        "docs", "new"
    ]  # fmt: skip
    again = run("migrate", "--path", db, "--all").stdout
    assert "namespace docs: nothing to migrate" in again
    reopened = on_disk(db, embeddings, "docs")
    assert tables(reopened, "docs") == folded(old)


def test_the_command_s_bad_input_is_exit_2(tmp_path, embeddings) -> None:
    missing = tmp_path / "typo"
    failed = run("migrate", "--path", missing, code=2)
    assert "no memory at" in failed.stderr
    assert not missing.exists()
    db = tmp_path / "db"
    build(on_disk(db, embeddings, "docs"), "docs")
    unknown = run("migrate", "--path", db, "-n", "nope", code=2)
    assert "no namespace 'nope'" in unknown.stderr
    both = run("migrate", "--path", db, "-n", "docs", "--all", code=2)
    assert "give --namespace or --all, not both" in both.stderr
    assert "Exit codes: 0 done" in " ".join(run("migrate", "--help").stdout.split())


def test_the_command_migrates_a_namespace_on_a_server(chroma_server, make_memory) -> None:
    memory = make_memory(
        client=chroma_server.client(),
        retrieval=RetrievalConfig(min_similarity=-1.0, min_task_similarity=-1.0),
    )
    old = build(memory)
    url = f"http://{chroma_server.host}:{chroma_server.port}"
    where = ["--url", url, "--collection-name", memory.store.collection_name]
    dry = json.loads(run("migrate", *where, "--dry-run", "--json").stdout)["namespaces"]
    assert [(r["namespace"], r["status"], r["updates"]) for r in dry] == [
        ("default", "would migrate", 7)
    ]
    assert "migrated 4 runs, 7 updates" in run("migrate", *where, "--drop-old").stdout
    assert not any(name.endswith((".schema1", ".migrating")) for name in collections(memory))
    assert tables(memory) == folded(old)
    assert memory.is_learned("run-4")
    assert "nothing to migrate" in run("migrate", *where).stdout


ROOT = Path(__file__).resolve().parents[2]


def _worker(path: Path, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.integration_tests._migrate_worker", str(path), str(kill_at)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )  # fmt: skip


@pytest.mark.parametrize("kill_at", [0, 3, 5])
def test_a_process_killed_with_sigkill_part_way_then_a_rerun(tmp_path, embeddings, kill_at) -> None:
    """SIGKILL after the new layout is written (0), mid-swap (3), between the states' renames."""
    db = tmp_path / "db"
    old = build(on_disk(db, embeddings, "default"))
    killed = _worker(db, kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rerun = _worker(db, -1)
    assert rerun.returncode == 0, rerun.stderr
    got = json.loads(rerun.stdout.splitlines()[-1])
    assert got["status"] == ("migrated" if kill_at == 0 else "finished")
    want = {
        f"{t}|{k}": {a: list(v) for a, v in table.items()} for (t, k), table in folded(old).items()
    }
    assert got["tables"] == want
    assert got["learned"] == ["run-1", "run-2", "run-3", "run-4"]
