"""Capacity: at most `max_states` states per namespace, the least useful evicted (DESIGN §6).

The rule: when a namespace would hold more than `max_states` states, the states with the fewest
visits go first, and among equally visited ones those whose latest update is oldest. An
evicted state's row (its vector and table) is deleted, leaving a marker and a pointer
(`_evicted.py`: learned again, it numbers its slots on from where they ended) and its slots,
which count nothing; the runs that touched it stay learned (their other states keep their
updates).

Enforced without scanning on every write: each memory counts the states its `learn`s add per
namespace, and every `check_every` added states (1% of `max_states`) asks Chroma for the
count (one call). Only when another `check_every` states would pass `max_states` does it scan
the rows and evict down to `max_states` minus `check_every`: a scan per `check_every` new
states, at most. Other processes writing the same namespace check on their own learns, so
together they may pass the cap by their batches. Rows left with decided slots pending are
settled first; a state with an undecided slot (a learn in flight) is not evicted.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from langchain_rememberer._evicted import evict_states

if TYPE_CHECKING:
    from langchain_rememberer._store import Namespace

__all__ = ["Capacity", "evict"]

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

    def evict_if_due(self, memory: Any, ns: Namespace, added: int) -> int:
        """After a learn that added `added` states: count, and evict when the cap is near.

        A failure is logged, never raised: the learn itself is done. Returns the states evicted.
        """
        if self.max_states is None or not self.due(ns.name, added):
            return 0
        try:
            if memory.store.row_count(ns) + self.check_every <= self.max_states:
                return 0
            evicted = evict(memory, ns, self.max_states - self.check_every)
        except Exception as e:
            logger.warning("rememberer: could not evict states of namespace %s: %s", ns.name, e)
            return 0
        logger.info(
            "rememberer: namespace %s: evicted %d states (max_states %d)",
            ns.name,
            evicted,
            self.max_states,
        )
        return evicted


def evict(memory: Any, ns: Namespace, keep: int) -> int:
    """Evict the least visited, then least recently updated, states down to `keep` states.

    Rows a learn left with decided slots pending, or naming its intent, are settled first (a
    write per page of them, DESIGN §6); a row with an undecided slot (a learn in flight) stays.
    """
    rows = []
    for page in memory.store.row_pages(ns):
        pending = {row.id: row for row in page if row.pending or row.live_intents()}
        settled = memory.ledger.settle(ns, pending) if pending else {}
        rows += [settled.get(row.id, row) for row in page]
    if len(rows) <= keep:
        return 0
    candidates = [row for row in rows if not row.pending]
    candidates.sort(
        key=lambda row: (sum(s.visits for s in row.base.values()), row.last_update, row.id)
    )
    victims = candidates[: len(rows) - keep]
    evict_states(memory.store, ns, victims)
    return len(victims)
