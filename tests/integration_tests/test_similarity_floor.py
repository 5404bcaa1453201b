"""The default floors separate related from unrelated situations (WordLlama 256-d).

The labelled pairs live in `tests/fixtures/similarity_pairs.yaml`; a pair is scored exactly as
retrieval scores it: the λ-weighted composite of task and observation cosines (default key), and
the task cosine read from the same vectors. Pairs whose observations share one tool's output
format ("Candidates: ...", "Found 3 tickets: ...") can pass the composite floor though their
tasks are unrelated: the task floor drops them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from langchain_rememberer import Episode, RemembererMemory, RetrievalConfig, Step
from langchain_rememberer.similarity import task_similarities

PAIRS = yaml.safe_load(
    (Path(__file__).parents[1] / "fixtures" / "similarity_pairs.yaml").read_text(encoding="utf-8")
)


def _score(memory: RemembererMemory, a: list[str], b: list[str]) -> tuple[float, float]:
    """(composite, task) similarity of state `a` to query `b`."""
    weight = RetrievalConfig().task_weight
    key = memory.observation_key
    va, vb = memory.encoder.state_vectors(weight, [(a[0], key(a[1])), (b[0], key(b[1]))])
    return float(np.dot(va, vb)), task_similarities(vb, [va])[0]


@pytest.fixture(scope="module")
def scored(embeddings) -> dict[str, list[tuple[float, float]]]:
    memory = RemembererMemory(path=None, embeddings=embeddings)
    return {label: [_score(memory, a, b) for a, b in PAIRS[label]] for label in PAIRS}


@pytest.fixture(scope="module")
def scores(scored) -> dict[str, list[float]]:
    return {label: [composite for composite, _ in pairs] for label, pairs in scored.items()}


def test_the_labelled_set_is_big_enough() -> None:
    assert len(PAIRS["related"]) >= 20
    assert len(PAIRS["unrelated"]) >= 20


def test_the_labelled_set_has_shared_format_pairs() -> None:
    def shared(label: str, prefix: str) -> int:
        return sum(a[1].startswith(prefix) and b[1].startswith(prefix) for a, b in PAIRS[label])

    for prefix in ("Candidates: ", "Found "):
        assert shared("related", prefix) >= 4
        assert shared("unrelated", prefix) >= 4


def test_default_floor_keeps_every_related_pair(scores) -> None:
    floor = RetrievalConfig().min_similarity
    assert min(scores["related"]) >= floor + 0.1, sorted(scores["related"])[:3]


def test_the_composite_floor_alone_lets_a_shared_format_pair_through(scores) -> None:
    # Why the task floor exists (issue 21): "Candidates: coffee.md" looks like "Candidates: ...".
    floor = RetrievalConfig().min_similarity
    assert max(scores["unrelated"]) > floor


def test_default_task_floor_keeps_every_related_pair(scored) -> None:
    floor = RetrievalConfig().min_task_similarity
    assert floor is not None
    tasks = sorted(task for _, task in scored["related"])
    assert tasks[0] >= floor + 0.1, tasks[:3]


def test_default_floors_drop_every_unrelated_pair(scored) -> None:
    config = RetrievalConfig()
    assert config.min_task_similarity is not None
    tasks = sorted(task for _, task in scored["unrelated"])
    assert tasks[-1] <= config.min_task_similarity - 0.1, tasks[-3:]
    shown = [
        (c, t)
        for c, t in scored["unrelated"]
        if c >= config.min_similarity and t >= config.min_task_similarity
    ]
    assert shown == []


def test_unrelated_question_gets_no_exemplars(embeddings) -> None:
    memory = RemembererMemory(path=None, embeddings=embeddings)
    for (task, observation), _ in PAIRS["related"]:
        memory.learn(
            {"task": task, "steps": [{"observation": observation, "action": "a", "reward": 1.0}]}
        )
    question = "Where is the office coffee machine?"
    assert memory.format_exemplars(question, question) == ""
    # Its second step: the document search answers in the vacation lesson's format.
    assert memory.format_exemplars(question, "Candidates: coffee.md") == ""
    assert (
        memory.format_exemplars(
            "How many vacation days do I get?", "How many vacation days do I get?"
        )
        != ""
    )


def _look_alikes(embeddings, name: str, floor: float | None) -> RemembererMemory:
    """Many unrelated states sharing one observation (one tool's format), one related state."""
    memory = RemembererMemory(
        path=None,
        embeddings=embeddings,
        collection_name=name,
        retrieval=RetrievalConfig(min_task_similarity=floor),
    )
    questions = [
        "How many vacation days do I get?",
        "How do I reset my password?",
        "What is the expense limit for client dinners?",
        "Can I carry over unused vacation days?",
        "What is the dress code?",
        "Who do I ask about the parental leave policy?",
        "Where do I park my bike?",
        "How do I claim travel expenses?",
    ]
    for question in questions:
        step = {"observation": "Candidates: kitchen.md", "action": "x", "reward": 1.0}
        memory.learn({"task": question, "steps": [step]})
    step = {"observation": "The coffee machine is on floor 3.", "action": "c", "reward": 1.0}
    memory.learn({"task": "Where can I find the coffee machine?", "steps": [step]})
    return memory


def test_retrieval_looks_past_look_alikes_the_task_floor_drops(embeddings) -> None:
    task, observation = "Where is the office coffee machine?", "Candidates: kitchen.md"
    related = "Where can I find the coffee machine?"
    # Without the task floor the look-alikes are the nearest; the related state is not in the
    # first k + 1 = 3 candidates a retrieval reads first.
    no_floor = _look_alikes(embeddings, "lookalikes_nofloor", None)
    ranked = [s.task for s in no_floor.retrieve(task, observation, k=20)]
    assert ranked.index(related) >= 3, ranked
    memory = _look_alikes(embeddings, "lookalikes_floor", RetrievalConfig().min_task_similarity)
    assert [s.task for s in memory.retrieve(task, observation, k=20)] == [related]
    assert [s.task for s in memory.retrieve(task, observation, k=1)] == [related]


def test_the_task_floor_reads_the_task_whatever_the_task_weight(make_memory) -> None:
    """A λ' so small its query's task half underflows still reads cos(g, g') (found by fuzzing)."""
    memory = make_memory()
    memory.learn(Episode(task="t", run_id="r", steps=[Step(observation="o", action="a")]))
    for weight in (1e-320, 1e-160, 0.5, 1.0):
        assert [s.observation for s in memory.retrieve("t", "o", task_weight=weight)] == ["o"]
