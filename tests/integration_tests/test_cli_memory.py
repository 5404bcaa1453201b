"""The memory commands on real memories (embedded Chroma, WordLlama), in-process (typer's runner).

Every command, its `--json` keys, and the bad input: an unknown path or namespace (never
created), a server nothing listens on, a namespace written with other embeddings. A real
`chroma run` server and a real subprocess of the installed `rememberer` are in
`test_cli_server.py`.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from typer.testing import CliRunner

from langchain_rememberer import Episode, RemembererMemory, Step
from langchain_rememberer.cli import build_app
from langchain_rememberer.config import RetrievalConfig, SpoolConfig

app = build_app(with_bench=False)
runner = CliRunner()

TASK = "Find the coin and take it."
KITCHEN = "Kitchen. Exits: east, west."
POOL = Path(__file__).resolve().parents[1] / "fixtures" / "reference_pools" / "init_pool.q.yaml"


def run(*args: str | Path, code: int = 0, stdin: str | None = None):
    result = runner.invoke(app, [str(a) for a in args], input=stdin)
    assert result.exit_code == code, (result.exit_code, result.output)
    return result


def data(*args: str | Path) -> dict:
    return json.loads(run(*args, "--json").stdout)


def make(path: Path, embeddings, namespace: str = "docs", **kwargs) -> RemembererMemory:
    spool = SpoolConfig(enabled=False)
    return RemembererMemory(
        path=path, namespace=namespace, embeddings=embeddings, spool=spool, **kwargs
    )


def learn_docs(memory: RemembererMemory) -> None:
    """The docs' two runs (γ = 0.5): go east 0.5, take coin 1.0, go west -0.5, give up -1.0."""
    memory.learn(Episode(task=TASK, run_id="run-1", steps=[
        Step(observation=KITCHEN, action="go east"),
        Step(observation="Pantry. You see a coin.", action="take coin", reward=1.0),
    ]))  # fmt: skip
    memory.learn(Episode(task=TASK, run_id="run-2", steps=[
        Step(observation=KITCHEN, action="go west"),
        Step(observation="Garden. Nothing here.", action="give up", reward=-1.0),
    ]))  # fmt: skip


@pytest.fixture
def db(tmp_path, embeddings) -> Path:
    """An embedded memory: namespace docs (3 states, 4 updates, 1 pending run) and other."""
    path = tmp_path / "db"
    memory = make(path, embeddings)
    learn_docs(memory)
    memory.save_pending(Episode(task=TASK, run_id="run-3", steps=[
        Step(observation=KITCHEN, action="wait"),
    ]))  # fmt: skip
    memory.learn(
        Episode(task="Water the plants.", steps=[Step(observation="A garden.", action="water")]),
        namespace="other",
    )
    return path


def namespaces(*where: str | Path) -> list[str]:
    return data("namespaces", *where)["namespaces"]


def kitchen_id(db: Path) -> str:
    states = data("search", TASK, KITCHEN, "--path", db, "-n", "docs", "-k", "1")["states"]
    assert states[0]["observation"] == KITCHEN
    return states[0]["id"]


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the read-only commands ------------------------------------------------------------------


def test_namespaces_lists_each_namespace_once(db: Path) -> None:
    assert data("namespaces", "--path", db) == {
        "collection_name": "rememberer",
        "namespaces": ["docs", "other"],
    }
    assert run("namespaces", "--path", db).stdout.split() == ["docs", "other"]
    # Another prefix holds none of them: an empty list, not an error.
    assert namespaces("--path", db, "--collection-name", "elsewhere") == []


def test_stats_counts_states_actions_updates_pending_and_bytes(db: Path) -> None:
    stats = data("stats", "--path", db, "--namespace", "docs")
    assert stats == {
        "namespace": "docs",
        "states": 3,
        "actions": 4,
        "updates": 4,
        "pending": 1,
        "task_weight": 0.5,
        "size_on_disk_bytes": directory_bytes(db),
        "path": str(db),
        "url": None,
    }
    table = run("stats", "--path", db, "-n", "docs").stdout
    assert "pending" in table
    assert "(the whole database)" in table


def test_stats_needs_a_namespace_when_there_are_several(db: Path, tmp_path, embeddings) -> None:
    many = run("stats", "--path", db, code=2)
    assert "has 2 namespaces (docs, other); choose one with --namespace" in many.stderr
    # The demo's memory holds one namespace ("rememberer"): it is the default.
    learn_docs(make(tmp_path / "one", embeddings, namespace="rememberer"))
    assert data("stats", "--path", tmp_path / "one")["states"] == 3


def test_the_forms_of_0_1_are_usage_errors(db: Path) -> None:
    # `stats PATH` (now `stats --path PATH`) and `inspect` (now `search TASK --states`): gone.
    positional = run("stats", db, "--namespace", "other", code=2)
    assert "unexpected extra argument" in positional.output
    assert not positional.stdout.lstrip().startswith("{")
    inspect = run("inspect", "--path", db, "-n", "docs", "--task", TASK, code=2)
    assert "No such command 'inspect'" in inspect.output
    assert "inspect" not in run("--help").stdout
    assert "PATH" not in run("stats", "--help").stdout.split("Options")[0]


def test_top_shows_the_best_and_worst_actions_with_visits(db: Path) -> None:
    top = data("top", "--path", db, "-n", "docs", "--count", "2")
    assert [(r["action"], r["q"], r["visits"]) for r in top["best"]] == [
        ("take coin", 1.0, 1),
        ("go east", 0.5, 1),
    ]
    assert [(r["action"], r["q"]) for r in top["worst"]] == [("give up", -1.0), ("go west", -0.5)]
    assert set(top["best"][0]) == {
        "state_id", "task", "observation", "action", "q", "visits", "last_reward",
    }  # fmt: skip
    assert top["best"][0]["observation"] == "Pantry. You see a coin."
    table = run("top", "--path", db, "-n", "docs").stdout
    assert table.index("best actions in docs") < table.index("take coin")
    assert table.index("worst actions in docs") < table.rindex("give up")


def test_search_prints_exactly_the_block_the_agent_gets(db: Path, embeddings) -> None:
    memory = make(db, embeddings)
    expected = memory.format_exemplars(TASK, KITCHEN, k=2, namespace="docs")
    assert '<action value="0.50" tried="1">go east</action>' in expected
    shown = run("search", TASK, KITCHEN, "--path", db, "-n", "docs", "-k", "2")
    assert shown.stdout == expected + "\n"
    found = data("search", TASK, KITCHEN, "--path", db, "-n", "docs", "-k", "2")
    retrieved = memory.retrieve(TASK, KITCHEN, k=2, namespace="docs")
    assert found["states"] == [s.model_dump() | {"visits": s.visits} for s in retrieved]
    assert found["block"] == expected
    assert (found["task"], found["observation"]) == (TASK, KITCHEN)
    # Without an observation, the task is the observation (a run's first step).
    alone = run("search", TASK, "--path", db, "-n", "docs").stdout
    assert alone == memory.format_exemplars(TASK, TASK, namespace="docs") + "\n"


def test_search_with_nothing_similar_enough_prints_nothing(db: Path) -> None:
    args = ("search", "Bake bread.", "An oven.", "--path", db, "-n", "docs")
    nothing = run(*args, "--min-similarity", "0.99")
    assert nothing.stdout == ""
    assert "nothing would be shown" in nothing.stderr
    assert run(*args, "--after", "go east", code=2).stderr.count("--action-history") == 1


def test_show_prints_task_whole_observation_actions_and_runs(db: Path, embeddings) -> None:
    long = "A long corridor with " + " ".join(f"door{i}" for i in range(120)) + "."
    assert len(long) > 600  # longer than any cut of the prompt or the table
    make(db, embeddings).learn(
        Episode(task=TASK, run_id="run-long", steps=[Step(observation=long, action="open door7")])
    )
    state_id = kitchen_id(db)
    shown = data("show", state_id[:8], "--path", db, "-n", "docs")
    assert (shown["id"], shown["task"], shown["observation"]) == (state_id, TASK, KITCHEN)
    assert [(a["action"], a["q"], a["visits"]) for a in shown["actions"]] == [
        ("go east", 0.5, 1),
        ("go west", -0.5, 1),
    ]
    assert shown["runs"] == ["run-1", "run-2"]
    assert [(u["run_id"], u["step"], u["target"]) for u in shown["updates"]] == [
        ("run-1", 0, 0.5),
        ("run-2", 0, -0.5),
    ]
    long_id = data("search", TASK, long, "--path", db, "-n", "docs", "-k", "1")["states"][0]["id"]
    text = run("show", long_id, "--path", db, "-n", "docs").stdout
    assert long in " ".join(text.split())  # the whole observation, wrapped at spaces
    assert "run-long" in text
    assert "open door7" in text


def test_show_an_unknown_or_ambiguous_state_is_exit_2(tmp_path, embeddings) -> None:
    memory = make(tmp_path / "db", embeddings)
    rooms = [Step(observation=f"Room number {i}.", action="look") for i in range(17)]
    memory.learn(Episode(task=TASK, steps=rooms))
    ids = [r["state_id"] for r in data("top", "--path", tmp_path / "db", "--count", "17")["best"]]
    assert len(ids) == 17
    shared = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)
    ambiguous = run("show", shared, "--path", tmp_path / "db", code=2).stderr
    assert f"states of docs start with '{shared}'" in ambiguous
    unknown = run("show", "notanid", "--path", tmp_path / "db", code=2).stderr
    assert "no state 'notanid' in namespace 'docs'" in unknown


def test_search_states_shows_each_similar_state_whole(db: Path) -> None:
    text = run("search", TASK, KITCHEN, "--path", db, "-n", "docs", "--states").stdout
    assert "similarity 1.000" in text
    assert f"task: {TASK}" in text
    assert f"observation: {KITCHEN}" in text
    assert "go west" in text
    found = data("search", TASK, "--path", db, "-n", "docs", "-k", "1", "--states")
    assert len(found["states"]) == 1
    assert "block" not in found


def test_search_uses_the_settings_the_memory_was_built_with(tmp_path, embeddings) -> None:
    floors = RetrievalConfig(k=3, min_similarity=0.9, min_task_similarity=None)
    memory = make(tmp_path / "db", embeddings, action_history=1, retrieval=floors)
    learn_docs(memory)
    assert memory.recorded_settings() == {
        "observation_key": "full", "action_history": 1, "k": 3, "min_similarity": 0.9,
        "min_task_similarity": None, "task_weight": 0.5,
    }  # fmt: skip
    args = ("search", TASK, "Pantry. You see a coin.", "--path", tmp_path / "db")
    found = data(*args, "--after", "go east")
    assert found["settings"] == {
        "observation_key": "full", "action_history": 1, "k": 3, "min_similarity": 0.9,
        "min_task_similarity": None,
    }  # fmt: skip
    expected = memory.format_exemplars(TASK, "Pantry. You see a coin.", recent_actions=["go east"])
    assert '<action value="1.00" tried="1">take coin</action>' in expected
    assert found["block"] == expected
    assert found["states"][0]["similarity"] > 0.999  # the state, keyed "[after: go east] ..."
    # Without the history the agent had, that state is matched less well.
    assert data(*args, "--action-history", "0")["states"][0]["similarity"] < 0.99
    # A flag overrides what was recorded.
    assert data(*args, "--after", "go east", "-k", "1")["settings"]["k"] == 1
    # A custom key cannot be rebuilt: said on stderr, the full text is used.
    custom = make(tmp_path / "c", embeddings, observation_key=str.upper)
    learn_docs(custom)
    assert custom.recorded_settings()["observation_key"] == "custom:str.upper"
    noted = run("search", TASK, "--path", tmp_path / "c").stderr
    assert "built with the observation key 'custom:str.upper'" in " ".join(noted.split())


def test_read_only_commands_create_nothing(db: Path, tmp_path) -> None:
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    state_id = kitchen_id(db)
    for args in (
        ["namespaces"], ["stats", "-n", "docs"], ["top", "-n", "docs"],
        ["search", TASK, "-n", "docs"], ["show", state_id, "-n", "docs"],
    ):  # fmt: skip
        run(*args, "--path", db)
    assert namespaces("--path", db) == ["docs", "other"]
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert set(after) - set(before) <= {  # sqlite may keep a journal; no spool, no collection
        p for p in after if p.name.endswith(("-journal", "-wal", "-shm"))
    }
    assert not (tmp_path / "db-spool").exists()


# -- export, import, forget, rebuild, clear ----------------------------------------------------


def test_export_then_import_restores_the_same_tables(db: Path, tmp_path) -> None:
    dump = tmp_path / "docs.jsonl"
    assert (
        "4 updates of namespace docs written"
        in run("export", dump, "--path", db, "-n", "docs").stdout
    )
    assert len(dump.read_text().splitlines()) == 1 + 4  # the header, one line per update
    copy = tmp_path / "copy"
    first = run("import", dump, "--path", copy, "--namespace", "restored")
    assert "4 new updates" in first.stdout
    assert "0 new updates" in run("import", dump, "--path", copy).stdout  # the only namespace
    original = data("top", "--path", db, "-n", "docs", "--count", "10")
    restored = data("top", "--path", copy, "--count", "10")
    assert restored["namespace"] == "restored"
    assert restored["best"] == original["best"]
    assert restored["worst"] == original["worst"]


def test_import_a_reference_pool(db: Path) -> None:
    imported = run("import", POOL, "--path", db, "-n", "pool").stdout
    assert "2 states of the reference pool" in imported
    stats = data("stats", "--path", db, "-n", "pool")
    assert (stats["states"], stats["updates"]) == (2, 7)  # 3 + 1 and 2 + 1 visits
    assert namespaces("--path", db) == ["docs", "other", "pool"]


def test_import_of_a_bad_file_is_exit_2_and_creates_nothing(tmp_path) -> None:
    bad = tmp_path / "notes.jsonl"
    bad.write_text('{"hello": "world"}\n')
    new = tmp_path / "new-db"
    assert "not a langchain-rememberer export" in run("import", bad, "--path", new, code=2).stderr
    yaml = tmp_path / "pool.yaml"
    yaml.write_text("- just a list\n")
    assert "is not a reference pool" in run("import", yaml, "--path", new, code=2).stderr
    assert "no file" in run("import", tmp_path / "missing.jsonl", "--path", new, code=2).stderr
    assert not new.exists()


def test_export_to_a_directory_or_a_missing_folder_is_exit_2(db: Path, tmp_path) -> None:
    into_dir = run("export", tmp_path, "--path", db, "-n", "docs", code=2).stderr
    assert f"cannot write the export to {tmp_path}: it is a directory, not a file" in into_dir
    assert "Traceback" not in into_dir
    missing = tmp_path / "no-folder" / "dump.jsonl"
    into_missing = run("export", missing, "--path", db, "-n", "docs", code=2).stderr
    assert f"the folder {missing.parent} does not exist; nothing was exported" in into_missing
    assert not missing.parent.exists()
    assert "no file" in run("import", tmp_path, "--path", db, "-n", "docs", code=2).stderr


def test_forget_a_run_refolds_its_states(db: Path) -> None:
    state_id = kitchen_id(db)
    assert (
        "forgot run run-2: 2 updates removed"
        in run("forget", "--run", "run-2", "--path", db, "-n", "docs").stdout
    )
    shown = data("show", state_id, "--path", db, "-n", "docs")
    assert [a["action"] for a in shown["actions"]] == ["go east"]
    assert shown["runs"] == ["run-1"]
    again = run("forget", "--run", "run-2", "--path", db, "-n", "docs", code=2)
    assert "no update or pending episode of run 'run-2'" in again.stderr
    pending = run("forget", "--run", "run-3", "--path", db, "-n", "docs").stdout
    assert "0 updates and its pending episode removed" in pending
    assert data("stats", "--path", db, "-n", "docs")["pending"] == 0


def test_rebuild_refolds_the_same_tables(db: Path) -> None:
    before = data("top", "--path", db, "-n", "docs")
    rebuilt = run("rebuild", "--path", db, "-n", "docs").stdout
    assert "rebuilt namespace docs: 3 states with updates" in rebuilt
    assert data("top", "--path", db, "-n", "docs") == before


def test_compact_keeps_the_same_tables(db: Path) -> None:
    before = data("top", "--path", db, "-n", "docs")
    stats = data("stats", "--path", db, "-n", "docs")
    kept = run("compact", "--path", db, "-n", "docs").stdout
    # Each learn left its slots pending (readers fold them): compact folds them into the rows.
    assert "compacted namespace docs: 3 states settled, 3 pending slots folded" in kept
    again = run("compact", "--path", db, "-n", "docs").stdout
    assert "compacted namespace docs: 0 states settled" in again  # nothing left to settle
    assert data("top", "--path", db, "-n", "docs") == before
    after = data("stats", "--path", db, "-n", "docs")
    assert {**after, "size_on_disk_bytes": 0} == {**stats, "size_on_disk_bytes": 0}
    assert "--older-than" in run("compact", "--path", db, "--older-than", "1", code=2).output


def test_compact_finishes_a_run_a_killed_writer_left_half_written(
    db: Path, embeddings, monkeypatch
) -> None:
    memory = make(db, embeddings)
    add_log = memory.store.add_log

    def dies_before_the_commit(ns, records):
        if any(record_id.startswith("done:") for record_id, _m, _d in records):
            msg = "killed before writing the done record"
            raise RuntimeError(msg)
        return add_log(ns, records)

    monkeypatch.setattr(memory.store, "add_log", dies_before_the_commit)
    monkeypatch.setattr(memory.store, "batch_size", 2)  # too long for one add: the long way
    with pytest.raises(RuntimeError, match="killed"):
        memory.learn(Episode(task=TASK, run_id="run-4", steps=[
            Step(observation=KITCHEN, action="go east", reward=1.0),
        ]))  # fmt: skip
    monkeypatch.undo()
    assert data("stats", "--path", db, "-n", "docs")["updates"] == 4  # not learned (yet)
    done = run("compact", "--path", db, "-n", "docs").stdout
    # The run's one slot, pending in the kitchen's row, is folded into it (with the slots the
    # learns before it left pending in their rows).
    assert "compacted namespace docs: 3 states settled, 3 pending slots folded" in done
    assert data("stats", "--path", db, "-n", "docs")["updates"] == 5
    assert make(db, embeddings).is_learned("run-4")
    again = run("compact", "--path", db, "-n", "docs").stdout
    assert "compacted namespace docs: 0 states settled, 0 pending slots folded" in again


def test_clear_asks_and_keeps_the_data_unless_confirmed(db: Path) -> None:
    declined = run("clear", "--path", db, "--namespace", "docs", stdin="n\n", code=3)
    assert "Delete namespace 'docs'" in declined.stdout
    assert "nothing deleted" in declined.stderr
    run("clear", "--path", db, "--namespace", "docs", stdin="", code=3)  # no answer at all
    assert data("stats", "--path", db, "-n", "docs")["updates"] == 4
    run("clear", "--path", db, "--namespace", "docs", stdin="y\n")
    assert namespaces("--path", db) == ["other"]
    run("clear", "--path", db, "--namespace", "other", "--yes")
    assert namespaces("--path", db) == []
    assert "no namespace 'other'" in run("stats", "--path", db, "-n", "other", code=2).stderr


def test_clear_needs_a_namespace(db: Path) -> None:
    assert "--namespace" in run("clear", "--path", db, "--yes", code=2).output
    assert namespaces("--path", db) == ["docs", "other"]


# -- bad input ---------------------------------------------------------------------------------

EVERY_COMMAND = [
    ["namespaces"], ["stats"], ["top"], ["search", TASK], ["show", "abc"], ["export", "OUT"],
    ["forget", "--run", "run-1"], ["rebuild"], ["compact"], ["clear", "--yes", "-n", "docs"],
]  # fmt: skip


def _args(command: list[str], tmp_path: Path) -> list[str]:
    return [str(tmp_path / "out.jsonl") if a == "OUT" else a for a in command]


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda c: c[0])
def test_an_unknown_path_is_exit_2_and_is_not_created(command, tmp_path) -> None:
    typo = tmp_path / "typo" / "db"
    failed = run(*_args(command, tmp_path), "--path", typo, code=2)
    assert f"no memory at {typo} (it does not exist)" in " ".join(failed.stderr.split())
    assert not typo.parent.exists()
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("command", [c for c in EVERY_COMMAND if c[0] != "namespaces"],
                         ids=lambda c: c[0])  # fmt: skip
def test_an_unknown_namespace_is_exit_2_and_is_not_created(command, db: Path, tmp_path) -> None:
    args = [a for a in _args(command, tmp_path) if a not in ("-n", "docs")]
    failed = run(*args, "--path", db, "--namespace", "nope", code=2)
    message = " ".join(failed.stderr.split())
    assert "no namespace 'nope' at" in message
    assert "its namespaces: docs, other" in message
    assert namespaces("--path", db) == ["docs", "other"]
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("command", [*EVERY_COMMAND, ["import", str(POOL)]], ids=lambda c: c[0])
def test_a_server_nothing_listens_on_is_exit_1(command, tmp_path) -> None:
    port = free_port()
    failed = run(*_args(command, tmp_path), "--url", f"http://127.0.0.1:{port}", code=1)
    assert f"could not connect to the Chroma server at 127.0.0.1:{port}" in failed.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_bad_store_options_are_exit_2(db: Path) -> None:
    both = run("stats", "--path", db, "--url", "http://127.0.0.1:8000", code=2)
    assert "give --path or --url, not both" in both.stderr
    for url in ("https://127.0.0.1:8000", "http://127.0.0.1:8000/api", "http://127.0.0.1:99999"):
        assert "--url" in run("stats", "--url", url, code=2).stderr
    bad_prefix = run("stats", "--path", db, "--collection-name", "no way", code=2)
    assert "collection_name 'no way' is not usable" in bad_prefix.stderr
    other = run("stats", "--path", db, "--collection-name", "elsewhere", code=2).stderr
    assert "collections there: rememberer.docs.log" in " ".join(other.split())
    key = run("search", TASK, "--path", db, "-n", "docs", "--observation-key", "nope", code=2)
    assert "--observation-key 'nope': choose from full, actions, room+actions" in key.stderr


WRITTEN_WITH_8 = [
    ["stats"], ["top"], ["search", TASK], ["show", "abc"], ["export", "OUT"], ["rebuild"],
    ["compact"], ["forget", "--run", "fake-1"],
]  # fmt: skip


@pytest.mark.parametrize("command", WRITTEN_WITH_8, ids=lambda c: c[0])
def test_a_namespace_of_other_embeddings_is_exit_1(command, tmp_path) -> None:
    db = tmp_path / "db"
    fake = make(db, DeterministicFakeEmbedding(size=8), namespace="fake")
    fake.learn(Episode(task=TASK, run_id="fake-1", steps=[Step(observation="o", action="a")]))
    failed = run(*_args(command, tmp_path), "--path", db, code=1)
    message = " ".join(failed.stderr.split())
    assert "was written with 8-d embeddings, but the current embeddings give 256-d" in message
    assert "the CLI reads with the default WordLlama embeddings" in message
    assert fake.stats().updates == 1  # untouched
    assert not (tmp_path / "out.jsonl").exists()


def test_a_namespace_of_other_embeddings_can_be_listed_and_cleared(tmp_path) -> None:
    db = tmp_path / "db"
    fake = make(db, DeterministicFakeEmbedding(size=8), namespace="fake")
    fake.learn(Episode(task=TASK, steps=[Step(observation="o", action="a")]))
    assert namespaces("--path", db) == ["fake"]
    run("clear", "--path", db, "-n", "fake", "--yes")
    assert namespaces("--path", db) == []


def test_every_command_documents_the_exit_codes() -> None:
    for command in ("namespaces", "stats", "top", "search", "show", "export", "import",
                    "forget", "rebuild", "compact", "clear"):  # fmt: skip
        help_text = " ".join(run(command, "--help").stdout.split())
        assert "Exit codes: 0 done; 1 storage error" in help_text, command
        assert "3 not confirmed" in help_text, command


def test_help_shows_no_typer_placeholders() -> None:
    full = build_app()  # with demo and bench
    for command in ("", "namespaces", "stats", "top", "search", "show", "export", "import",
                    "forget", "rebuild", "compact", "clear", "demo", "bench"):  # fmt: skip
        shown = runner.invoke(full, [*command.split(), "--help"], terminal_width=100)
        assert shown.exit_code == 0, (command, shown.output)
        assert "<bool>" not in shown.output, command
        usage = next(line for line in shown.output.splitlines() if "Usage:" in line)
        assert "{" not in usage, (command, usage)
    search_usage = runner.invoke(full, ["search", "--help"], terminal_width=100).output
    assert "search [OPTIONS] TASK [OBSERVATION]" in search_usage
