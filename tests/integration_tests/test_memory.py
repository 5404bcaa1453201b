"""`RemembererMemory` (memory.py) against real in-process Chroma and real WordLlama embeddings:
learning, retrieval, namespaces, maintenance, rollback and pending episodes.

Storage details are in test_store.py, export/import in test_transfer.py.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest

from langchain_rememberer import (
    Episode,
    FeedbackError,
    InvalidInputError,
    RemembererMemory,
    RetrievalConfig,
    RLEMConfig,
    Step,
    StorageError,
    WordLlamaEmbeddings,
)
from langchain_rememberer._store import ChromaStore
from langchain_rememberer.similarity import weighted_similarity
from tests.helpers import TASK, q_table, twin, two_step_episode


def test_monte_carlo_learning_matches_formula(make_memory) -> None:
    memory = make_memory(rlem=RLEMConfig(gamma=0.9))
    steps = [
        Step(observation="kitchen", action="go east"),
        Step(observation="pantry", action="take coin", reward=1.0),
    ]
    report = memory.learn(Episode(task=TASK, steps=steps))
    assert report.targets == pytest.approx([0.9, 1.0])
    assert report.states_added == 2
    assert report.updates_written == 2
    memory.learn(
        Episode(task=TASK, steps=[Step(observation="kitchen", action="go east", reward=-1.0)])
    )
    assert q_table(memory, TASK, "kitchen") == {"go east": (pytest.approx((0.9 - 1.0) / 2), 2)}


def test_n_step_bootstraps_from_pre_episode_values(make_memory) -> None:
    memory = make_memory(rlem=RLEMConfig(gamma=1.0, n_step=1, bootstrap_min_similarity=0.999))
    memory.learn(
        Episode(task=TASK, steps=[Step(observation="hall with a red door", action="a", reward=2.0)])
    )
    # The hall repeats inside the episode; its value must be read as it was before (2.0).
    steps = [
        Step(observation="garden with flowers", action="b"),
        Step(observation="hall with a red door", action="a"),
        Step(observation="hall with a red door", action="a"),
        Step(observation="cellar full of barrels", action="e"),
    ]
    report = memory.learn(Episode(task=TASK, steps=steps))
    assert report.targets == pytest.approx([2.0, 2.0, 0.0, 0.0])
    assert q_table(memory, TASK, "hall with a red door") == {"a": (pytest.approx(4.0 / 3.0), 3)}


def test_constant_learning_rate_through_memory(make_memory) -> None:
    memory = make_memory(rlem=RLEMConfig(gamma=1.0, learning_rate="constant", alpha=0.5))
    for reward in (2.0, 2.0, 0.0):
        memory.learn(
            Episode(task=TASK, steps=[Step(observation="room", action="a", reward=reward)])
        )
    assert q_table(memory, TASK, "room") == {"a": (pytest.approx(1.0), 3)}


def test_unseen_state_bootstraps_from_similar_state(make_memory) -> None:
    memory = make_memory(rlem=RLEMConfig(gamma=1.0, n_step=1, bootstrap_min_similarity=0.9))
    memory.learn(
        Episode(
            task=TASK,
            steps=[
                Step(
                    observation="You are in the pantry. There is a coin.",
                    action="take coin",
                    reward=1.0,
                )
            ],
        )
    )
    steps = [
        Step(observation="kitchen", action="go east"),
        Step(observation="You are in the pantry.  There is a coin!", action="x"),
    ]
    report = memory.learn(Episode(task=TASK, steps=steps))
    assert report.targets[0] == pytest.approx(1.0)  # V of the near-duplicate pantry


def test_relearning_same_run_changes_nothing(memory) -> None:
    episode = Episode(
        task=TASK, steps=[Step(observation="kitchen", action="go east", reward=1.0)], run_id="run-1"
    )
    memory.learn(episode)
    before = memory.stats()
    again = memory.learn(episode)
    assert again.already_learned
    assert again.updates_written == 0
    assert memory.stats() == before
    assert q_table(memory, TASK, "kitchen") == {"go east": (1.0, 1)}


def test_an_episode_without_steps_is_a_clear_error(memory) -> None:
    with pytest.raises(InvalidInputError, match="at least one step"):
        memory.learn(Episode(task=TASK, steps=[]))
    with pytest.raises(InvalidInputError, match="at least one step"):
        memory.learn({"task": TASK, "steps": []})
    assert memory.stats().updates == 0


def _corpus(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    goals = [
        "Find the coin",
        "Cook a meal",
        "Read the map",
        "Open the blue box",
        "Water the plant",
        "Find the key",
    ]
    rooms = [
        "kitchen",
        "pantry",
        "garden",
        "hallway",
        "bedroom",
        "cellar",
        "attic",
        "library",
        "garage",
        "study",
    ]
    things = [
        "a coin",
        "a knife",
        "a red apple",
        "a map",
        "a locked door",
        "a sofa",
        "a lamp",
        "nothing",
        "a plant",
        "a key",
    ]
    pairs = set()
    while len(pairs) < n:
        task = f"{rng.choice(goals)} in the {rng.choice(rooms)}."
        obs = (
            f"You are in the {rng.choice(rooms)}. You see {rng.choice(things)} and "
            f"{rng.choice(things)}. Exits: {rng.choice(rooms)}."
        )
        pairs.add((task, obs))
    return sorted(pairs)


@pytest.mark.parametrize("query_weight", [None, 0.2, 0.85])
def test_one_query_top_k_equals_brute_force(make_memory, embeddings, query_weight) -> None:
    # The composite ranking alone (the task floor has its own tests: test_similarity_floor).
    memory = make_memory(retrieval=RetrievalConfig(task_weight=0.5, min_task_similarity=None))
    pairs = _corpus(300)
    for i, chunk in enumerate(
        itertools.batched(pairs, 10)
        if hasattr(itertools, "batched")
        else [pairs[j : j + 10] for j in range(0, 300, 10)]
    ):
        for task, obs in chunk:
            memory.learn(
                Episode(task=task, steps=[Step(observation=obs, action=f"act {i}", reward=1.0)])
            )
    assert memory.stats().states == 300
    texts = sorted({t for pair in pairs for t in pair})
    vectors = dict(zip(texts, embeddings.embed_documents(texts), strict=True))
    weight = 0.5 if query_weight is None else query_weight
    for query_task, query_obs in [
        _corpus(1, seed=99)[0],
        pairs[17],
        ("Find the coin.", "You are in the kitchen. You see a coin."),
    ]:
        brute = sorted(
            (
                (
                    weighted_similarity(
                        vectors.get(query_task) or embeddings.embed_query(query_task),
                        vectors.get(query_obs) or embeddings.embed_query(query_obs),
                        vectors[t],
                        vectors[o],
                        weight,
                    ),
                    t,
                    o,
                )
                for t, o in pairs
            ),
            reverse=True,
        )[:5]
        got = memory.retrieve(query_task, query_obs, k=5, task_weight=query_weight)
        assert [(s.task, s.observation) for s in got] == [(t, o) for _, t, o in brute]
        assert [s.similarity for s in got] == pytest.approx([s for s, _, _ in brute], abs=1e-5)


def test_ties_broken_by_visits(memory) -> None:
    for task, times in (("Task alpha.", 1), ("Task beta.", 3)):
        for _ in range(times):
            memory.learn(
                Episode(task=task, steps=[Step(observation="same room", action="a", reward=1.0)])
            )
    # Query on the observation only: both states tie exactly; the more visited comes first.
    got = memory.retrieve("Task gamma.", "same room", k=2, task_weight=0.0)
    assert [s.task for s in got] == ["Task beta.", "Task alpha."]
    assert got[0].similarity == pytest.approx(got[1].similarity, abs=1e-6)


def test_namespaces_are_isolated(memory) -> None:
    memory.learn(
        Episode(task=TASK, steps=[Step(observation="kitchen", action="a", reward=1.0)]),
        namespace="A",
    )
    memory.learn(
        Episode(task=TASK, steps=[Step(observation="garden", action="b", reward=1.0)]),
        namespace="B",
    )
    assert {s.observation for s in memory.retrieve(TASK, "kitchen", k=5, namespace="B")} == {
        "garden"
    }
    memory.clear(namespace="A")
    assert memory.retrieve(TASK, "kitchen", k=5, namespace="A") == []
    assert memory.stats(namespace="A").states == 0
    assert memory.stats(namespace="B").states == 1
    assert [s.observation for s in memory.retrieve(TASK, "kitchen", namespace="B")] == ["garden"]


@pytest.mark.parametrize("bad", ["", "a b", "ümlaut", "x" * 200, "-lead", "a..b"])
def test_bad_namespace_is_rejected(memory, bad) -> None:
    with pytest.raises(InvalidInputError, match="namespace"):
        memory.learn(Episode(task=TASK, steps=[Step(observation="o", action="a")]), namespace=bad)


def test_forget_run_refolds_and_drops_empty_states(memory) -> None:
    keep = Episode(task=TASK, steps=[Step(observation="kitchen", action="a", reward=1.0)])
    drop = Episode(
        task=TASK,
        steps=[
            Step(observation="kitchen", action="a", reward=-1.0),
            Step(observation="attic", action="b"),
        ],
    )
    memory.learn(keep)
    memory.learn(drop)
    assert memory.forget_run(drop.run_id) == 2
    assert q_table(memory, TASK, "kitchen") == {"a": (1.0, 1)}
    assert memory.stats().states == 1


def test_rebuild_applies_a_new_learning_rule(make_memory) -> None:
    memory = make_memory()
    for reward in (2.0, 0.0):
        memory.learn(
            Episode(task=TASK, steps=[Step(observation="room", action="a", reward=reward)])
        )
    assert q_table(memory, TASK, "room") == {"a": (1.0, 2)}
    memory.rlem = RLEMConfig(gamma=1.0, learning_rate="constant", alpha=0.25)
    memory.rebuild()
    assert q_table(memory, TASK, "room") == {"a": (pytest.approx(1.5), 2)}


@pytest.mark.parametrize(
    "episode",
    [
        {"task": TASK, "steps": [{"observation": "o", "action": "a", "reward": math.nan}]},
        {"task": TASK, "steps": [{"observation": "o", "action": "a", "reward": math.inf}]},
        {"task": "", "steps": [{"observation": "o", "action": "a"}]},
        {"task": TASK, "steps": [{"observation": 7, "action": "a"}]},
        {
            "task": TASK,
            "steps": [
                {"observation": "o", "action": "a"},
                {"observation": "x" * 1_000_000, "action": "a"},
            ],
        },
        "not an episode",
    ],
)
def test_bad_episodes_write_nothing(memory, episode) -> None:
    with pytest.raises(InvalidInputError):
        memory.learn(episode)
    assert memory.stats().updates == 0
    assert memory.stats().states == 0


def test_retrieve_validates_arguments(memory) -> None:
    with pytest.raises(InvalidInputError, match="task"):
        memory.retrieve("", "o")
    with pytest.raises(InvalidInputError, match="observation"):
        memory.retrieve(TASK, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="k must be"):
        memory.retrieve(TASK, "o", k=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": -1}, "k must be"),
        ({"k": 2.5}, "k must be"),
        ({"k": True}, "k must be"),
        ({"k": "2"}, "k must be"),
        ({"task_weight": 1.5}, "task_weight must be"),
        ({"task_weight": -0.1}, "task_weight must be"),
        ({"task_weight": math.nan}, "task_weight must be"),
        ({"task_weight": "0.5"}, "task_weight must be"),
    ],
)
def test_retrieve_rejects_bad_k_and_task_weight(memory, kwargs, message) -> None:
    memory.learn(Episode(task=TASK, steps=[Step(observation="kitchen", action="a")]))
    with pytest.raises(InvalidInputError, match=message):
        memory.retrieve(TASK, "kitchen", **kwargs)


def test_retrieve_accepts_task_weight_at_the_ends(memory) -> None:
    memory.learn(Episode(task=TASK, steps=[Step(observation="kitchen", action="a")]))
    (task_only,) = memory.retrieve(TASK, "something else entirely", k=1, task_weight=1.0)
    assert task_only.similarity == pytest.approx(1.0, abs=1e-5)  # same task, observation ignored
    (obs_only,) = memory.retrieve("another goal", "kitchen", k=1, task_weight=0.0)
    assert obs_only.similarity == pytest.approx(1.0, abs=1e-5)


def test_action_history_tells_aliased_states_apart(make_memory) -> None:
    memory = make_memory(action_history=1)
    steps = [
        Step(observation="hallway", action="go north"),
        Step(observation="kitchen", action="go south"),
        Step(observation="hallway", action="go east", reward=1.0),
    ]
    memory.learn(Episode(task=TASK, steps=steps))
    assert memory.stats().states == 3  # the two hallway visits are two states
    (after_south,) = memory.retrieve(TASK, "hallway", k=1, recent_actions=["go north", "go south"])
    assert [a.action for a in after_south.actions] == ["go east"]
    (at_start,) = memory.retrieve(TASK, "hallway", k=1)
    assert [a.action for a in at_start.actions] == ["go north"]


@pytest.mark.parametrize("bad", ["2", 2.0, True, -1, None])
def test_action_history_that_is_not_a_whole_number_is_refused(make_memory, bad) -> None:
    with pytest.raises(InvalidInputError, match="action_history must be a whole number") as e:
        make_memory(action_history=bad)
    assert repr(bad) in str(e.value)


class _TableWriteFails(ChromaStore):
    """Real Chroma underneath; the first table write after arming raises (fault injection)."""

    armed = False

    def write_rows(self, ns, rows, vectors=None):
        if self.armed:
            self.armed = False
            raise StorageError("injected: the server went away while writing tables")
        return super().write_rows(ns, rows, vectors)


def test_failed_table_write_leaves_no_half_episode(memory) -> None:
    memory.learn(
        Episode(
            task=TASK, run_id="before", steps=[Step(observation="kitchen", action="a", reward=1.0)]
        )
    )
    memory.store = _TableWriteFails(memory.store.client, memory.store.collection_name)
    memory.store.armed = True
    episode = two_step_episode("half")
    with pytest.raises(StorageError, match="injected"):
        memory.learn(episode)
    assert memory.stats().updates == 1
    assert memory.stats().states == 1
    assert q_table(memory, TASK, "kitchen") == {"a": (1.0, 1)}
    # The same run can simply be retried once storage works again.
    assert memory.learn(episode).updates_written == 2
    assert q_table(memory, TASK, "kitchen") == {"a": (0.0, 2)}


def test_namespace_cleared_by_another_memory_reopens(memory, embeddings) -> None:
    memory.learn(Episode(task=TASK, steps=[Step(observation="kitchen", action="a", reward=1.0)]))
    assert memory.retrieve(TASK, "kitchen")  # collection handles are now cached
    other = RemembererMemory(
        client=memory.store.client,
        collection_name=memory.store.collection_name,
        embeddings=embeddings,
    )
    other.clear()
    assert memory.retrieve(TASK, "kitchen") == []
    memory.learn(Episode(task=TASK, steps=[Step(observation="attic", action="b")]))
    assert other.stats().updates == 1


def test_overflowing_target_writes_nothing(memory) -> None:
    memory.learn(Episode(task=TASK, steps=[Step(observation="kitchen", action="a", reward=1.0)]))
    huge = Episode(
        task=TASK,
        run_id="huge",
        steps=[
            Step(observation="kitchen", action="a", reward=1e308),
            Step(observation="attic", action="b", reward=1e308),
        ],
    )  # each reward is finite; the Monte Carlo return of step 0 is inf
    with pytest.raises(InvalidInputError, match=r"run 'huge'.*step 0 is inf.*scale the rewards"):
        memory.learn(huge)
    assert memory.stats().updates == 1
    assert not memory.is_learned("huge")
    # The log is not poisoned: everything still reads.
    assert q_table(memory, TASK, "kitchen") == {"a": (1.0, 1)}
    assert memory.learn(
        Episode(task=TASK, steps=[Step(observation="kitchen", action="a", reward=3.0)])
    ).targets == [3.0]
    assert memory.rebuild() == 1


def test_any_failure_after_the_append_rolls_back(memory, monkeypatch) -> None:
    memory.learn(
        Episode(
            task=TASK, run_id="before", steps=[Step(observation="kitchen", action="a", reward=1.0)]
        )
    )

    def fails(ns, rows, vectors=None) -> None:
        msg = "injected: not a StorageError"
        raise RuntimeError(msg)

    monkeypatch.setattr(memory.store, "write_rows", fails)
    episode = two_step_episode("half")
    with pytest.raises(RuntimeError, match="injected"):
        memory.learn(episode)
    monkeypatch.undo()
    assert memory.stats().updates == 1
    assert not memory.is_learned("half")
    assert memory.stats().states == 1
    assert q_table(memory, TASK, "kitchen") == {"a": (1.0, 1)}


def test_bootstrap_reads_a_stored_state_by_id(make_memory) -> None:
    # An empty observation embeds to a zero vector, so the stored state is never the top ANN
    # hit of its own query; V must still be its own max Q, fetched by id.
    memory = make_memory(rlem=RLEMConfig(gamma=1.0, n_step=1))
    memory.learn(Episode(task="Find coin", steps=[Step(observation="", action="look", reward=5.0)]))
    for i in range(20):
        memory.learn(
            Episode(
                task="Find coin",
                steps=[Step(observation=f"room number {i} with a door", action="wait")],
            )
        )
    steps = [Step(observation="hall", action="go"), Step(observation="", action="look")]
    report = memory.learn(Episode(task="Find coin", steps=steps))
    assert report.targets == [5.0, 0.0]


def test_bootstrap_skips_states_no_target_reads(make_memory) -> None:
    # With n_step >= T no target bootstraps: no state is read, even a stored valuable one.
    memory = make_memory(rlem=RLEMConfig(gamma=1.0, n_step=2))
    memory.learn(Episode(task=TASK, steps=[Step(observation="attic", action="a", reward=9.0)]))
    steps = [Step(observation="kitchen", action="go"), Step(observation="attic", action="a")]
    assert memory.learn(Episode(task=TASK, steps=steps)).targets == [0.0, 0.0]


class _CountingEmbeddings(WordLlamaEmbeddings):
    """Real WordLlama embeddings remembering the texts of each `embed_documents` call."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.__dict__.setdefault("calls", []).append(list(texts))
        return super().embed_documents(texts)


def test_an_episode_of_stored_states_makes_no_embedding_call(make_memory) -> None:
    embeddings = _CountingEmbeddings()
    memory = make_memory(embeddings=embeddings)
    calls = embeddings.__dict__.setdefault("calls", [])
    steps = [Step(observation="kitchen", action="go"), Step(observation="hall", action="a")]
    memory.learn(Episode(task=TASK, steps=steps))
    assert calls[-1] == [TASK, "kitchen", "hall"]
    made = len(calls)
    steps = [
        Step(observation="hall", action="b", reward=1.0),
        Step(observation="attic", action="c"),
    ]
    memory.learn(Episode(task=TASK, steps=steps))  # only the new state is embedded
    assert calls[made:] == [[TASK, "attic"]]
    memory.learn(Episode(task=TASK, steps=steps[:1]))
    assert len(calls) == made + 1
    assert q_table(memory, TASK, "hall") == {"a": (0.0, 1), "b": (1.0, 2)}


def test_a_stored_state_with_an_empty_table_is_embedded_to_bootstrap(make_memory) -> None:
    # Its run forgotten, the row stays with an empty table: V is looked up with the row's
    # vector, embedded from its task and key (the nearest row is itself: V = 0).
    embeddings = _CountingEmbeddings()
    memory = make_memory(embeddings=embeddings, rlem=RLEMConfig(gamma=1.0, n_step=1))
    memory.learn(Episode(task=TASK, run_id="gone", steps=[Step(observation="attic", action="x")]))
    memory.forget_run("gone")
    calls = embeddings.__dict__["calls"]
    made = len(calls)
    steps = [Step(observation="kitchen", action="go"), Step(observation="attic", action="y")]
    assert memory.learn(Episode(task=TASK, steps=steps)).targets == [0.0, 0.0]
    assert calls[made:] == [[TASK, "kitchen"], [TASK, "attic"]]


_RACING = Episode(
    task=TASK,
    run_id="racing",
    steps=[
        Step(observation="new room", action="take", reward=1.0),
        Step(observation="kitchen", action="go", reward=3.0),
    ],
)


def test_rebuild_keeps_states_learned_while_listing(memory, embeddings, monkeypatch) -> None:
    memory.learn(Episode(task=TASK, steps=[Step(observation="kitchen", action="go", reward=1.0)]))
    other = twin(memory, embeddings)
    listing = memory.store.row_pages
    raced = []

    def learn_then_list(ns, **kwargs):
        if not raced:  # another process learns while rebuild starts listing
            raced.append(other.learn(_RACING))
        return listing(ns, **kwargs)

    monkeypatch.setattr(memory.store, "row_pages", learn_then_list)
    memory.rebuild()
    monkeypatch.undo()
    assert raced[0].updates_written == 2
    assert memory.stats().states == 2
    assert memory.stats().updates == 3
    assert q_table(memory, TASK, "new room") == {"take": (4.0, 1)}
    assert q_table(memory, TASK, "kitchen") == {"go": (2.0, 2)}


def test_rebuild_refolds_a_log_that_grew_meanwhile(memory, embeddings, monkeypatch) -> None:
    memory.learn(Episode(task=TASK, steps=[Step(observation="kitchen", action="go", reward=1.0)]))
    other = twin(memory, embeddings)
    write = memory.store.write_rows
    raced = []

    def learn_then_write(ns, rows, vectors=None):
        if not raced:  # rebuild's first write carries tables folded before `other` learned
            raced.append(other.learn(_RACING))
        return write(ns, rows, vectors)

    monkeypatch.setattr(memory.store, "write_rows", learn_then_write)
    memory.rebuild()
    monkeypatch.undo()
    assert raced[0].updates_written == 2
    assert q_table(memory, TASK, "kitchen") == {"go": (2.0, 2)}  # not the stale (1.0, 1)
    assert q_table(memory, TASK, "new room") == {"take": (4.0, 1)}


def test_forget_run_also_drops_its_pending_episode(memory) -> None:
    memory.save_pending(Episode(task=TASK, run_id="p", steps=[Step(observation="o", action="a")]))
    memory.save_pending(Episode(task=TASK, run_id="q", steps=[Step(observation="o", action="a")]))
    assert memory.forget_run("p") == 0  # no updates yet, but the pending episode goes
    assert memory.pending_runs() == ["q"]
    with pytest.raises(FeedbackError, match="not pending"):
        memory.learn_pending("p", 1.0)
