"""Maintenance and statistics: every row at once (`stats`, `rebuild`, `compact`), in pages.

The learn and retrieve paths read by id or by the vector query (`_operations.py`); these
scan, a page of rows at a time, and batch their reads per page (DESIGN §6).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_rememberer._operations import open_namespace
from langchain_rememberer._records import Done, RunRecord
from langchain_rememberer._rows import Row, Status
from langchain_rememberer.types import CompactReport, MemoryStats

if TYPE_CHECKING:
    from langchain_rememberer._operations import RemembererMemory
    from langchain_rememberer._rows import Row
    from langchain_rememberer._store import Namespace

__all__ = ["rebuild", "settle_all", "stats"]

_REBUILD_PAGE = 500
"""Rows `rebuild` refolds per batch (a few reads and writes per batch, not per row)."""


def _views(memory: RemembererMemory, ns: Namespace) -> list[tuple[Row, dict[str, Any]]]:
    """Every row with the table readers see (a scan: statistics and maintenance only)."""
    out: list[tuple[Row, dict[str, Any]]] = []
    for page in memory.store.row_pages(ns):
        out += zip(page, memory.ledger.view(ns, page), strict=True)
    return out


def stats(memory: RemembererMemory, name: str) -> MemoryStats:
    if not memory.store.exists(name):
        return MemoryStats(namespace=name, states=0, updates=0, pending=0, task_weight=None)
    ns = open_namespace(memory, name)
    views = [table for _row, table in _views(memory, ns) if table]
    _rows, _log, pending = memory.store.counts(ns)
    return MemoryStats(
        namespace=name,
        states=len(views),
        updates=sum(s.visits for table in views for s in table.values()),
        pending=pending,
        task_weight=ns.task_weight,
    )


def rebuild(memory: RemembererMemory, namespace: str | None) -> int:
    """Refold every row from its slots; complete every prepared run first."""
    ns = open_namespace(memory, namespace)
    complete_prepared(memory, ns)  # its rows' pass is the refold's: no compact() before it
    states = 0
    for page in memory.store.row_pages(ns, size=_REBUILD_PAGE):
        refolded = memory.ledger.refold(ns, page)
        settled = memory.ledger.settle(ns, refolded, written={})
        states += sum(1 for t in memory.ledger.view(ns, list(settled.values())) if t)
    return states


def complete_prepared(memory: RemembererMemory, ns: Namespace) -> None:
    """Complete every prepared run, found from the log's run and done records (a scan).

    So a writer killed before naming its slots in any row is completed too, and a run whose
    tentative done record is void (a claim lost, DESIGN §6, "Two writes").
    """
    ledger = memory.ledger
    runs = {m["run_id"]: (i, m, d) for i, m, d in memory.store.log_of_kind(ns, "run")}
    dones = {
        m["run_id"]: Done.from_chroma(i, m, d) for i, m, d in memory.store.log_of_kind(ns, "done")
    }
    tentative = {
        r: RunRecord.from_chroma(*runs[r])
        for r, done in dones.items()
        if done.tentative and r in runs and done.nonce == runs[r][1].get("nonce")
    }
    checked = ledger.checked(ns, Status(tentative, {r: dones[r] for r in tentative}))
    for run_id, (record_id, meta, doc) in sorted(runs.items()):
        done = dones.get(run_id)
        if done is None or done.nonce != meta.get("nonce") or checked.void(run_id):
            ledger.commit(ns, RunRecord.from_chroma(record_id, meta, doc), settle=False)


def settle_all(memory: RemembererMemory, ns: Namespace) -> CompactReport:
    """Complete every prepared run, and settle every row left behind the log (maintenance).

    Prepared runs first (`complete_prepared`). Every row then reads the
    positions past its `known` (one read per page): a row a killed writer left behind another
    writer's committed slot is settled with it, and a row of an evicted incarnation (an
    eviction or its racing writer killed) is deleted.
    """
    ledger = memory.ledger
    complete_prepared(memory, ns)
    touched = folded = 0
    for page in memory.store.row_pages(ns):
        rows, found = ledger.probe(ns, {row.id: row for row in page})  # evicted: deleted
        waiting = {
            s: row for s, row in rows.items() if row.pending or row.live_intents() or s in found
        }
        if not waiting:
            continue
        settled = ledger.settle(ns, ledger.knowing(ns, waiting, found), written=waiting)
        touched += len(settled)
        folded += sum(row.through - waiting[s].through for s, row in settled.items())
    return CompactReport(states=touched, updates_archived=max(folded, 0))
