"""Helpers shared by several test files: a task, Q-table reads, small episodes, twin memories."""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings

from langchain_rememberer import Episode, RemembererMemory, Step

TASK = "Find the coin and take it."


def q_table(
    memory: RemembererMemory, task: str, observation: str, **retrieve_kwargs: Any
) -> dict[str, tuple[float, int]]:
    """The (Q, N) table of the state nearest to (task, observation), which must be that state."""
    (state,) = memory.retrieve(task, observation, k=1, **retrieve_kwargs)
    assert state.task == task
    assert state.observation == observation
    return {a.action: (a.q, a.visits) for a in state.actions}


def two_step_episode(run_id: str, task: str = TASK) -> Episode:
    """kitchen -a-> attic -b->, reward -1 on the first step."""
    return Episode(
        task=task,
        run_id=run_id,
        steps=[
            Step(observation="kitchen", action="a", reward=-1.0),
            Step(observation="attic", action="b"),
        ],
    )


def twin(memory: RemembererMemory, embeddings: Embeddings) -> RemembererMemory:
    """Another writer on the same Chroma collections (as another process would be)."""
    return RemembererMemory(
        client=memory.store.client,
        collection_name=memory.store.collection_name,
        embeddings=embeddings,
        rlem=memory.rlem,
    )
