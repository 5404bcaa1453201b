"""`Memory`: what the operations read of a `RemembererMemory` (a protocol, no behaviour)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from langchain_rememberer._encoding import StateEncoder
    from langchain_rememberer._folding import Folder
    from langchain_rememberer._store import ChromaStore
    from langchain_rememberer.config import CompactionConfig, RetrievalConfig, RLEMConfig

__all__ = ["CapacityView", "Memory"]


class CapacityView(Protocol):
    """What the operations read of `_capacity.Capacity`."""

    @property
    def max_states(self) -> int | None:
        """The most states a namespace keeps (None: no limit)."""
        ...

    @property
    def check_every(self) -> int:
        """New states between two counts."""
        ...

    def due(self, namespace: str, added: int) -> bool:
        """Count `added` new states; True when it is time to count the namespace's states."""
        ...


class Memory(Protocol):
    """What the operations read of a `RemembererMemory` (its store, folder and settings)."""

    @property
    def store(self) -> ChromaStore:
        """The memory's `store`."""
        ...

    @property
    def folder(self) -> Folder:
        """The memory's `folder`."""
        ...

    @property
    def encoder(self) -> StateEncoder:
        """The memory's `encoder`."""
        ...

    @property
    def rlem(self) -> RLEMConfig:
        """The memory's `rlem`."""
        ...

    @property
    def retrieval(self) -> RetrievalConfig:
        """The memory's `retrieval`."""
        ...

    @property
    def namespace(self) -> str:
        """The memory's `namespace`."""
        ...

    @property
    def compaction(self) -> CompactionConfig:
        """The memory's `compaction`."""
        ...

    @property
    def capacity(self) -> CapacityView:
        """The memory's `max_states` and its count of added states (`_capacity.Capacity`)."""
        ...

    def state_key(self, observation: str, recent_actions: Sequence[str] = ()) -> str:
        """The text a state is stored and compared by."""
        ...
