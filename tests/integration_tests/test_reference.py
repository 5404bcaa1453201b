"""Importing reference-implementation YAML pools (fixtures in this repository) into Chroma.

The pools in `tests/fixtures/reference_pools/` are small, hand-written files in the reference
implementation's layout: `!!python/tuple` state keys (observation, task, available actions),
`!!python/tuple` action keys (action, reason), `qvalue`/`number`/`reward` per action.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from langchain_rememberer import ReferencePoolError
from langchain_rememberer.reference import MAX_POOL_VISITS, load_pool

POOLS = Path(__file__).resolve().parents[1] / "fixtures" / "reference_pools"
POOL_FILES = sorted(POOLS.glob("*.yaml"))


def _plain_yaml(path: Path) -> dict:
    """The pool read independently: PyYAML's full loader on the trusted fixture."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.UnsafeLoader)


def test_fixtures_are_present() -> None:
    assert [p.name for p in POOL_FILES] == ["init_pool.q.yaml", "init_pool.wq.yaml"]


@pytest.mark.parametrize("path", POOL_FILES, ids=lambda p: p.name)
def test_fixtures_use_the_reference_layout(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count("? !!python/tuple") >= 4  # state keys and action keys are python tuples
    pool = _plain_yaml(path)
    assert len(pool) >= 2
    for key, record in pool.items():
        assert isinstance(key, tuple)
        assert len(key) == 3
        assert len(record["action_dict"]) >= 2
        assert all(isinstance(a, tuple) and len(a) == 2 for a in record["action_dict"])
        assert {"action_history", "number"} <= set(record["other_info"])


def test_import_writes_one_update_per_visit(memory) -> None:
    path = POOL_FILES[0]
    visits = sum(v["number"] for r in _plain_yaml(path).values() for v in r["action_dict"].values())
    assert visits == 7  # 3 + 1 and 2 + 1: some actions were visited more than once
    memory.import_reference_pool(path)
    assert memory.stats().updates == visits


@pytest.mark.parametrize("path", POOL_FILES, ids=lambda p: p.name)
def test_pool_imports_with_exact_values(memory, path: Path) -> None:
    expected = _plain_yaml(path)
    assert memory.import_reference_pool(path) == len(expected)
    assert memory.stats().states == len(expected)
    for (observation, task, *_), record in expected.items():
        (state,) = memory.retrieve(task, observation, k=1)
        assert state.similarity == pytest.approx(1.0, abs=1e-5)
        got = {a.action: (a.q, a.visits, a.last_reward) for a in state.actions}
        want = {
            action: (pytest.approx(v["qvalue"]), v["number"], pytest.approx(v["reward"]))
            for (action, _reason), v in record["action_dict"].items()
        }
        assert got == want


def test_reimport_is_a_no_op(memory) -> None:
    memory.import_reference_pool(POOL_FILES[1])
    before = memory.stats()
    memory.import_reference_pool(POOL_FILES[1])
    assert memory.stats() == before


def test_load_pool_rows() -> None:
    rows = load_pool(POOL_FILES[1])
    assert {r.action for r in rows} >= {"click[search]"}
    assert all(r.visits >= 1 for r in rows)
    (clicked,) = [r for r in rows if r.action == "click[b0socks001]"]
    assert (clicked.q, clicked.visits, clicked.reward) == (0.875, 2, 0.0)
    assert clicked.task.startswith("Instruction:i need a pair of wool hiking socks")


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['echo hacked']",
        "!!python/name:os.system",
        "!!python/object:collections.OrderedDict {}",
    ],
)
def test_other_python_tags_are_rejected(memory, tmp_path: Path, tag: str) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text(f"? !!python/tuple ['obs', 'task', '']\n: {tag}\n")
    with pytest.raises(ReferencePoolError, match="not allowed"):
        memory.import_reference_pool(path)
    assert memory.stats().states == 0


@pytest.mark.parametrize(
    "text",
    ["just a string", "? !!python/tuple ['obs', 'task']\n: {action_dict: 3}\n", "key: [unclosed"],
)
def test_malformed_pools_are_rejected(memory, tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ReferencePoolError):
        memory.import_reference_pool(path)


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("2.9", "not a whole number"),
        ("2.0", "not a whole number"),
        ("true", "not a whole number"),
        ("'3'", "not a whole number"),
        ("0", "outside 1..100,000"),
        ("-2", "outside 1..100,000"),
        ("100001", "outside 1..100,000"),
    ],
)
def test_pool_visit_count_must_be_a_sane_whole_number(
    memory, tmp_path: Path, number: str, problem: str
) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(
        "? !!python/tuple [obs, task, acts]\n"
        ": action_dict:\n"
        "    ? !!python/tuple [click, why]\n"
        "    : {qvalue: 1.0, number: 1, reward: 0.0}\n"
        "    ? !!python/tuple [type, why]\n"
        f"    : {{qvalue: 1.0, number: {number}, reward: 0.0}}\n"
    )
    with pytest.raises(ReferencePoolError, match=f"'type'.*{problem}"):
        memory.import_reference_pool(path)
    assert memory.stats().updates == 0


def test_pool_visit_count_at_the_cap_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(
        "? !!python/tuple [obs, task, acts]\n"
        ": action_dict:\n"
        "    ? !!python/tuple [click, why]\n"
        f"    : {{qvalue: 1.0, number: {MAX_POOL_VISITS}, reward: 0.0}}\n"
    )
    (row,) = load_pool(path)
    assert row.visits == MAX_POOL_VISITS
