"""Moving memories in and out: JSON-lines export of the update log, reference YAML pools.

Both turn into `LogRecord`s (one learned update each): an import learns each of their runs with
the targets given, through the same protocol as `learn` (`_ledger`), once per run id.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_rememberer import reference
from langchain_rememberer._records import (
    LogRecord,
    PlannedStep,
    Slot,
    Update,
    new_run,
    slot_id,
    stable_id,
)
from langchain_rememberer.errors import InvalidInputError
from langchain_rememberer.types import MAX_TEXT_CHARS, is_encodable, is_finite_number

__all__ = [
    "EXPORT_FORMAT",
    "export_records",
    "import_records",
    "read_export",
    "reference_pool_records",
    "write_export",
]

if TYPE_CHECKING:
    from langchain_rememberer._operations import RemembererMemory as MemoryLike
    from langchain_rememberer._store import Namespace

EXPORT_FORMAT = "langchain-rememberer/log"
_CHUNK = 500
"""Runs an export reads at once: their records, slots and rows, one read of each."""


_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})
"""The line breaks `json.dumps(ensure_ascii=False)` leaves raw, as JSON escapes: every record
stays on one line for any reader (Python's `str.splitlines()` splits on them)."""


def write_export(path: str | Path, records: Sequence[LogRecord], *, task_weight: float) -> int:
    """Write a header line and one JSON line per log record, in fold order.

    Raises:
        InvalidInputError: `path` is a directory or its folder does not exist (nothing written).
    """
    header = {"format": EXPORT_FORMAT, "version": 1, "task_weight": task_weight}
    try:
        out = Path(path).open("w", encoding="utf-8")  # noqa: SIM115 - only opening is a path error
    except OSError as e:
        raise _path_error(path, e, writing=True) from e
    with out:
        out.write(json.dumps(header) + "\n")
        for record in sorted(records, key=lambda r: r.order):
            row = {"id": record.id, **record.metadata(), "observation": record.observation}
            out.write(json.dumps(row, ensure_ascii=False).translate(_LINE_BREAKS) + "\n")
    return len(records)


def read_export(path: str | Path) -> list[LogRecord]:
    """Read a `write_export` file back, validating every record.

    Lines end at a newline only, not at the other breaks `str.splitlines` knows: an export
    written by an earlier version may hold U+2028, U+2029 or U+0085 raw inside a string.

    Raises:
        InvalidInputError: no such file, a directory, not an export, or a malformed record.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as e:
        msg = f"{path} is not a langchain-rememberer export: not UTF-8 text ({e})"
        raise InvalidInputError(msg) from e
    except OSError as e:
        raise _path_error(path, e, writing=False) from e
    try:
        header = json.loads(lines[0])
    except (json.JSONDecodeError, RecursionError):
        header = {}
    if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
        msg = f"{path} is not a langchain-rememberer export (first line must be its header)"
        raise InvalidInputError(msg)
    records = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            records.append(_record(json.loads(line)))
        except KeyError as e:
            msg = f"{path} line {number}: the record has no {e} field; nothing was imported"
            raise InvalidInputError(msg) from e
        except (TypeError, ValueError, OverflowError, RecursionError) as e:
            msg = f"{path} line {number}: malformed record ({e}); nothing was imported"
            raise InvalidInputError(msg) from e
    return records


def reference_pool_records(
    path: str | Path,
    *,
    task_key: Callable[[str], str],
    observation_key: Callable[[str], str],
) -> list[LogRecord]:
    """Log records reproducing a reference pool: N records of target Q fold to exactly (Q, N).

    The run id hashes the file's content, so importing the same file twice is a no-op.
    """
    entries = reference.load_pool(path)
    run_id = "reference-pool:" + stable_id(Path(path).read_text(encoding="utf-8"))
    now = time.time()
    records: list[LogRecord] = []
    for entry in entries:
        task, key = task_key(entry.task), observation_key(entry.observation)
        for _ in range(entry.visits):
            step = len(records)
            records.append(
                LogRecord(
                    id=stable_id("update", run_id, str(step)),
                    state_id=stable_id(task, key),
                    task=task,
                    observation=key,
                    action=entry.action,
                    target=entry.q,
                    reward=entry.reward,
                    run_id=run_id,
                    step=step,
                    created_at=now,
                )
            )
    return records


def _path_error(path: str | Path, error: OSError, *, writing: bool) -> InvalidInputError:
    """An export file that cannot be opened, said in words that tell what to fix."""
    target = Path(path)
    if target.is_dir():
        reason = "it is a directory, not a file"
    elif target.parent.exists() and not target.parent.is_dir():
        reason = f"{target.parent} is a file, not a folder"
    elif not target.parent.is_dir():
        reason = f"the folder {target.parent} does not exist"
    elif isinstance(error, FileNotFoundError):
        reason = "no such file"
    else:
        reason = error.strerror or str(error)
    doing, nothing = ("write the export to", "exported") if writing else ("read", "imported")
    msg = f"cannot {doing} {path}: {reason}; nothing was {nothing}"
    return InvalidInputError(msg)


def _record(data: Mapping[str, Any]) -> LogRecord:
    return LogRecord(
        id=_text(data, "id"),
        state_id=_text(data, "state_id"),
        task=_text(data, "task"),
        observation=_text(data, "observation", allow_empty=True),
        action=_text(data, "action"),
        target=_finite(data, "target"),
        reward=_finite(data, "reward"),
        run_id=_text(data, "run_id"),
        step=_whole(data, "step"),
        created_at=_finite(data, "created_at"),
        answer=_text(data, "answer", allow_empty=True, default=""),
        fingerprint=str(data.get("fingerprint") or ""),
        steps=_whole({"steps": 0, **data}, "steps"),
    )


def _text(
    data: Mapping[str, Any], key: str, *, allow_empty: bool = False, default: str | None = None
) -> str:
    """A record's text field: valid Unicode, and not empty unless allowed."""
    value = data.get(key, default) if default is not None else data[key]
    text = "" if value is None else str(value)
    if not allow_empty and not text.strip():
        msg = f"record {data.get('id')!r}: {key} is empty"
        raise ValueError(msg)
    if not is_encodable(text):
        msg = f"record {data.get('id')!r}: {key} holds a lone surrogate"
        raise ValueError(msg)
    if len(text) > MAX_TEXT_CHARS:
        msg = (
            f"record {data.get('id')!r}: {key} has {len(text):,} characters, more than the "
            f"{MAX_TEXT_CHARS:,} a memory accepts"
        )
        raise ValueError(msg)
    return text


def _whole(data: Mapping[str, Any], key: str) -> int:
    """A record's whole number of at least 0 (a step 1.7 is refused, not cut to 1)."""
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = (
            f"record {data.get('id')!r}: {key} must be a whole number of at least 0, got {value!r}"
        )
        raise ValueError(msg)
    return value


def _finite(data: Mapping[str, Any], key: str) -> float:
    """A record's number, which Chroma could not store unless finite."""
    value = data[key]
    if not is_finite_number(value):
        msg = f"record {data.get('id')!r}: {key} must be a finite number, got {value!r}"
        raise ValueError(msg)
    return float(value)


# -- moving records in and out of a namespace ------------------------------------------------


def export_records(memory: MemoryLike, ns: Namespace) -> list[LogRecord]:
    """Every learned update still stored, by run and step.

    An evicted state's are gone: its row is deleted first, so a slot without a row is skipped
    (an eviction killed before deleting the slots leaves readers agreeing), and so is a slot
    below its row's `start` (a state learned again numbers on past its evicted positions). The
    runs are read `_CHUNK` at a time, three reads a chunk (`_chunk_records`), not two a run.
    """
    records: list[LogRecord] = []
    dones = memory.store.log_of_kind(ns, "done")
    for start in range(0, len(dones), _CHUNK):
        chunk = dones[start : start + _CHUNK]
        records += _chunk_records(memory, ns, [meta["run_id"] for _i, meta, _d in chunk])
    return sorted(records, key=lambda r: r.order)


def _chunk_records(memory: MemoryLike, ns: Namespace, run_ids: Sequence[str]) -> list[LogRecord]:
    """The learned updates of some runs still stored, by run and slot as their done records list.

    One read of their run and done records, one of all their slots, one of all the rows those
    slots update (the store splits a read only past its batch size). A slot counts for the run
    that lists it only if that run claimed it (its run id and nonce: an evicted position taken
    again is another run's) and its state still has a row starting at or before it.
    """
    read = memory.ledger.status(ns, run_ids, check=False)
    named = [slot_id(s, i) for r, d in read.dones.items() if r in read.runs for s, i in d.slots]
    got = memory.store.get_log(ns, list(dict.fromkeys(named)))
    status = memory.ledger.checked(ns, read, got)  # a tentative done: by the slots just read
    dones = [d for run_id, d in status.dones.items() if status.learned(run_id)]
    listed = {d.run_id: list(dict.fromkeys(slot_id(s, i) for s, i in d.slots)) for d in dones}
    slots = {i: Slot.from_chroma(i, meta, doc) for i, (meta, doc) in got.items()}  # written whole
    rows = memory.store.get_rows(ns, [s for d in dones for s, _i in d.slots])
    records: list[LogRecord] = []
    for run_id, ids in listed.items():
        run = status.runs[run_id]
        for slot in (slots[i] for i in ids if i in slots):
            mine = slot.run_id == run_id and slot.nonce == run.nonce  # not re-claimed
            row = rows.get(slot.state_id)  # none: evicted
            if mine and row is not None and slot.index >= row.start:  # not an evicted position
                records += slot.log_records(run)
    return records


def import_records(memory: MemoryLike, ns: Namespace, records: Sequence[LogRecord]) -> int:
    """Learn each run of `records` with the targets given; returns updates newly learned.

    A run already learned is skipped (importing a file twice learns nothing the second time).

    Raises:
        InvalidInputError: a run holds a step twice (checked before anything is written).
    """
    by_run: dict[str, list[LogRecord]] = defaultdict(list)
    for record in records:
        by_run[record.run_id].append(record)
    for run_id, group in by_run.items():
        steps = [r.step for r in group]
        if len(set(steps)) < len(steps):
            twice = next(t for t in steps if steps.count(t) > 1)
            msg = f"the file holds step {twice} of run {run_id!r} twice; nothing was imported"
            raise InvalidInputError(msg)
    return sum(
        _import_run(memory, ns, run_id, sorted(group, key=lambda r: r.step))
        for run_id, group in by_run.items()
    )


def _import_run(memory: MemoryLike, ns: Namespace, run_id: str, group: Sequence[LogRecord]) -> int:
    ledger, task = memory.ledger, group[0].task
    steps = [
        PlannedStep(
            stable_id(r.task, r.observation),
            r.observation,
            Update(r.step, r.action, r.target, r.reward, r.answer),
            "" if r.task == task else r.task,
        )
        for r in group
    ]
    # With where a state evicted before starts again, if it has no row (`_evicted.py`).
    status = ledger.status(ns, [run_id], list(dict.fromkeys(s.state_id for s in steps)))
    if status.learned(run_id):
        return 0
    fingerprint = group[0].fingerprint or stable_id("import", run_id, str(len(group)))
    when = min(r.created_at for r in group) or None  # the exported run's time, if it had one
    stored = status.runs.get(run_id)  # a killed import's, if any
    run = stored or new_run(run_id, fingerprint, task, steps, when)
    committed, added, _run = ledger.commit(ns, run, before=status, prepared=stored is not None)
    if committed:
        memory.evict_if_due(ns, added)
    return len(group) if committed else 0
