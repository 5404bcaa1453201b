import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_rememberer.similarity import (
    composite_vectors,
    normalize,
    query_vectors,
    task_similarities,
    weighted_similarity,
)

rng = np.random.default_rng(7)


def _rows(n: int, d: int = 16) -> np.ndarray:
    return rng.normal(size=(n, d))


@settings(deadline=None, max_examples=50)
@given(stored=st.floats(0.05, 0.95), query=st.floats(0.0, 1.0))
def test_inner_product_is_weighted_similarity(stored: float, query: float) -> None:
    tasks, observations = _rows(5), _rows(5)
    stored_vectors = composite_vectors(tasks, observations, stored)
    probe = query_vectors(tasks[:1], observations[:1], stored_weight=stored, query_weight=query)[0]
    for i in range(5):
        expected = weighted_similarity(tasks[0], observations[0], tasks[i], observations[i], query)
        assert float(probe @ stored_vectors[i]) == pytest.approx(expected, abs=1e-9)


def test_composite_vectors_are_unit() -> None:
    vectors = composite_vectors(_rows(4), _rows(4), 0.3)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_zero_rows_stay_zero() -> None:
    assert np.all(normalize([[0.0, 0.0]]) == 0.0)


@pytest.mark.parametrize("weight", [0.0, 1.0, -0.1, 1.5])
def test_stored_weight_must_be_open_interval(weight: float) -> None:
    with pytest.raises(ValueError, match="task weight"):
        composite_vectors(_rows(1), _rows(1), weight)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@settings(deadline=None, max_examples=50)
@given(stored=st.floats(0.05, 0.95), query=st.floats(0.01, 1.0))
def test_task_similarities_are_the_task_cosines(stored: float, query: float) -> None:
    tasks, observations = _rows(4), _rows(4)
    stored_vectors = composite_vectors(tasks, observations, stored)
    probe = query_vectors(tasks[:1], observations[:1], stored_weight=stored, query_weight=query)[0]
    got = task_similarities(probe, stored_vectors)
    assert got == pytest.approx([_cos(tasks[0], t) for t in tasks], abs=1e-9)
    # The observation half has no say: the same tasks with other observations read the same.
    other = composite_vectors(tasks, _rows(4), stored)
    assert task_similarities(probe, other) == pytest.approx(got, abs=1e-9)


def test_a_query_ignoring_the_task_reads_zero() -> None:
    tasks, observations = _rows(2), _rows(2)
    stored_vectors = composite_vectors(tasks, observations, 0.5)
    probe = query_vectors(tasks[:1], observations[:1], stored_weight=0.5, query_weight=0.0)[0]
    assert task_similarities(probe, stored_vectors) == [0.0, 0.0]


def test_task_similarities_reject_mismatched_sizes() -> None:
    with pytest.raises(ValueError, match="even size"):
        task_similarities([1.0, 0.0, 0.0, 1.0], [[1.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="even size"):
        task_similarities([1.0, 0.0], [[1.0, 0.0, 0.0, 1.0]])


def test_task_similarities_of_nothing_stored_is_empty() -> None:
    assert task_similarities([1.0, 0.0, 0.0, 1.0], []) == []
