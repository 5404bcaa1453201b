"""`StateEncoder`: from (task, observation) texts to the composite vectors of `similarity.py`."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from langchain_core.embeddings import Embeddings

from langchain_rememberer.errors import StorageError
from langchain_rememberer.similarity import (
    composite_vectors,
    normalize,
    query_scales,
    query_vectors,
    unit_vector,
)

__all__ = ["StateEncoder"]

_KEPT_TASKS = 4096
_UNKNOWN = 2.0  # no cosine is: the mark of a pair not seen yet


class StateEncoder:
    """Embeds states with any LangChain `Embeddings`, each distinct text once per call.

    Example:
        ```python
        from langchain_rememberer import WordLlamaEmbeddings
        from langchain_rememberer._encoding import StateEncoder

        encoder = StateEncoder(WordLlamaEmbeddings())
        (vector,) = encoder.state_vectors(0.5, [("Find the coin.", "A kitchen.")])
        assert len(vector) == 2 * encoder.dimension()
        ```
    """

    def __init__(self, embeddings: Embeddings) -> None:
        self.embeddings = embeddings
        self._dim: int | None = None
        self._tasks: OrderedDict[str, npt.NDArray[np.float64]] = OrderedDict()
        self._cosines: dict[tuple[str, str], float] = {}
        self._halves: dict[tuple[str, float, float], tuple[npt.NDArray[np.float64], float]] = {}

    def dimension(self) -> int:
        """Size of one text embedding (a state vector has twice as many floats); probed once."""
        if self._dim is None:
            self._dim = len(self.embeddings.embed_query("dimension probe"))
        return self._dim

    def embed(self, texts: Sequence[str]) -> dict[str, list[float]]:
        """Embed distinct texts, checking the count and size of what comes back."""
        unique = list(dict.fromkeys(texts))
        dim = self.dimension()
        vectors = self.embeddings.embed_documents(unique)
        if len(vectors) != len(unique) or any(len(v) != dim for v in vectors):
            msg = (
                "the embeddings returned vectors of the wrong count or size; expected "
                f"{len(unique)} vectors of {dim} floats"
            )
            raise StorageError(msg)
        return dict(zip(unique, vectors, strict=True))

    def state_vectors(self, weight: float, pairs: Sequence[tuple[str, str]]) -> list[list[float]]:
        """Stored vectors of (task, observation key) pairs for the task weight λ."""
        if not pairs:
            return []
        embedded = self.embed([text for pair in pairs for text in pair])
        tasks = [embedded[t] for t, _ in pairs]
        observations = [embedded[o] for _, o in pairs]
        vectors: list[list[float]] = composite_vectors(tasks, observations, weight).tolist()
        return vectors

    def query_vectors(
        self, stored_weight: float, pairs: Sequence[tuple[str, str]], query_weight: float
    ) -> list[list[float]]:
        """Query vectors scoring stored vectors (written with λ) by similarity with λ'."""
        embedded = self.embed([text for pair in pairs for text in pair])
        tasks = [embedded[t] for t, _ in pairs]
        observations = [embedded[o] for _, o in pairs]
        vectors: list[list[float]] = query_vectors(
            tasks, observations, stored_weight=stored_weight, query_weight=query_weight
        ).tolist()
        return vectors

    def query_vector(
        self, stored_weight: float, task: str, key: str, query_weight: float
    ) -> npt.NDArray[np.float64]:
        """`query_vectors` of one (task, key) pair; the task half is kept (`_task_half`).

        A retrieve's task is mostly one seen before (an agent asks step after step), so only
        the observation key is embedded then, and only its half is computed.
        """
        observation = self.embed([key])[key]
        task_half, observation_scale = self._task_half(task, stored_weight, query_weight)
        return np.concatenate((task_half, observation_scale * unit_vector(observation)))

    def _task_half(
        self, task: str, stored_weight: float, query_weight: float
    ) -> tuple[npt.NDArray[np.float64], float]:
        """A task's query half for (λ, λ'), and the observation half's factor; kept."""
        found = self._halves.get((task, stored_weight, query_weight))
        if found is None:
            task_scale, observation_scale = query_scales(stored_weight, query_weight)
            half = task_scale * normalize(self._unit(task)[np.newaxis, :])[0]
            half.flags.writeable = False
            found = (half, observation_scale)
            if len(self._halves) >= _KEPT_TASKS:
                self._halves.clear()
            self._halves[task, stored_weight, query_weight] = found
        return found

    def _unit(self, task: str) -> npt.NDArray[np.float64]:
        """The unit embedding of a task, kept with the latest `_KEPT_TASKS` ones."""
        if task not in self._tasks:
            self._tasks[task] = normalize([self.embed([task])[task]])[0]
        self._tasks.move_to_end(task)
        while len(self._tasks) > _KEPT_TASKS:
            self._tasks.popitem(last=False)
        return self._tasks[task]

    def task_cosines(self, task: str, others: Sequence[str]) -> list[float]:
        """cos(g, g') of a task and other tasks' texts (unit vectors kept, the latest 4096).

        A stored state's task half is the unit embedding of its task text, so this is the cosine
        `similarity.task_similarities` would read from the stored vectors, without fetching
        them; with a task kept, no embedding call at all.
        """
        known = [self._cosines.get((task, t), _UNKNOWN) for t in others]
        if _UNKNOWN not in known:  # every pair seen before: no vector arithmetic at all
            return known
        missing = [t for t in dict.fromkeys([task, *others]) if t not in self._tasks]
        if missing:
            for text, vector in self.embed(missing).items():
                self._tasks[text] = normalize([vector])[0]
        for text in (task, *others):
            self._tasks.move_to_end(text)
        mine = self._tasks[task]
        cosines = [float(mine @ self._tasks[t]) for t in others]
        if len(self._cosines) >= _KEPT_TASKS * 16:
            self._cosines.clear()
        self._cosines.update({(task, t): c for t, c in zip(others, cosines, strict=True)})
        while len(self._tasks) > _KEPT_TASKS:
            self._tasks.popitem(last=False)
        return cosines

    @staticmethod
    def reweight(
        stored_vector: Sequence[float], stored_weight: float, query_weight: float
    ) -> list[float]:
        """Turn a stored vector into a query vector for λ' without re-embedding.

        The halves √λ·ê(g) and √(1−λ)·ê(o) are scaled by λ'/λ and (1−λ')/(1−λ).
        """
        half = len(stored_vector) // 2
        task_scale = query_weight / stored_weight
        obs_scale = (1.0 - query_weight) / (1.0 - stored_weight)
        return [x * task_scale for x in stored_vector[:half]] + [
            x * obs_scale for x in stored_vector[half:]
        ]
