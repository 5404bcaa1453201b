"""Composite vectors for one-query, λ-weighted retrieval (pure numpy, no I/O).

A state (g, o) is stored as the unit vector v = [√λ · ê(g) ; √(1−λ) · ê(o)], so the inner
product of two such vectors is exactly s = λ·cos(g, g') + (1−λ)·cos(o, o'). Querying with
[λ'/√λ · ê(g) ; (1−λ')/√(1−λ) · ê(o)] gives the same score for another weight λ' without
re-embedding anything.

The task half alone gives the task cosine: the first half of a stored vector over √λ is the unit
task vector ê(g), so `task_similarities` reads cos(g, g') from the vectors the index already
holds, for a floor on the task alone beside the composite floor (DESIGN §4).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "composite_vectors",
    "normalize",
    "query_scales",
    "query_vectors",
    "task_similarities",
    "unit_vector",
    "weighted_similarity",
]

FloatArray = npt.NDArray[np.float64]


def normalize(vectors: Sequence[Sequence[float]] | FloatArray) -> FloatArray:
    """L2-normalise rows; an all-zero row stays zero."""
    array = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    # What np.linalg.norm(array, axis=1, keepdims=True) computes, without its dispatch.
    norms = np.sqrt(np.add.reduce(array * array, axis=1, keepdims=True))
    result: FloatArray = np.divide(array, norms, out=np.zeros_like(array), where=norms > 0)
    return result


def unit_vector(vector: Sequence[float] | FloatArray) -> FloatArray:
    """`normalize` of one vector, as a 1-d array: the same floats, with fewer steps."""
    array = np.asarray(vector, dtype=np.float64)
    norm = np.sqrt(np.add.reduce(array * array))
    result: FloatArray = array / norm if norm > 0 else np.zeros_like(array)
    return result


def composite_vectors(
    task_vectors: Sequence[Sequence[float]] | FloatArray,
    observation_vectors: Sequence[Sequence[float]] | FloatArray,
    task_weight: float,
) -> FloatArray:
    """Stored vectors [√λ·ê(g) ; √(1−λ)·ê(o)] for rows of task and observation embeddings."""
    _check_weight(task_weight, open_interval=True)
    tasks, observations = normalize(task_vectors), normalize(observation_vectors)
    return np.hstack([np.sqrt(task_weight) * tasks, np.sqrt(1.0 - task_weight) * observations])


def query_vectors(
    task_vectors: Sequence[Sequence[float]] | FloatArray,
    observation_vectors: Sequence[Sequence[float]] | FloatArray,
    *,
    stored_weight: float,
    query_weight: float,
) -> FloatArray:
    """Query vectors whose inner product with stored vectors is the λ'-weighted similarity."""
    task_scale, observation_scale = query_scales(stored_weight, query_weight)
    tasks, observations = normalize(task_vectors), normalize(observation_vectors)
    return np.hstack([task_scale * tasks, observation_scale * observations])


def query_scales(stored_weight: float, query_weight: float) -> tuple[float, float]:
    """The factors λ'/√λ and (1−λ')/√(1−λ) of a query vector's unit task and observation halves.

    `StateEncoder` keeps a task's scaled half and scales one unit observation vector
    (`unit_vector`) per retrieve: the same floats as `query_vectors`.
    """
    _check_weight(stored_weight, open_interval=True)
    _check_weight(query_weight, open_interval=False)
    task_scale: float = query_weight / np.sqrt(stored_weight)
    observation_scale: float = (1.0 - query_weight) / np.sqrt(1.0 - stored_weight)
    return task_scale, observation_scale


def task_similarities(
    query_vector: Sequence[float] | FloatArray,
    stored_vectors: Sequence[Sequence[float]] | FloatArray,
) -> list[float]:
    """cos(g, g') of a query and stored composite vectors, from their task halves.

    Both are `[a·ê(g) ; b·ê(o)]` with a > 0 (a stored vector, or a query with λ' > 0): the task
    halves, normalised, are the unit task vectors whatever the weights. A half that is all
    zero (λ' = 0: the query ignores the task) gives 0; no stored vectors give [].

    Example:
        ```python
        from langchain_rememberer.similarity import composite_vectors, task_similarities

        stored = composite_vectors([[1.0, 0.0], [0.6, 0.8]], [[0.0, 1.0], [0.0, 1.0]], 0.5)
        query = composite_vectors([[1.0, 0.0]], [[1.0, 0.0]], 0.3)[0]
        assert [round(c, 6) for c in task_similarities(query, stored)] == [1.0, 0.6]
        ```
    """
    stored = np.atleast_2d(np.asarray(stored_vectors, dtype=np.float64))
    query = np.asarray(query_vector, dtype=np.float64).ravel()
    if stored.size == 0:
        return []
    half = stored.shape[1] // 2
    if stored.shape[1] != 2 * half or query.shape[0] != stored.shape[1]:
        msg = (
            f"composite vectors of one even size expected, got a query of {query.shape[0]} and "
            f"stored vectors of {stored.shape[1]} floats"
        )
        raise ValueError(msg)
    tasks = normalize(stored[:, :half])
    cosines: list[float] = (tasks @ normalize(query[:half])[0]).tolist()
    return cosines


def weighted_similarity(
    task: Sequence[float] | FloatArray,
    observation: Sequence[float] | FloatArray,
    other_task: Sequence[float] | FloatArray,
    other_observation: Sequence[float] | FloatArray,
    task_weight: float,
) -> float:
    """Brute-force s = λ·cos(g, g') + (1−λ)·cos(o, o'); the reference the index must match."""
    tasks = normalize(np.vstack([task, other_task]))
    observations = normalize(np.vstack([observation, other_observation]))
    cos_task = float(tasks[0] @ tasks[1])
    cos_observation = float(observations[0] @ observations[1])
    return task_weight * cos_task + (1.0 - task_weight) * cos_observation


def _check_weight(weight: float, *, open_interval: bool) -> None:
    low_ok = weight > 0.0 if open_interval else weight >= 0.0
    high_ok = weight < 1.0 if open_interval else weight <= 1.0
    if not (low_ok and high_ok):
        bounds = "(0, 1)" if open_interval else "[0, 1]"
        msg = f"task weight must be in {bounds}, got {weight!r}"
        raise ValueError(msg)
