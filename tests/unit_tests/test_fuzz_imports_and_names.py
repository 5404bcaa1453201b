"""Fuzzing what comes in from files and names: export lines, reference pools, namespaces.

Complements `test_fuzz_inputs.py` with structured inputs: export records that are well formed
but carry arbitrary text and numbers, reference pools written by a YAML dumper from arbitrary
states and actions, namespace names, and the arguments of `retrieve`, `learn` and
`learn_pending`. Each input is imported whole or rejected with a
`RemembererError` that has a message, and a rejection writes nothing. Each bug found is an
`xfail(strict=True)` test naming its input, so it turns red once fixed. One in-memory memory
serves the module; every test runs under an alarm, so a Python-level hang fails it.
"""

from __future__ import annotations

import json
import math
import signal
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_rememberer import (
    Episode,
    InvalidInputError,
    ReferencePoolError,
    RemembererError,
    RemembererMemory,
    Step,
    WordLlamaEmbeddings,
)
from langchain_rememberer.reference import MAX_POOL_VISITS

MEMORY = RemembererMemory(path=None, embeddings=WordLlamaEmbeddings(), collection_name="fuzz-io")
EXAMPLES: Counter[str] = Counter()  # examples run per property, printed at the module's end
HEADER = json.dumps({"format": "langchain-rememberer/log", "version": 1, "task_weight": 0.5})
RECORD = {
    "id": "r1",
    "state_id": "s1",
    "task": "Find the coin.",
    "observation": "A kitchen.",
    "action": "go east",
    "target": 1.0,
    "reward": 1.0,
    "run_id": "run",
    "step": 0,
    "created_at": 1.0,
    "answer": "",
}
TEST_SECONDS = 120


class Hang(BaseException):
    """Raised by the alarm. Not an OSError (TimeoutError is one): storage code turns OSErrors
    into `StorageError`s, which would make a hang look like a clean rejection."""


@pytest.fixture(autouse=True)
def _alarm() -> Iterator[None]:
    def ring(_signum: int, _frame: object) -> None:
        raise Hang(f"the test ran for more than {TEST_SECONDS}s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(TEST_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True, scope="module")
def _report_counts(request) -> Iterator[None]:
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None or not EXAMPLES:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for name, count in sorted(EXAMPLES.items()):
            reporter.write_line(f"fuzz count {name}: {count} examples")


def fuzz(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,  # the alarm bounds each test; embedding makes single examples uneven
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        database=None,
    )


def _updates(namespace: str) -> int:
    return MEMORY.stats(namespace=namespace).updates


def _message(error: BaseException) -> str:
    assert str(error).strip(), f"{type(error).__name__} without a message"
    return str(error)


# Text Chroma and the embedding can take: every code point but lone surrogates (their own
# xfail cases), with control characters, line and paragraph separators, bidi marks, BOM.
AWKWARD = st.sampled_from(
    ["\x00", "\x1b[31m", "\r\n", "\u2028", "\u202e", "\ufeff", "\u200b", "\U0010ffff", "\x7f"]
)
CHAR = st.characters(exclude_categories=["Cs"])
TEXT = st.lists(st.one_of(CHAR, AWKWARD), max_size=24).map("".join)
NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**300), max_value=10**300),
    st.booleans(),
    st.none(),
    TEXT,
)


# -- import_jsonl: well-formed lines, arbitrary values ----------------------------------------


@fuzz(100)
@given(
    texts=st.fixed_dictionaries(
        dict.fromkeys(("id", "state_id", "task", "observation", "action", "run_id", "answer"), TEXT)
    ),
    numbers=st.fixed_dictionaries(dict.fromkeys(("target", "reward", "created_at"), NUMBER)),
    step=st.one_of(st.integers(-(10**20), 10**20), st.floats(allow_infinity=False), TEXT),
)
def test_import_jsonl_of_records_with_arbitrary_values(tmp_path_factory, texts, numbers, step):
    EXAMPLES["import_jsonl records"] += 1
    path = tmp_path_factory.mktemp("jsonl") / "export.jsonl"
    # A fresh id per example: hypothesis replays a failing example, which must not find its
    # record already there. An empty state id is the xfail case below.
    texts = {**texts, "id": f"{texts['id']}#{EXAMPLES['import_jsonl records']}"}
    # An import learns each run once: a fresh run id too (a run id names one episode).
    texts["run_id"] = f"{texts['run_id']}#{EXAMPLES['import_jsonl records']}"
    texts["state_id"] = texts["state_id"] or "s"
    record = {**RECORD, **texts, **numbers, "step": step}
    path.write_text(HEADER + "\n" + json.dumps(record) + "\n", encoding="utf-8")
    before = _updates("jsonl")
    try:
        added = MEMORY.import_jsonl(path, namespace="jsonl")
    except RemembererError as e:
        _message(e)
        assert _updates("jsonl") == before  # nothing of a rejected file is written
        return
    assert added == 1  # its id is new
    assert _updates("jsonl") == before + added
    # Only what Chroma can store was accepted: finite numbers.
    assert all(
        is_number and math.isfinite(float(v))
        for v, is_number in (
            (numbers[k], isinstance(numbers[k], int | float) and not isinstance(numbers[k], bool))
            for k in ("target", "reward", "created_at")
        )
    )


SURROGATE_FIELDS = ["id", "state_id", "task", "observation", "action", "run_id", "answer"]


@pytest.mark.parametrize("field", SURROGATE_FIELDS)
def test_import_jsonl_record_with_an_escaped_lone_surrogate(tmp_path, field) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text(HEADER + "\n" + json.dumps({**RECORD, field: "x\ud800"}) + "\n")
    before = _updates("jsonl-bugs")
    try:
        MEMORY.import_jsonl(path, namespace="jsonl-bugs")  # importing a normalised text is fine
    except InvalidInputError as e:
        _message(e)
        assert _updates("jsonl-bugs") == before


@pytest.mark.parametrize("where", ["header", "record"])
def test_import_jsonl_nested_deeper_than_the_recursion_limit(tmp_path, where) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    lines = [deep] if where == "header" else [HEADER, deep]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInputError):
        MEMORY.import_jsonl(path, namespace="jsonl-bugs")


def test_import_jsonl_record_with_an_empty_state_id_writes_nothing(tmp_path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text(
        HEADER + "\n" + json.dumps({**RECORD, "id": "empty-state", "state_id": ""}) + "\n"
    )
    before = _updates("jsonl-partial")
    try:
        MEMORY.import_jsonl(path, namespace="jsonl-partial")
    except RemembererError as e:
        _message(e)
    assert _updates("jsonl-partial") == before


@pytest.mark.parametrize(
    ("change", "error"),
    [({"id": ""}, "id is empty"), (None, "step 0 of run .* twice")],
    ids=["empty-id", "duplicate-ids"],
)
def test_import_jsonl_records_chroma_refuses_write_nothing(tmp_path, change, error) -> None:
    """Refused (by validation, or by Chroma as a `StorageError`) naming the cause; nothing kept."""
    rows = [{**RECORD, **change}] if change else [RECORD, {**RECORD, "action": "go west"}]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join([HEADER, *map(json.dumps, rows)]) + "\n")
    before = _updates("jsonl-refused")
    with pytest.raises(RemembererError, match=error):
        MEMORY.import_jsonl(path, namespace="jsonl-refused")
    assert _updates("jsonl-refused") == before


# -- import_reference_pool: pools a YAML dumper writes ---------------------------------------


class _PoolDumper(yaml.SafeDumper):
    """Writes tuples as `!!python/tuple`, as the reference implementation's pools are."""


_PoolDumper.add_representer(
    tuple, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:python/tuple", data)
)

POOL_NUMBER = st.one_of(
    st.integers(min_value=-2, max_value=6),
    st.just(MAX_POOL_VISITS + 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    TEXT,
)
POOL_VALUE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**300), 10**300),
    st.booleans(),
    st.none(),
    TEXT,
)
ACTIONS = st.dictionaries(
    st.tuples(st.one_of(TEXT, st.integers()), TEXT),
    st.fixed_dictionaries({"qvalue": POOL_VALUE, "number": POOL_NUMBER, "reward": POOL_VALUE}),
    max_size=3,
)
POOL = st.dictionaries(
    st.tuples(TEXT, st.one_of(TEXT, st.integers()), st.just("")),
    st.fixed_dictionaries({"action_dict": ACTIONS}),
    min_size=1,
    max_size=3,
)


def _as_finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _valid_entry(action: object, value: dict) -> bool:
    q, n, r = value["qvalue"], value["number"], value["reward"]
    # qvalue and reward are read with float(): "1.5" and True pass (as 1.5 and 1.0), a bool
    # number does not. Integers stay below 10**300 here (beyond a float: the xfail case below).
    finite = all(_as_finite(x) for x in (q, r))
    return (
        isinstance(action, str)
        and finite
        and isinstance(n, int)
        and not isinstance(n, bool)
        and 1 <= n <= MAX_POOL_VISITS
    )


@fuzz(100)
@given(pool=POOL)
def test_reference_pool_of_dumped_states_imports_whole_or_nothing(tmp_path_factory, pool) -> None:
    EXAMPLES["import_reference_pool dumped"] += 1
    path = tmp_path_factory.mktemp("pool") / "pool.yaml"
    path.write_text(yaml.dump(pool, Dumper=_PoolDumper, allow_unicode=False), encoding="utf-8")
    states = {key for key in pool if isinstance(key[1], str)}
    entries = [(a, v) for key in pool for a, v in pool[key]["action_dict"].items()]
    valid = len(states) == len(pool) and all(_valid_entry(a[0], v) for a, v in entries)
    before = _updates("pools")
    error: RemembererError | None = None
    try:
        MEMORY.import_reference_pool(path, namespace="pools")
    except RemembererError as e:
        error = e
    if error is not None:
        _message(error)
        assert isinstance(error, ReferencePoolError)
        assert not valid, f"a valid pool was rejected: {error}"
        assert _updates("pools") == before
        return
    assert valid, "an invalid pool was imported"
    visits = sum(v["number"] for _a, v in entries)
    # Importing the same file again is a no-op (its run id hashes the content).
    assert _updates("pools") - before in (0, visits)


def _pool_text(
    task: str = "Find the coin.",
    observation: str = "A kitchen.",
    action: str = "go east",
    qvalue: str = "1.0",
    reward: str = "0.5",
) -> str:
    return (
        f"? !!python/tuple [{observation}, {task}, '']\n"
        ": action_dict:\n"
        f"    ? !!python/tuple [{action}, because]\n"
        f"    : {{qvalue: {qvalue}, number: 2, reward: {reward}}}\n"
    )


def test_reference_pool_helper_pool_imports(tmp_path) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(_pool_text())
    assert MEMORY.import_reference_pool(path, namespace="pool-ok") == 1
    (state,) = MEMORY.retrieve("Find the coin.", "A kitchen.", k=1, namespace="pool-ok")
    assert [(a.action, a.q, a.visits) for a in state.actions] == [("go east", 1.0, 2)]


@pytest.mark.parametrize("field", ["task", "observation", "action"])
def test_reference_pool_with_an_escaped_lone_surrogate(tmp_path, field) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(_pool_text(**{field: '"x \\ud800"'}))
    before = _updates("pool-bugs")
    try:
        MEMORY.import_reference_pool(path, namespace="pool-bugs")  # a normalised text is fine
    except ReferencePoolError as e:
        _message(e)
        assert _updates("pool-bugs") == before


@pytest.mark.parametrize("field", ["qvalue", "reward"])
def test_reference_pool_number_beyond_a_float(tmp_path, field) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(_pool_text(**{field: "9" * 400}))
    with pytest.raises(ReferencePoolError, match=field):
        MEMORY.import_reference_pool(path, namespace="pool-bugs")


def test_reference_pool_with_an_unhashable_state_key(tmp_path) -> None:
    """A list inside a tuple key (found by fuzzing; it used to escape as a TypeError)."""
    path = tmp_path / "pool.yaml"
    path.write_text(_pool_text().replace(", '']", ", []]"))
    with pytest.raises(ReferencePoolError):
        MEMORY.import_reference_pool(path, namespace="pool-bugs")


def _tuple_laughs(levels: int, width: int) -> str:
    """A state key holding nested aliased tuples: `width**levels` leaves in a few hundred bytes."""
    parts = ["&l0 !!python/tuple [" + ", ".join(["lol"] * width) + "]"]
    parts += [
        f"&l{i} !!python/tuple [" + ", ".join([f"*l{i - 1}"] * width) + "]"
        for i in range(1, levels)
    ]
    key = "!!python/tuple [o, t, !!python/tuple [" + ", ".join(parts) + "]]"
    return f"? {key}\n: {{action_dict: {{}}}}\n"


def test_reference_pool_billion_laughs_in_a_tuple_key_is_rejected_fast(tmp_path) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(_tuple_laughs(levels=8, width=12))
    assert path.stat().st_size < 800
    started = time.perf_counter()
    try:
        MEMORY.import_reference_pool(path, namespace="pool-bugs")
    except ReferencePoolError as e:
        _message(e)
    assert time.perf_counter() - started < 0.25


# -- namespaces ------------------------------------------------------------------------------

NAME = st.one_of(
    TEXT,
    st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,12}[A-Za-z0-9]\Z"),
    st.sampled_from(["a", "a" * 128, "a" * 129, "a..b", "a.b", "-a", "a_", "127.0.0.1", "ab\t"]),
)


@fuzz(60)
@given(name=NAME.filter(lambda n: not n.endswith("\n")))  # "a\n": the xfail case below
def test_a_namespace_name_is_usable_everywhere_or_rejected_everywhere(name) -> None:
    EXAMPLES["namespace names"] += 1
    episode = Episode(task="t", run_id=f"ns-{name!r}", steps=[Step(observation="o", action="a")])
    calls = {
        "stats": lambda: MEMORY.stats(namespace=name),
        "learn": lambda: MEMORY.learn(episode, namespace=name),
        "retrieve": lambda: MEMORY.retrieve("t", "o", namespace=name),
        "constructor": lambda: RemembererMemory(
            path=None, namespace=name, embeddings=MEMORY.embeddings
        ),
    }
    outcomes = {}
    for what, call in calls.items():
        try:
            call()
        except InvalidInputError as e:
            outcomes[what] = _message(e)
        else:
            outcomes[what] = "ok"
    assert all(o == "ok" or "namespace" in o for o in outcomes.values()), outcomes
    outcomes = {what: o if o == "ok" else "rejected" for what, o in outcomes.items()}
    assert len(set(outcomes.values())) == 1, outcomes
    if outcomes["learn"] == "ok":
        assert MEMORY.stats(namespace=name).updates == 1


def test_a_namespace_with_a_trailing_newline_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="namespace"):
        MEMORY.stats(namespace="abc\n")


# -- pending episodes ------------------------------------------------------------------------


def test_save_pending_with_a_lone_surrogate_is_an_invalid_input() -> None:
    """Found by fuzzing: it used to raise pydantic's PydanticSerializationError."""
    task = "Find \ud800 the coin."
    try:  # the Episode or save_pending refuses it, or it is saved normalised
        episode = Episode(task=task, run_id="surrogate", steps=[Step(observation="o", action="a")])
        MEMORY.save_pending(episode, namespace="pending-bugs")
    except InvalidInputError as e:
        assert "surrogate" in _message(e)  # noqa: PT017
        assert MEMORY.pending_runs(namespace="pending-bugs") == []
    else:
        assert MEMORY.pending_runs(namespace="pending-bugs") == ["surrogate"]


# -- arguments of retrieve, learn and learn_pending ------------------------------------------


@fuzz(80)
@given(
    k=st.one_of(st.integers(-5, 2**32 - 2), st.floats(), st.booleans(), st.none(), TEXT),
    weight=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(10**400), 10**400),
        st.booleans(),
        st.none(),
        TEXT,
    ),
)
def test_retrieve_with_odd_k_and_task_weight(k, weight) -> None:
    EXAMPLES["retrieve k/task_weight"] += 1
    MEMORY.learn(
        Episode(task="t", run_id="retrieve-args", steps=[Step(observation="o", action="a")]),
        namespace="args",
    )
    error: InvalidInputError | None = None
    try:
        states = MEMORY.retrieve("t", "o", k=k, task_weight=weight, namespace="args")
    except InvalidInputError as e:
        error = e
    k_ok = k is None or (isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= 10_000)
    w_ok = weight is None or (
        isinstance(weight, int | float) and not isinstance(weight, bool) and 0 <= weight <= 1
    )
    if error is not None:
        assert not (k_ok and w_ok), f"valid arguments rejected: {error}"
        assert ("k must" if not k_ok else "task_weight must") in _message(error)
    else:
        assert k_ok, "an invalid k accepted"
        assert w_ok, "an invalid task_weight accepted"
        assert [s.observation for s in states] == ["o"]


@pytest.mark.parametrize("k", [2**32 - 1, 2**63], ids=["2**32-1", "2**63"])
def test_retrieve_with_a_k_beyond_chroma(k) -> None:
    try:
        states = MEMORY.retrieve("t", "o", k=k, namespace="args")  # or capped: all states
    except InvalidInputError as e:
        assert "k" in _message(e)  # noqa: PT017 - either outcome is fine
    else:
        assert len(states) <= MEMORY.stats(namespace="args").states


def test_learn_a_mapping_with_non_string_keys() -> None:
    before = _updates("args")
    with pytest.raises(InvalidInputError):
        MEMORY.learn({1: 2, "task": "t", "steps": [{"observation": "o", "action": "a"}]})
    assert _updates("args") == before


def test_learn_pending_with_a_lone_surrogate_run_id() -> None:
    with pytest.raises(RemembererError):
        MEMORY.learn_pending("run-\ud800", 1.0, namespace="args")
