"""Fuzzing the inputs: whatever comes in, a `RemembererError` with a message or success.

Arbitrary unicode (lone surrogates, control characters, bidi marks) in every text field,
oversized observations, odd rewards, deeply nested tool arguments, non-JSON tool artifacts,
malformed export files, hostile YAML pools and odd namespace names. A rejection writes nothing.
One in-memory Chroma memory serves the whole module.
"""

from __future__ import annotations

import json
import math
import time
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
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
from langchain_rememberer.adapters.trajectory import canonical_action, tool_reward

MEMORY = RemembererMemory(path=None, embeddings=WordLlamaEmbeddings(), collection_name="fuzz")


def fuzz(max_examples: int) -> settings:
    """Settings of one property: `max_examples` inputs, no deadline, no example database."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        database=None,
    )


# Every code point (surrogates included), weighted towards the awkward ones.
AWKWARD = st.sampled_from(
    [
        "\ud800",
        "\udfff",
        "\udc80",
        "\x00",
        "\x1b[31m",
        "\r\n",
        "\u2028",
        "\u2029",
        "\ufeff",
        "\u202e",
        "\u200b",
        "\U0010ffff",
        "\ufffe",
        "e\u0301",
        "\U0001f600",
        "\t",
        "\x7f",
        " ",
    ]
)
ANY_CHAR = st.characters(exclude_categories=())
TEXT = st.lists(st.one_of(ANY_CHAR, AWKWARD), max_size=30).map("".join)
# Lone surrogates have their own cases below.
UTF8_TEXT = TEXT.map(lambda t: "".join(c for c in t if not 0xD800 <= ord(c) <= 0xDFFF))
ODD_REWARDS = [
    None,
    True,
    False,
    "1.0",
    b"1",
    Decimal("1.5"),
    Decimal("NaN"),
    Fraction(1, 3),
    np.float32(0.5),
    np.int64(3),
    np.float64("nan"),
    complex(1, 0),
    [],
    {},
]
# Numbers beyond a float (10**400, Fraction(10**400)) have their own cases below.
FLOAT_SIZED_REWARD = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**300), max_value=10**300),
    st.sampled_from(ODD_REWARDS),
)
REWARD = st.one_of(FLOAT_SIZED_REWARD, st.sampled_from([10**400, -(10**400), Fraction(10**400)]))
HUGE = [10**400, Fraction(10**400)]


def _message(error: BaseException) -> str:
    text = str(error)
    assert text.strip(), f"{type(error).__name__} without a message"
    return text


def _updates(namespace: str | None = None) -> tuple[int, int]:
    stats = MEMORY.stats(namespace=namespace)
    return stats.updates, stats.states


# -- text in Step / Episode / learn / retrieve -----------------------------------------------


@fuzz(300)
@given(observation=TEXT, action=TEXT, answer=st.none() | TEXT, reward=REWARD)
def test_step_validates_or_raises_a_rememberer_error(observation, action, answer, reward) -> None:
    try:
        step = Step(observation=observation, action=action, answer=answer, reward=reward)
    except RemembererError as e:
        _message(e)
    else:
        assert step.observation == observation
        assert step.action == action
        assert math.isfinite(step.reward)
        assert isinstance(step.reward, float)


@fuzz(60)
@given(
    task=UTF8_TEXT,
    steps=st.lists(st.tuples(UTF8_TEXT, UTF8_TEXT, st.none() | UTF8_TEXT), min_size=1, max_size=3),
    run_id=st.one_of(st.none(), UTF8_TEXT),
)
def test_learn_arbitrary_text_succeeds_or_writes_nothing(task, steps, run_id) -> None:
    data = {
        "task": task,
        "steps": [
            {"observation": o, "action": a, "answer": ans, "reward": 1.0} for o, a, ans in steps
        ],
    }
    if run_id is not None:
        data["run_id"] = run_id
    before = _updates()
    try:
        report = MEMORY.learn(data)
    except RemembererError as e:
        _message(e)
        assert _updates() == before  # never a partial write
        return
    if report.already_learned:
        assert _updates() == before
    else:
        assert report.updates_written == len(steps)
        assert _updates()[0] == before[0] + len(steps)
    states = MEMORY.retrieve(task, steps[0][0], k=1)
    assert len(states) <= 1


@fuzz(100)
@given(task=UTF8_TEXT, observation=UTF8_TEXT, recent=st.lists(UTF8_TEXT, max_size=3))
def test_retrieve_arbitrary_text_returns_or_raises_a_rememberer_error(
    task, observation, recent
) -> None:
    before = _updates()
    try:
        states = MEMORY.retrieve(task, observation, k=2, recent_actions=recent)
        block = MEMORY.format_exemplars(task, observation, k=2)
    except RemembererError as e:
        _message(e)
    else:
        assert len(states) <= 2
        assert isinstance(block, str)
    assert _updates() == before  # reading writes nothing


SURROGATES = pytest.mark.parametrize(
    "text", ["\ud800", "a\udfffb", "\udc80 kitchen"], ids=["lone-high", "lone-low", "escaped-byte"]
)


@SURROGATES
@pytest.mark.parametrize("field", ["task", "observation", "action", "answer"])
def test_learn_with_a_lone_surrogate_is_an_invalid_input(text, field) -> None:
    values = {
        "task": "Find the coin.",
        "observation": "A kitchen.",
        "action": "go east",
        "answer": None,
    }
    values[field] = f"{values[field] or ''}{text}"
    before = _updates()
    try:
        MEMORY.learn(
            {
                "task": values["task"],
                "steps": [{k: values[k] for k in ("observation", "action", "answer")}],
            }
        )
    except RemembererError as e:
        _message(e)
        assert _updates() == before
    else:
        assert _updates()[0] == before[0] + 1


@SURROGATES
def test_retrieve_with_a_lone_surrogate(text) -> None:
    try:  # noqa: SIM105
        MEMORY.retrieve(f"Find the coin {text}", "A kitchen.", k=1)
    except RemembererError:
        pass


# -- sizes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1_000_000, 50_000_000], ids=["1MB", "50MB"])
def test_huge_observation_is_rejected_before_any_write_and_retrieves_fast(size) -> None:
    observation = ("You see a door. " * (size // 16 + 1))[:size]
    before = _updates()
    with pytest.raises(InvalidInputError, match="more than the 100,000 accepted"):
        Step(observation=observation, action="go east")
    with pytest.raises(InvalidInputError, match="observation"):
        MEMORY.learn(
            {
                "task": "Open the door.",
                "steps": [{"observation": observation, "action": "open door"}],
            }
        )
    assert _updates() == before
    started = time.perf_counter()
    states = MEMORY.retrieve("Open the door.", observation, k=1)  # the key is cut, not the call
    assert len(states) <= 1
    assert time.perf_counter() - started < 20


def test_a_10k_step_episode_is_learned_whole() -> None:
    steps = [
        Step(
            observation=f"Room {t % 7}. A long corridor.",
            action=f"go {'east' if t % 2 else 'west'}",
            reward=float(t == 9_999),
        )
        for t in range(10_000)
    ]
    report = MEMORY.learn(
        Episode(task="Walk the corridor.", run_id="ten-thousand", steps=steps), namespace="long"
    )
    assert report.updates_written == 10_000
    assert MEMORY.stats(namespace="long").updates == 10_000
    states = MEMORY.retrieve(
        "Walk the corridor.", "Room 3. A long corridor.", k=20, namespace="long"
    )
    assert sum(s.visits for s in states) == 10_000


# -- rewards ---------------------------------------------------------------------------------


@fuzz(200)
@given(reward=REWARD)
def test_odd_rewards_make_finite_float_steps_or_are_rejected(reward) -> None:
    try:
        step = Step(observation="o", action="a", reward=reward)
    except RemembererError as e:
        _message(e)
    else:
        assert isinstance(step.reward, float)
        assert math.isfinite(step.reward)


@fuzz(100)
@given(
    reward=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**300), 10**300)
    )
)
def test_learn_pending_with_odd_numeric_rewards(reward) -> None:
    run = f"pending-{time.perf_counter_ns()}"
    MEMORY.save_pending(
        Episode(task="Wait for it.", run_id=run, steps=[Step(observation="o", action="a")]),
        namespace="pending",
    )
    before = _updates("pending")
    try:
        report = MEMORY.learn_pending(run, reward, namespace="pending")
    except RemembererError as e:
        _message(e)
        assert _updates("pending") == before
        assert run in MEMORY.pending_runs(namespace="pending")  # still waiting, not lost
        MEMORY.forget_run(run, namespace="pending")
    else:
        assert report.targets and all(math.isfinite(t) for t in report.targets)  # noqa: PT018
        assert run not in MEMORY.pending_runs(namespace="pending")


@pytest.mark.parametrize("reward", HUGE, ids=["int-1e400", "fraction-1e400"])
def test_a_step_with_a_reward_beyond_a_float_is_rejected(reward) -> None:
    with pytest.raises(InvalidInputError, match="reward"):
        Step(observation="o", action="a", reward=reward)


def test_learn_pending_with_a_reward_beyond_a_float() -> None:
    MEMORY.save_pending(
        Episode(task="Wait.", run_id="huge-pending", steps=[Step(observation="o", action="a")]),
        namespace="pending",
    )
    with pytest.raises(InvalidInputError):
        MEMORY.learn_pending("huge-pending", 10**400, namespace="pending")


@pytest.mark.parametrize("reward", [None, "1.0"], ids=["None", "str"])
def test_with_final_reward_rejects_a_non_number(reward) -> None:
    episode = Episode(task="t", steps=[Step(observation="o", action="a")])
    with pytest.raises(InvalidInputError):
        episode.with_final_reward(reward)


def test_with_final_reward_rejects_a_bool() -> None:
    episode = Episode(task="t", steps=[Step(observation="o", action="a")])
    with pytest.raises(InvalidInputError):
        episode.with_final_reward(True)


# -- adapters: tool calls and tool artifacts -------------------------------------------------

JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), TEXT, st.binary(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(TEXT, st.integers(), st.none()), inner, max_size=4),
        st.tuples(inner, inner),
        st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=30,
)


@fuzz(300)
@given(
    calls=st.lists(
        st.fixed_dictionaries({"name": st.one_of(st.none(), TEXT), "args": JSONISH, "id": TEXT}),
        max_size=3,
    )
)
def test_canonical_action_renders_any_tool_args(calls) -> None:
    try:
        action = canonical_action(calls)
    except RemembererError as e:
        _message(e)
        return
    assert isinstance(action, str)
    assert action == canonical_action(calls)  # deterministic


def _nested(depth: int) -> object:
    value: object = "leaf"
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


def test_canonical_action_of_moderately_nested_args() -> None:
    action = canonical_action([{"name": "t", "args": {"x": _nested(200)}}])
    assert action.startswith("t(x=") and "leaf" in action  # noqa: PT018


def test_canonical_action_of_deeply_nested_args() -> None:
    try:
        action = canonical_action([{"name": "t", "args": {"x": _nested(5_000)}}])
    except RemembererError:
        return
    assert isinstance(action, str)


def test_canonical_action_of_circular_args() -> None:
    loop: dict = {}
    loop["self"] = loop
    action = canonical_action([{"name": "t", "args": {"x": loop}}])
    assert action.startswith("t(x=")


class _Artifact:
    def __init__(self, reward: object) -> None:
        self.reward = reward


ARTIFACT = st.one_of(
    FLOAT_SIZED_REWARD,
    JSONISH,
    st.builds(lambda r: {"reward": r}, FLOAT_SIZED_REWARD),
    st.builds(_Artifact, FLOAT_SIZED_REWARD),
    st.sampled_from([object(), b"\xff\xfe", {1, 2}, print, Path("/"), range(3)]),
)


@fuzz(300)
@given(artifact=ARTIFACT)
def test_tool_reward_of_any_artifact(artifact) -> None:
    try:
        reward = tool_reward(artifact)
    except RemembererError as e:
        _message(e)
    else:
        assert isinstance(reward, float)
        assert math.isfinite(reward)


@pytest.mark.parametrize("reward", HUGE, ids=["int-1e400", "fraction-1e400"])
def test_tool_reward_beyond_a_float(reward) -> None:
    with pytest.raises(InvalidInputError):
        tool_reward({"reward": reward})


# -- import_jsonl ----------------------------------------------------------------------------

HEADER = json.dumps({"format": "langchain-rememberer/log", "version": 1, "task_weight": 0.5})
GOOD = {
    "id": "r1",
    "state_id": "s1",
    "task": "t",
    "observation": "o",
    "action": "a",
    "target": 1.0,
    "reward": 1.0,
    "run_id": "run",
    "step": 0,
    "created_at": 1.0,
}
FIELD_VALUES = st.one_of(
    JSONISH, st.sampled_from([float("nan"), float("inf"), 1e308, -0.0, 10**30])
)


def _not_the_known_bug(key: str, value: object) -> object:
    """A non-finite step count is `test_import_jsonl_with_an_infinite_step`'s case."""
    if key in ("step", "steps") and isinstance(value, float) and not math.isfinite(value):
        return "not a number"
    return value


BAD_LINE = st.one_of(
    TEXT,
    st.builds(
        lambda k, v: json.dumps({**GOOD, k: _not_the_known_bug(k, v)}, default=str),
        st.sampled_from([*sorted(GOOD), "steps", "sealed", "answer", "fingerprint"]),
        FIELD_VALUES,
    ),
    st.builds(
        lambda k: json.dumps({x: y for x, y in GOOD.items() if x != k}),
        st.sampled_from(sorted(GOOD)),
    ),
    st.sampled_from(
        [
            "{",
            "[1,2",
            "NaN",
            "null",
            "[]",
            '"x"',
            '{"id": 1e400}',
            "\x00",
            json.dumps({**GOOD, "step": 10**30}),
        ]
    ),
)


@fuzz(150)
@given(header=st.one_of(st.just(HEADER), TEXT), lines=st.lists(BAD_LINE, min_size=1, max_size=4))
def test_import_jsonl_of_malformed_lines(tmp_path_factory, header, lines) -> None:
    path = tmp_path_factory.mktemp("jsonl") / "export.jsonl"
    # Raw lone surrogates cannot be UTF-8 (that file is its own case); escaped in JSON they
    # are still generated, as "\\ud800".
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8", errors="replace")
    before = _updates("imports")
    try:
        added = MEMORY.import_jsonl(path, namespace="imports")
    except RemembererError as e:
        _message(e)
        assert _updates("imports") == before
    else:
        assert added >= 0
        assert _updates("imports")[0] == before[0] + added


@pytest.mark.parametrize("key", ["step", "steps"])
def test_import_jsonl_with_an_infinite_step(tmp_path, key) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text(
        HEADER
        + "\n"
        + json.dumps({**GOOD, key: 0}).replace(f'"{key}": 0', f'"{key}": 1e400')
        + "\n"
    )
    with pytest.raises(InvalidInputError):
        MEMORY.import_jsonl(path, namespace="imports")


def test_import_jsonl_of_a_file_that_is_not_utf8(tmp_path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_bytes(HEADER.encode() + b"\n\xff\xfe\x00garbage\n")
    with pytest.raises(InvalidInputError):
        MEMORY.import_jsonl(path, namespace="imports")


# -- import_reference_pool -------------------------------------------------------------------

POOL = """\
!!python/tuple ["You are in the kitchen.", "Find the coin.", "go east"]:
  action_dict:
    !!python/tuple ["go east", "the pantry is east"]:
      qvalue: 1.0
      number: 2
      reward: 0.0
"""

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _pool(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pool.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _import_fails_fast(path: Path, seconds: float = 5.0) -> RemembererError:
    before = _updates("pools")
    started = time.perf_counter()
    with pytest.raises((ReferencePoolError, InvalidInputError)) as caught:
        MEMORY.import_reference_pool(path, namespace="pools")
    assert time.perf_counter() - started < seconds
    assert _updates("pools") == before
    _message(caught.value)
    return caught.value


def test_reference_pool_imports(tmp_path) -> None:
    assert MEMORY.import_reference_pool(_pool(tmp_path, POOL), namespace="pool-ok") == 1
    (state,) = MEMORY.retrieve(
        "Find the coin.", "You are in the kitchen.", k=1, namespace="pool-ok"
    )
    assert [(a.action, a.q, a.visits) for a in state.actions] == [("go east", 1.0, 2)]


@pytest.mark.parametrize(
    "payload",
    [
        '!!python/object/apply:os.system ["touch {marker}"]',
        '!!python/object/apply:subprocess.check_output [["touch", "{marker}"]]',
        '!!python/object/new:os.system ["touch {marker}"]',
        "!!python/name:os.system",
        "!!python/module:os",
    ],
    ids=["apply-os-system", "apply-subprocess", "new-os-system", "name", "module"],
)
@pytest.mark.parametrize("where", ["top", "value", "state-key", "action-key"])
def test_reference_pool_python_tags_are_rejected_never_run(tmp_path, payload, where) -> None:
    marker = tmp_path / "pwned"
    tag = payload.format(marker=marker)
    text = {
        "top": tag + "\n",
        "value": POOL.replace("qvalue: 1.0", f"qvalue: {tag}"),
        "state-key": POOL.replace('"go east"]:\n  action_dict', f"{tag}]:\n  action_dict", 1),
        "action-key": POOL.replace('"the pantry is east"]', f"{tag}]"),
    }[where]
    error = _import_fails_fast(_pool(tmp_path, text))
    assert "tag" in str(error)
    assert not marker.exists()


def test_reference_pool_billion_laughs_is_rejected_fast(tmp_path) -> None:
    _import_fails_fast(_pool(tmp_path, BILLION_LAUGHS))


@pytest.mark.parametrize("levels", [1, 5], ids=["one-list", "billion-laughs-5-levels"])
def test_reference_pool_tuple_key_holding_lists_is_rejected_fast(tmp_path, levels) -> None:
    laughs = "\n".join(BILLION_LAUGHS.splitlines()[:levels])
    alias = "abcdefghi"[levels - 1]
    text = laughs + f"\n!!python/tuple [*{alias}, *{alias}]:\n  action_dict: {{}}\n"
    _import_fails_fast(_pool(tmp_path, text))


def test_reference_pool_deeply_nested_yaml_is_rejected(tmp_path) -> None:
    _import_fails_fast(_pool(tmp_path, "[" * 5_000 + "]" * 5_000 + "\n"))


@fuzz(150)
@given(
    text=st.one_of(
        TEXT,
        st.builds(
            lambda a, b: POOL.replace(a, b),  # noqa: PLW0108
            st.sampled_from(
                [
                    "1.0",
                    "2",
                    "0.0",
                    '"go east"',
                    "action_dict",
                    "qvalue",
                    "number",
                    "!!python/tuple",
                    ":",
                ]
            ),
            st.one_of(
                TEXT,
                st.sampled_from(
                    [
                        ".nan",
                        ".inf",
                        "-1",
                        "100001",
                        "true",
                        "~",
                        "[]",
                        "{}",
                        "!!binary AAAA",
                        "!!python/tuple",
                        "*x",
                        "&x",
                    ]
                ),
            ),
        ),
    )
)
def test_reference_pool_of_arbitrary_yaml(tmp_path_factory, text) -> None:
    path = tmp_path_factory.mktemp("pool") / "pool.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = _updates("pools")
    try:
        MEMORY.import_reference_pool(path, namespace="pools")
    except RemembererError as e:
        _message(e)
        assert _updates("pools") == before
    else:
        assert _updates("pools")[0] >= before[0]


# -- namespaces ------------------------------------------------------------------------------

NAMESPACE = st.one_of(
    TEXT,
    st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,20}[A-Za-z0-9]\Z"),
    st.sampled_from(
        [
            "",
            ".",
            "..",
            "a..b",
            "-a",
            "a-",
            "a" * 128,
            "a" * 129,
            "default",
            "ümlaut",
            "a/b",
            "../etc",
            "a b",
            "a\x00b",
            "\ud800",
            0,
            None,
            b"ns",
            1.5,
        ]
    ),
)


@fuzz(80)
@given(namespace=NAMESPACE)
def test_odd_namespace_names_work_or_are_rejected(namespace) -> None:
    try:
        stats = MEMORY.stats(namespace=namespace)
    except RemembererError as e:
        _message(e)
        with pytest.raises(RemembererError):
            MEMORY.retrieve("t", "o", namespace=namespace)
        with pytest.raises(RemembererError):
            RemembererMemory(path=None, namespace=namespace, embeddings=MEMORY.embeddings)
        return
    expected = MEMORY.namespace if namespace is None else namespace
    assert stats.namespace == expected
    assert isinstance(MEMORY.retrieve("t", "o", namespace=namespace), list)
