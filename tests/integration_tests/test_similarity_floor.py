"""The default similarity floor separates related from unrelated situations (WordLlama 256-d).

The labelled pairs live in `tests/fixtures/similarity_pairs.yaml`; a pair is scored exactly as
retrieval scores it (λ-weighted composite of task and observation cosines, default key).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from langchain_rememberer import RemembererMemory, RetrievalConfig

PAIRS = yaml.safe_load(
    (Path(__file__).parents[1] / "fixtures" / "similarity_pairs.yaml").read_text(encoding="utf-8")
)


def _score(memory: RemembererMemory, a: list[str], b: list[str]) -> float:
    weight = RetrievalConfig().task_weight
    key = memory.observation_key
    va, vb = memory.encoder.state_vectors(weight, [(a[0], key(a[1])), (b[0], key(b[1]))])
    return float(np.dot(va, vb))


@pytest.fixture(scope="module")
def scores(embeddings) -> dict[str, list[float]]:
    memory = RemembererMemory(path=None, embeddings=embeddings)
    return {label: [_score(memory, a, b) for a, b in PAIRS[label]] for label in PAIRS}


def test_the_labelled_set_is_big_enough() -> None:
    assert len(PAIRS["related"]) >= 20
    assert len(PAIRS["unrelated"]) >= 20


def test_default_floor_keeps_every_related_pair(scores) -> None:
    floor = RetrievalConfig().min_similarity
    assert min(scores["related"]) >= floor + 0.1, sorted(scores["related"])[:3]


def test_default_floor_drops_every_unrelated_pair(scores) -> None:
    floor = RetrievalConfig().min_similarity
    assert max(scores["unrelated"]) <= floor - 0.1, sorted(scores["unrelated"])[-3:]


def test_unrelated_question_gets_no_exemplars(embeddings) -> None:
    memory = RemembererMemory(path=None, embeddings=embeddings)
    for (task, observation), _ in PAIRS["related"]:
        memory.learn(
            {"task": task, "steps": [{"observation": observation, "action": "a", "reward": 1.0}]}
        )
    question = "Where is the office coffee machine?"
    assert memory.format_exemplars(question, question) == ""
    assert (
        memory.format_exemplars(
            "How many vacation days do I get?", "How many vacation days do I get?"
        )
        != ""
    )
