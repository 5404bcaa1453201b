"""Upgrading a namespace written by 0.1 (storage schema 1) to the current layout (schema 2).

Schema 1's log held one record per learned update (id, state id, task, observation key as
document, action, target, reward, run id, step, time, answer, fingerprint; `sealed` runs with
their length), compaction *snapshots* (metadata `visits` > 0) beside the updates they covered
(kept, their state id prefixed `archived:`), and the states' tables. Its updates are exactly the
lines of a 0.1 export, so migrating is an import: the updates of each complete run, in schema
1's fold order (time, run, step), are learned once with their targets as stored, by
`transfer.import_records`; snapshots are left out (their updates are all there), and so is a
sealed run not wholly in the log (0.1 ignored it too). Pending episodes are copied as they are.

Both schemas use the same three collection names, so the new layout is written beside the old
one and then swapped in (docs/migrating.md says what a kill at each point leaves):

1. write `<base>.<kind>.migrating` (resumable: a run already learned there is skipped);
2. per kind, log, pending, then states (the one the schema is read from): rename
   `<base>.<kind>` to `<base>.<kind>.schema1`, then `.migrating` to `<base>.<kind>`;
3. with `drop_old`, delete the `.schema1` collections.

A `.migrating` collection beside a `.schema1` one means a swap was interrupted: it is finished
from what is there, never by reading the old log again. Neither suffix ends in a kind, so
neither is listed as a namespace.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata as package_metadata
from typing import TYPE_CHECKING, Any, Literal, cast

from langchain_rememberer import transfer
from langchain_rememberer._chroma import storage_errors
from langchain_rememberer._ledger import Ledger
from langchain_rememberer._records import LogRecord, stable_id
from langchain_rememberer._schema1 import OLD_SCHEMA, StoredVectors, old_updates, pages
from langchain_rememberer._store import KINDS, SCHEMA_VERSION, ChromaStore, Namespace
from langchain_rememberer.errors import EmbeddingDimensionError, InvalidInputError, StorageError

if TYPE_CHECKING:
    from langchain_rememberer._encoding import StateEncoder
    from langchain_rememberer._operations import RemembererMemory  # the protocol: no cycle

__all__ = ["OLD_SCHEMA", "MigrationReport", "migrate"]

WRITING = "migrating"
"""Suffix of the new layout's collections while they are written."""
KEPT = "schema1"
"""Suffix of the old collections after the swap (deleted with `drop_old`)."""
SWAP_ORDER = ("log", "pending", "states")
"""The states collection, which the schema is read from, is swapped last."""

Status = Literal["nothing to migrate", "would migrate", "migrated", "would finish", "finished"]


@dataclass(frozen=True)
class MigrationReport:
    """What `RemembererMemory.migrate` found and did (with `dry_run`: would do).

    Attributes:
        namespace: The namespace.
        status: "nothing to migrate" (already at the current schema), "would migrate" /
            "migrated", or "would finish" / "finished" (a swap a killed migration left).
        dry_run: Nothing was written.
        runs: Complete runs in the old log.
        updates: Their learned updates.
        partial_runs: Runs not wholly in the old log (left out, as 0.1 left them out).
        snapshots: Compaction snapshots left out (the updates they covered are migrated).
        pending: Episodes waiting for feedback, carried over.
        states_before: States of the old layout.
        states_after: States of the new layout (0 in a dry run).
        updates_learned: Updates learned into the new layout by this call (fewer when it
            resumes one a killed migration began; 0 in a dry run).
        kept: The old collections kept after the swap (deleted with `drop_old`).
        version: The package version that wrote the new layout.
    """

    namespace: str
    status: Status
    dry_run: bool
    runs: int = 0
    updates: int = 0
    partial_runs: int = 0
    snapshots: int = 0
    pending: int = 0
    states_before: int = 0
    states_after: int = 0
    updates_learned: int = 0
    kept: tuple[str, ...] = ()
    version: str = ""

    def summary(self) -> str:
        """One sentence saying what was (or would be) done."""
        ns = f"namespace {self.namespace}"
        if self.status == "nothing to migrate":
            kept = f"; old collections kept: {', '.join(self.kept)}" if self.kept else ""
            return f"{ns}: nothing to migrate (storage schema {SCHEMA_VERSION} already){kept}"
        if self.status in ("would finish", "finished"):
            verb = "would finish" if self.dry_run else "finished"
            return f"{ns}: {verb} the swap of an interrupted migration"
        found = (
            f"{self.runs} runs, {self.updates} updates, {self.pending} pending episodes, "
            f"{self.states_before} states"
        )
        left = f"; left out: {self.partial_runs} partial runs" if self.partial_runs else ""
        if self.dry_run:
            return f"{ns}: would migrate {found} from storage schema {OLD_SCHEMA}{left}"
        kept = f"; old collections kept as {', '.join(self.kept)}" if self.kept else ""
        return f"{ns}: migrated {found} -> {self.states_after} states{left}{kept}"


@dataclass(frozen=True)
class _Layout:
    """The collection names involved, by kind, and which of them exist."""

    main: dict[str, str]
    writing: dict[str, str]
    kept: dict[str, str]
    present: frozenset[str]

    def any_of(self, names: Mapping[str, str]) -> bool:
        return any(name in self.present for name in names.values())

    def existing(self, names: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(names[k] for k in KINDS if names[k] in self.present)


@dataclass(frozen=True)
class _Old:
    """What a schema-1 namespace holds, read whole before anything is written."""

    updates: list[LogRecord]
    runs: int
    partial_runs: int
    snapshots: int
    pending: list[tuple[str, str, float]]
    states: int
    dim: int | None
    task_weight: float | None


def package_version() -> str:
    """The installed version of langchain-rememberer ("unknown" when not installed)."""
    try:
        return package_metadata.version("langchain-rememberer")
    except package_metadata.PackageNotFoundError:
        return "unknown"


def migrate(
    memory: RemembererMemory, namespace: str, *, dry_run: bool = False, drop_old: bool = False
) -> MigrationReport:
    """Upgrade one namespace in place; see the module docstring for the steps.

    Raises:
        InvalidInputError: no such namespace, or one of a newer schema than this version's.
        EmbeddingDimensionError: a state without a stored vector, and the memory's embeddings
            are not the namespace's size.
        StorageError: the store failed, or the old log holds a malformed record.
    """
    layout = _layout(memory, namespace)
    report = MigrationReport(namespace, "nothing to migrate", dry_run, version=package_version())
    if layout.any_of(layout.kept) and layout.any_of(layout.writing):
        if not dry_run:
            _swap(memory, layout)
            layout = _layout(memory, namespace)
            if drop_old:
                _delete(memory, layout.existing(layout.kept))
                layout = _layout(memory, namespace)
        status: Status = "would finish" if dry_run else "finished"
        return dataclasses.replace(report, status=status, kept=layout.existing(layout.kept))
    if not layout.any_of(layout.main):
        msg = f"no namespace {namespace!r} under collection_name {memory.store.collection_name!r}"
        raise InvalidInputError(msg)
    schema = _schema(memory, layout)
    if schema == OLD_SCHEMA:
        return _migrate_old(memory, layout, report, drop_old=drop_old)
    if schema is not None and schema > SCHEMA_VERSION:
        msg = (
            f"namespace {namespace!r} has storage schema {schema}, newer than this version's "
            f"{SCHEMA_VERSION}: use a newer langchain-rememberer"
        )
        raise InvalidInputError(msg)
    if drop_old and not dry_run:
        _delete(memory, layout.existing(layout.kept))
        layout = _layout(memory, namespace)
    return dataclasses.replace(report, kept=layout.existing(layout.kept))


def _migrate_old(
    memory: RemembererMemory, layout: _Layout, report: MigrationReport, *, drop_old: bool
) -> MigrationReport:
    """Read the old layout, write the new one beside it, swap (or only report, in a dry run)."""
    old = _read_old(memory, layout)
    report = dataclasses.replace(
        report,
        status="would migrate",
        runs=old.runs,
        updates=len(old.updates),
        partial_runs=old.partial_runs,
        snapshots=old.snapshots,
        pending=len(old.pending),
        states_before=old.states,
    )
    if report.dry_run:
        return report
    ns = _writing_namespace(memory, report.namespace, layout, old, report.version)
    learned = transfer.import_records(_learner(memory, layout), ns, old.updates)
    for run_id, payload, created_at in old.pending:
        memory.store.put_pending(ns, run_id, payload, created_at)
    states_after = memory.store.row_count(ns)
    _swap(memory, _layout(memory, report.namespace))  # it lists the new collections
    layout = _layout(memory, report.namespace)
    if drop_old:
        _delete(memory, layout.existing(layout.kept))
        layout = _layout(memory, report.namespace)
    return dataclasses.replace(
        report,
        status="migrated",
        states_after=states_after,
        updates_learned=learned,
        kept=layout.existing(layout.kept),
    )


def _layout(memory: RemembererMemory, namespace: str) -> _Layout:
    main = memory.store.names(namespace)
    with storage_errors("list collections"):
        found = memory.store.client.list_collections()
    return _Layout(
        main=main,
        writing={k: f"{name}.{WRITING}" for k, name in main.items()},
        kept={k: f"{name}.{KEPT}" for k, name in main.items()},
        present=frozenset(c if isinstance(c, str) else str(c.name) for c in found),
    )


def _collection(memory: RemembererMemory, name: str) -> Any:
    with storage_errors(f"open collection {name!r}"):
        return memory.store.client.get_collection(name, embedding_function=None)


def _schema(memory: RemembererMemory, layout: _Layout) -> int | None:
    """The schema the namespace's states collection says (None: there is none)."""
    if layout.main["states"] not in layout.present:
        return None
    meta = _collection(memory, layout.main["states"]).metadata or {}
    return int(meta.get("rememberer_schema", SCHEMA_VERSION))


def _read_old(memory: RemembererMemory, layout: _Layout) -> _Old:
    """The old namespace's updates, pending episodes, state count, dimension and task weight.

    Raises:
        EmbeddingDimensionError: a state of the log has no stored vector (it would be embedded)
            and the memory's embeddings are not the namespace's size.
    """
    states = _collection(memory, layout.main["states"])
    meta = states.metadata or {}
    dim = int(meta["rememberer_dim"]) if "rememberer_dim" in meta else None
    stored = {i for i, _m, _d in pages(states, [])}
    log_rows = pages(_collection(memory, layout.main["log"]), ["metadatas", "documents"])
    updates, partial, snapshots = old_updates(log_rows)
    unstored = {stable_id(u.task, u.observation) for u in updates} - stored
    wanted = 2 * memory.encoder.dimension() if unstored and dim is not None else dim
    if dim is not None and wanted is not None and dim != wanted:
        msg = (
            f"namespace {layout.main['states']!r} was written with {dim // 2}-d embeddings, but "
            f"the current embeddings give {wanted // 2}-d, and {len(unstored)} of its states have "
            "no stored vector; migrate it with the embeddings it was written with"
        )
        raise EmbeddingDimensionError(msg)
    pending = []
    if layout.main["pending"] in layout.present:
        rows = pages(_collection(memory, layout.main["pending"]), ["metadatas", "documents"])
        for _i, m, doc in rows:
            pending.append((str(m["run_id"]), str(doc or ""), float(m["created_at"])))
    weight = meta.get("rememberer_task_weight")
    return _Old(
        updates=updates,
        runs=len({u.run_id for u in updates}),
        partial_runs=partial,
        snapshots=snapshots,
        pending=pending,
        states=len(stored),
        dim=dim,
        task_weight=None if weight is None else float(weight),
    )


@dataclass(frozen=True)
class _Learner:
    """What `transfer.import_records` reads of a memory, learning with the stored vectors."""

    memory: Any
    ledger: Ledger
    encoder: StoredVectors

    @property
    def store(self) -> ChromaStore:
        return self.ledger.store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.memory, name)


def _learner(memory: RemembererMemory, layout: _Layout) -> RemembererMemory:
    encoder = StoredVectors(_collection(memory, layout.main["states"]), memory.encoder)
    ledger = Ledger(memory.store, cast("StateEncoder", encoder), memory.rlem)
    return cast("RemembererMemory", _Learner(memory, ledger, encoder))


def _writing_namespace(
    memory: RemembererMemory, namespace: str, layout: _Layout, old: _Old, version: str
) -> Namespace:
    """The new layout's collections (created, or reopened to resume), as a `Namespace`."""
    dim = old.dim or 2 * memory.encoder.dimension()
    weight = memory.retrieval.task_weight if old.task_weight is None else old.task_weight
    client = memory.store.client
    with storage_errors(f"create the new collections of namespace {namespace!r}"):
        states = client.get_or_create_collection(
            layout.writing["states"],
            embedding_function=None,
            metadata={
                "hnsw:space": "ip",
                "rememberer_schema": SCHEMA_VERSION,
                "rememberer_dim": dim,
                "rememberer_task_weight": weight,
                "rememberer_migrated_from": OLD_SCHEMA,
                "rememberer_version": version,
            },
        )
        log = client.get_or_create_collection(layout.writing["log"], embedding_function=None)
        pending = client.get_or_create_collection(
            layout.writing["pending"], embedding_function=None
        )
    return Namespace(namespace, states, log, pending, weight)


def _swap(memory: RemembererMemory, layout: _Layout) -> None:
    """Per kind: the old collection to `.schema1`, then the new one into its name."""
    present = set(layout.present)
    for kind in SWAP_ORDER:
        main, writing, kept = layout.main[kind], layout.writing[kind], layout.kept[kind]
        if writing not in present:
            continue  # swapped already
        if main in present and kept in present:
            _delete_if_empty(memory, main)  # an open made it between the two renames
        elif main in present:
            _rename(memory, main, kept)
        _rename(memory, writing, main)
    memory.store.forget_open()


def _rename(memory: RemembererMemory, old: str, new: str) -> None:
    collection = _collection(memory, old)
    with storage_errors(f"rename collection {old!r} to {new!r}"):
        collection.modify(name=new)


def _delete_if_empty(memory: RemembererMemory, name: str) -> None:
    collection = _collection(memory, name)
    with storage_errors(f"count {name!r}"):
        count = int(collection.count())
    if count:
        msg = (
            f"collection {name!r} was written while a migration was interrupted (between two "
            f"renames); its {count} records are not migrated: export or delete it, then run "
            "`rememberer migrate` again"
        )
        raise StorageError(msg)
    _delete(memory, (name,))


def _delete(memory: RemembererMemory, names: Iterable[str]) -> None:
    for name in names:
        with storage_errors(f"delete {name!r}"):
            memory.store.client.delete_collection(name)
