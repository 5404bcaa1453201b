"""Capacity: at most `max_states` states per namespace, the least useful evicted (DESIGN §6).

The rule: when a namespace would hold more than `max_states` states, the states with the fewest
visits go first, and among equally visited ones those whose latest update is oldest. An
evicted state leaves nothing behind: its table, and every log record of it (updates, archived
updates, snapshots), are deleted.

Enforced without scanning on every write: each memory counts the states its `learn`s add per
namespace, and every `check_every` added states (1% of `max_states`) asks Chroma for the
count (one call). Only when another `check_every` states would pass `max_states` does it scan
the states' metadata (ids, visits, latest update; no vectors) and evict down to `max_states`
minus `check_every`: a scan per `check_every` new states, at most. Other processes writing the
same namespace check on their own learns, so together they may pass the cap by their batches.

A state evicted while another writer learns it: the log records deleted are those read before
the delete (by id), so a record appended meanwhile survives, and the states with a log left
are folded again at the end: that writer's update stays, as the state's only one. A run that
touched an evicted state is still learned; learning it again brings that state back with that
run's update. States holding part of a run appended in several calls (sealed, longer than
`batch_size` steps) are not evicted, as deleting part of such a run would hide the rest.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from langchain_rememberer._chroma import Steps
from langchain_rememberer._records import ARCHIVED

if TYPE_CHECKING:
    from langchain_rememberer._protocol import Memory

__all__ = ["Capacity", "evict", "evict_if_due"]

logger = logging.getLogger(__name__)


class Capacity:
    """A memory's `max_states`, and how many states its learns added since the last count.

    Example:
        ```python
        from langchain_rememberer._capacity import Capacity

        capacity = Capacity(max_states=1000)
        assert capacity.check_every == 10
        assert [capacity.due("default", 4) for _ in range(3)] == [False, False, True]
        assert not Capacity(None).due("default", 10**6)
        ```
    """

    def __init__(self, max_states: int | None) -> None:
        self.max_states = max_states
        self.check_every = 1 if max_states is None else max(1, max_states // 100)
        self._added: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def due(self, namespace: str, added: int) -> bool:
        """Count `added` new states; True when it is time to count the namespace's states."""
        if self.max_states is None or added <= 0:
            return False
        with self._lock:
            self._added[namespace] += added
            if self._added[namespace] < self.check_every:
                return False
            self._added[namespace] = 0
            return True


def evict_if_due(memory: Memory, ns: Any, name: str, added: int) -> Steps[int]:
    """After a learn that added `added` states: count, and evict when the cap is near.

    A failure is logged, never raised: the learn itself is done. Returns the states evicted.
    """
    capacity = memory.capacity
    if capacity.max_states is None or not capacity.due(name, added):
        return 0
    try:
        count = yield from memory.store.state_count(ns)
        if count + capacity.check_every <= capacity.max_states:
            return 0
        evicted = yield from evict(memory, ns, capacity.max_states - capacity.check_every)
    except Exception as e:
        logger.warning("rememberer: could not evict states of namespace %s: %s", name, e)
        return 0
    logger.info(
        "rememberer: namespace %s: evicted %d states (max_states %d)",
        name,
        evicted,
        capacity.max_states,
    )
    return evicted


def evict(memory: Memory, ns: Any, keep: int) -> Steps[int]:
    """Evict the least visited, then least recently updated, states down to `keep` states."""
    store = memory.store
    ranks = yield from store.state_ranks(ns)
    if len(ranks) <= keep:
        return 0
    ranks.sort(key=lambda rank: (rank[1], rank[2], rank[0]))
    victims = [i for i, _visits, _at in ranks[: len(ranks) - keep]]
    log = yield from store.read_log(
        ns, state_ids=[*victims, *(ARCHIVED + i for i in victims)], complete=False
    )
    sealed = {r.state_id.removeprefix(ARCHIVED) for r in log if r.sealed}
    victims = [i for i in victims if i not in sealed]
    gone = set(victims)
    yield from store.delete_log(
        ns, [r.id for r in log if r.state_id.removeprefix(ARCHIVED) in gone]
    )
    yield from store.delete_states(ns, victims)
    relearned = yield from store.read_log(ns, state_ids=victims, complete=False)
    if relearned:  # another writer learned one of them meanwhile: its update stays
        yield from memory.folder.refold(ns, sorted({r.state_id for r in relearned}))
    return len(victims)
