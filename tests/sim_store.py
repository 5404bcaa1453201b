"""A simulated store and a deterministic scheduler for the storage protocol (DESIGN §6).

`SimStore` stands in for `_store.ChromaStore`: the same methods, on dicts, with Chroma's
semantics where the protocol relies on them — `add` keeps the first record of an id, `update`
of a missing id is ignored, `update` and `upsert` keep the metadata keys they leave out
(pinned on real Chroma by `test_multiprocess.py`). Every
method first asks the `Scheduler` for a step: the calling thread blocks until the scheduler
grants it, so one thread runs at a time and the order of store calls comes only from the
scheduler's choices (drawn by hypothesis in `tests/unit_tests/test_schedules.py`).

A scheduled actor may be killed: the store call it was granted raises `Killed` instead of
running (a process dying just before that call), which ends the actor.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.embeddings import Embeddings

from langchain_rememberer._ledger import Ledger
from langchain_rememberer._rows import Row
from langchain_rememberer._store import Namespace


class Killed(BaseException):
    """The actor's process died here (not an `Exception`: nothing may catch it and go on)."""


class HashEmbeddings(Embeddings):
    """Deterministic 8-d unit vectors from a text's hash: fast, and equal texts embed equally."""

    dim = 8

    def _one(self, text: str) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        raw = [b - 127.5 for b in digest[: self.dim]]
        norm = math.sqrt(sum(x * x for x in raw))
        return [x / norm for x in raw]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


# -- the scheduler -------------------------------------------------------------------------------


@dataclass
class Actor:
    """One thread of the simulation and what it has done."""

    index: int
    name: str
    body: Callable[[], Any]
    kill_at: int | None = None
    """Killed when granted its store call number `kill_at` (0: before its first call)."""
    steps: int = 0
    waiting: str | None = None
    finished: bool = False
    killed: bool = False
    result: Any = None
    error: BaseException | None = None
    op: Any = None
    """What it runs, for the test's own bookkeeping."""
    thread: threading.Thread | None = None


class BudgetExceededError(AssertionError):
    """A schedule took more store calls than its budget: a livelock or a settle loop."""


class Scheduler:
    """Runs actors one store call at a time, in the order `choose` picks.

    `choose(waiting)` gets the actors waiting at a store call (in index order) and returns the
    one to run next; that actor runs until its next store call or its end.
    """

    def __init__(self, choose: Callable[[list[Actor]], Actor], budget: int = 4000) -> None:
        self.choose = choose
        self.budget = budget
        self.actors: list[Actor] = []
        self.trace: list[tuple[str, str]] = []
        self.overrun = False
        self.helped: list[str] = []
        """Set by the test: runs a help completed while these actors ran."""
        self._cond = threading.Condition()
        self._running: Actor | None = None
        self._by_thread: dict[int, Actor] = {}

    def add(self, name: str, body: Callable[[], Any], kill_at: int | None = None) -> Actor:
        actor = Actor(len(self.actors), name, body, kill_at)
        self.actors.append(actor)
        return actor

    def step(self, what: str) -> None:
        """Called by the store before each call: wait for the scheduler's grant."""
        me = self._by_thread.get(threading.get_ident())
        if me is None:  # not a scheduled thread (setup, checks, recovery): run at once
            return
        with self._cond:
            if self._running is me:
                self._running = None
            me.waiting = what
            self._cond.notify_all()
            while self._running is not me:
                self._cond.wait()
            if what == "start":
                return
            me.steps += 1
            if (me.kill_at is not None and me.steps > me.kill_at) or self.overrun:
                me.killed = True
                raise Killed

    def _main(self, actor: Actor) -> None:
        self._by_thread[threading.get_ident()] = actor
        try:
            self.step("start")
            actor.result = actor.body()
        except Killed:
            actor.killed = True
        except BaseException as e:
            actor.error = e
        finally:
            with self._cond:
                actor.finished = True
                actor.waiting = None
                if self._running is actor:
                    self._running = None
                self._cond.notify_all()

    def run(self) -> None:
        """Run every actor to its end (or death), one store call at a time.

        If `choose` raises (hypothesis ends an example), every actor is killed first, so no
        thread is left waiting.
        """
        for actor in self.actors:
            actor.thread = threading.Thread(target=self._main, args=(actor,), daemon=True)
            actor.thread.start()
        granted = 0
        aborted: BaseException | None = None
        while True:
            with self._cond:
                while self._running is not None or any(
                    not a.finished and a.waiting is None for a in self.actors
                ):
                    self._cond.wait()
                waiting = [a for a in self.actors if not a.finished and a.waiting is not None]
                if not waiting:
                    break
            actor = waiting[0]
            if not self.overrun:
                try:
                    actor = self.choose(waiting)
                except BaseException as e:  # re-raised once every actor ended
                    aborted = e
                    self.overrun = True  # every actor dies at its next store call
            granted += 1
            if granted > self.budget:
                self.overrun = True
            with self._cond:
                self.trace.append((actor.name, actor.waiting or ""))
                actor.waiting = None
                self._running = actor
                self._cond.notify_all()
        for actor in self.actors:
            assert actor.thread is not None
            actor.thread.join(timeout=30)
        if aborted is not None:
            raise aborted
        if self.overrun:
            msg = f"the schedule passed its budget of {self.budget} store calls (a livelock?)"
            raise BudgetExceededError(msg)

    def schedule(self) -> list[int]:
        """The order actors ran in, as their indices (a replayable schedule)."""
        index = {a.name: a.index for a in self.actors}
        return [index[name] for name, _ in self.trace]


# -- the store -----------------------------------------------------------------------------------


@dataclass
class Space:
    """One namespace's three collections."""

    rows: dict[str, tuple[dict[str, Any], str, list[float]]] = field(default_factory=dict)
    log: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    pending: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    task_weight: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)


_HELPING = threading.local()


class CountingLedger(Ledger):
    """A `Ledger` telling its store when a done record is written by a help (`_help`)."""

    def _help(self, ns: Namespace, rows: Any, status: Any) -> Any:
        depth = getattr(_HELPING, "depth", 0)
        _HELPING.depth = depth + 1
        try:
            return super()._help(ns, rows, status)
        finally:
            _HELPING.depth = depth


class NoClient:
    """Stands where a Chroma client goes; the memory's store is a `SimStore`, so never used."""

    def _unused(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the simulation's memory reached a Chroma client")

    get_or_create_collection = list_collections = delete_collection = _unused


class SimStore:
    """`ChromaStore`'s methods on dicts, each a scheduled step (see the module docstring)."""

    collection_name = "sim"
    batch_size = 2000

    def __init__(self, scheduler: Scheduler | None = None) -> None:
        self.scheduler = scheduler
        self.client = None
        self.spaces: dict[str, Space] = {}
        self.calls = 0
        self.helped: list[str] = []
        """Run ids whose done record a help (`Ledger._help`) wrote."""

    def _step(self, what: str) -> None:
        self.calls += 1
        if self.scheduler is not None:
            self.scheduler.step(what)

    def space(self, ns: Namespace | str) -> Space:
        return self.spaces.setdefault(ns if isinstance(ns, str) else ns.name, Space())

    # -- namespaces ----------------------------------------------------------------------------

    def open(self, namespace: str, *, dim: int, task_weight: float) -> Namespace:
        space = self.space(namespace)
        if space.task_weight is None:
            space.task_weight = task_weight
        return Namespace(namespace, None, None, None, space.task_weight)

    def forget_open(self) -> None:
        pass

    def exists(self, namespace: str) -> bool:
        self._step("exists")
        return namespace in self.spaces

    def drop(self, namespace: str) -> None:
        self._step("drop")
        self.spaces.pop(namespace, None)

    # -- rows ----------------------------------------------------------------------------------

    def get_rows(self, ns: Namespace, ids: Sequence[str]) -> dict[str, Row]:
        self._step("get_rows")
        rows = self.space(ns).rows
        return {i: Row.from_chroma(i, dict(rows[i][0]), rows[i][1]) for i in ids if i in rows}

    def _nearest(self, ns: Namespace, vector: Sequence[float], n: int) -> list[Row]:
        rows = self.space(ns).rows
        scored = sorted(
            (
                (sum(a * b for a, b in zip(vector, v, strict=True)), i)
                for i, (_m, _d, v) in rows.items()
            ),
            key=lambda p: (-p[0], p[1]),
        )
        return [
            Row.from_chroma(i, dict(rows[i][0]), rows[i][1], 1.0 - score) for score, i in scored[:n]
        ]

    def query_rows(self, ns: Namespace, vector: Sequence[float], n_results: int) -> list[Row]:
        self._step("query_rows")
        return self._nearest(ns, vector, n_results)

    def nearest_rows(self, ns: Namespace, vectors: Sequence[Sequence[float]]) -> list[Row | None]:
        if not vectors:
            return []
        self._step("nearest_rows")
        return [next(iter(self._nearest(ns, v, 1)), None) for v in vectors]

    def write_rows(
        self,
        ns: Namespace,
        rows: Sequence[Row],
        vectors: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        if not rows:
            return  # ChromaStore makes no call for an empty write
        self._step("write_rows")
        vectors = vectors or {}
        stored = self.space(ns).rows
        for row in rows:
            meta, doc = row.chroma()
            if row.id in vectors:  # upsert: an existing id keeps the metadata keys left out
                kept = stored[row.id][0] if row.id in stored else {}
                merged = _merge(kept, meta)
                stored[row.id] = (merged, doc, list(map(float, vectors[row.id])))
            elif row.id in stored:  # update: keeps the vector, document and other keys
                old_meta, old_doc, vector = stored[row.id]
                stored[row.id] = (_merge(old_meta, meta), old_doc, vector)
            # else: Chroma ignores the update of a missing id

    def delete_rows(self, ns: Namespace, ids: Sequence[str]) -> None:
        if not ids:
            return
        self._step("delete_rows")
        for i in ids:
            self.space(ns).rows.pop(i, None)

    def delete_row_if(self, ns: Namespace, row_id: str, *, start: int) -> None:
        """Delete a row only if it still starts at `start` (Chroma: an id with a `where`)."""
        self._step("delete_row_if")
        rows = self.space(ns).rows
        if row_id in rows and rows[row_id][0].get("start") == start:
            del rows[row_id]

    def row_pages(self, ns: Namespace, *, size: int = 2000) -> Iterator[list[Row]]:
        self._step("row_pages")
        rows = self.space(ns).rows
        yield [Row.from_chroma(i, dict(m), d) for i, (m, d, _v) in list(rows.items())]

    def record_settings(self, ns: Namespace, settings: Mapping[str, Any]) -> None:
        self.space(ns).settings.update(settings)

    def row_count(self, ns: Namespace) -> int:
        self._step("row_count")
        return len(self.space(ns).rows)

    # -- log -----------------------------------------------------------------------------------

    def add_log(self, ns: Namespace, records: Sequence[tuple[str, Mapping[str, Any], str]]) -> None:
        if not records:
            return
        self._step("add_log:" + ",".join(sorted({i.split(":")[0] for i, _m, _d in records})))
        log = self.space(ns).log
        for record_id, meta, doc in records:
            if record_id in log:
                continue  # add keeps the first record of an id
            log[record_id] = (dict(meta), doc)
            if record_id.startswith("done:") and getattr(_HELPING, "depth", 0):
                self.helped.append(str(meta["run_id"]))

    def put_log(self, ns: Namespace, records: Sequence[tuple[str, Mapping[str, Any], str]]) -> None:
        if not records:
            return
        self._step("put_log")
        for record_id, meta, doc in records:
            self.space(ns).log[record_id] = (dict(meta), doc)

    def get_log(self, ns: Namespace, ids: Sequence[str]) -> dict[str, tuple[Any, str]]:
        self._step("get_log")
        log = self.space(ns).log
        return {i: (dict(log[i][0]), log[i][1]) for i in dict.fromkeys(ids) if i in log}

    def delete_log(self, ns: Namespace, ids: Sequence[str]) -> None:
        if not ids:
            return
        self._step("delete_log:" + ",".join(sorted({i.split(":")[0] for i in ids})))
        for i in ids:
            self.space(ns).log.pop(i, None)

    def delete_log_if(
        self, ns: Namespace, record_id: str, *, nonce: str, by: str | None = None
    ) -> None:
        """Delete a record only if it still holds `nonce` and `by` (Chroma: a `where`)."""
        self._step("delete_log_if")
        log = self.space(ns).log
        meta = log[record_id][0] if record_id in log else {}
        if meta and meta.get("nonce") == nonce and (by is None or meta.get("by") == by):
            del log[record_id]

    def log_of_kind(self, ns: Namespace, kind: str) -> list[tuple[str, Any, str]]:
        self._step("log_of_kind")
        return [
            (i, dict(m), d) for i, (m, d) in list(self.space(ns).log.items()) if m["kind"] == kind
        ]

    # -- pending episodes ----------------------------------------------------------------------

    def put_pending(self, ns: Namespace, run_id: str, payload: str, created_at: float) -> None:
        self._step("put_pending")
        self.space(ns).pending[run_id] = ({"run_id": run_id, "created_at": created_at}, payload)

    def get_pending(self, ns: Namespace, run_id: str) -> str | None:
        self._step("get_pending")
        got = self.space(ns).pending.get(run_id)
        return None if got is None else got[1]

    def delete_pending(self, ns: Namespace, run_id: str) -> None:
        self._step("delete_pending")
        self.space(ns).pending.pop(run_id, None)

    def pending_run_ids(self, ns: Namespace) -> list[str]:
        self._step("pending_run_ids")
        got = self.space(ns).pending.values()
        return [m["run_id"] for m, _d in sorted(got, key=lambda p: p[0]["created_at"])]

    def counts(self, ns: Namespace) -> tuple[int, int, int]:
        self._step("counts")
        space = self.space(ns)
        return (len(space.rows), len(space.log), len(space.pending))


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Chroma's metadata merge on `update` and `upsert`: given keys win, None deletes one."""
    return {k: v for k, v in {**old, **new}.items() if v is not None}
