"""`StateEncoder` (`_encoding`): texts to composite state and query vectors, real WordLlama."""

from __future__ import annotations

import numpy as np
import pytest

from langchain_rememberer import StorageError, WordLlamaEmbeddings
from langchain_rememberer._encoding import StateEncoder
from langchain_rememberer.similarity import weighted_similarity

PAIRS = [
    ("Find the coin.", "A kitchen with a stove."),
    ("Cook a meal.", "A pantry full of shelves."),
    ("Find the coin.", "A pantry full of shelves."),
]


class CountingEmbeddings(WordLlamaEmbeddings):
    """Real WordLlama embeddings that remember which texts each call embedded."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.__dict__.setdefault("calls", []).append(list(texts))
        return super().embed_documents(texts)


class ShortEmbeddings(WordLlamaEmbeddings):
    """Real embeddings losing the last vector of a batch of several (a broken provider)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors = super().embed_documents(texts)
        return vectors[:-1] if len(texts) > 1 else vectors


@pytest.fixture(scope="module")
def encoder() -> StateEncoder:
    return StateEncoder(WordLlamaEmbeddings())


def test_dim_is_one_text_embedding(encoder) -> None:
    assert encoder.dimension() == len(encoder.embeddings.embed_query("anything")) == 256
    (vector,) = encoder.state_vectors(0.5, PAIRS[:1])
    assert len(vector) == 2 * encoder.dimension()


def test_each_distinct_text_is_embedded_once_per_call() -> None:
    embeddings = CountingEmbeddings()
    encoder = StateEncoder(embeddings)
    assert encoder.dimension() == 256  # the size probe is one call of its own
    encoder.state_vectors(0.5, PAIRS)
    probe, texts = embeddings.__dict__["calls"]
    assert probe == ["dimension probe"]
    assert texts == [
        "Find the coin.",
        "A kitchen with a stove.",
        "Cook a meal.",
        "A pantry full of shelves.",
    ]


def test_state_vectors_are_unit_and_score_the_weighted_similarity(encoder) -> None:
    weight = 0.3
    vectors = np.array(encoder.state_vectors(weight, PAIRS))
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-6)
    embedded = encoder.embed([t for pair in PAIRS for t in pair])
    (task_a, obs_a), (task_b, obs_b) = PAIRS[0], PAIRS[1]
    brute = weighted_similarity(
        embedded[task_a], embedded[obs_a], embedded[task_b], embedded[obs_b], weight
    )
    assert float(vectors[0] @ vectors[1]) == pytest.approx(brute, abs=1e-6)


@pytest.mark.parametrize("query_weight", [0.0, 0.2, 0.8, 1.0])
def test_query_vectors_score_with_another_weight(encoder, query_weight) -> None:
    stored = np.array(encoder.state_vectors(0.5, PAIRS))
    (query,) = encoder.query_vectors(0.5, PAIRS[:1], query_weight)
    embedded = encoder.embed([t for pair in PAIRS for t in pair])
    task, obs = PAIRS[0]
    for (other_task, other_obs), vector in zip(PAIRS, stored, strict=True):
        brute = weighted_similarity(
            embedded[task], embedded[obs], embedded[other_task], embedded[other_obs], query_weight
        )
        assert float(np.array(query) @ vector) == pytest.approx(brute, abs=1e-6)


@pytest.mark.parametrize("query_weight", [0.0, 0.35, 1.0])
def test_reweight_equals_embedding_the_query_again(encoder, query_weight) -> None:
    (stored,) = encoder.state_vectors(0.6, PAIRS[1:2])
    (embedded_again,) = encoder.query_vectors(0.6, PAIRS[1:2], query_weight)
    reweighted = StateEncoder.reweight(stored, 0.6, query_weight)
    assert reweighted == pytest.approx(embedded_again, abs=1e-6)


def test_wrong_count_of_vectors_is_a_storage_error() -> None:
    encoder = StateEncoder(ShortEmbeddings())
    with pytest.raises(StorageError, match="wrong count or size; expected 4 vectors of 256"):
        encoder.state_vectors(0.5, PAIRS)
