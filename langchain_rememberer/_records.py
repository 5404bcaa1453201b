"""The records of the log, and whether a slot counts (no I/O).

Read DESIGN §6 first: it states the invariants these rules keep. In short, per namespace:

- a **run** record (`RunRecord`, id `run:<hash>`) holds a whole episode's updates, written once
  (Chroma's `add` keeps the first record of an id): it is *prepared*;
- a **slot** (`Slot`, id `slot:<state>:<i>`) is the i-th position of a state's sequence,
  claimed by `add` (one writer wins each position) and holding one run's updates to that state;
  a *marker* slot (`forget=True`) only says "refold this state from its slots";
- a **done** record (`Done`, id `done:<hash>`) commits a prepared run: it names the run's
  nonce and the one slot per state that counts. A run is *learned* exactly when its run and
  done records both exist with one nonce (`_rows.Status.learned`);
- a **row** (`_rows.Row`, the states collection) caches a state's fold (`_rows.py`);
- an eviction **marker** and **pointer** number an evicted state's positions on (`_evicted.py`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_rememberer.errors import InvalidInputError, StorageError

__all__ = [
    "Done",
    "LogRecord",
    "RunRecord",
    "Slot",
    "Update",
    "done_id",
    "new_run",
    "run_key",
    "slot_id",
    "stable_id",
]

OUTCOME_KEYS = ("reward", "created_at", "arm", "holdout", "unit")
"""The run record's metadata keys `lift()` reads (`RunRecord.outcome`)."""


def stable_id(*parts: str) -> str:
    """A 32-hex-digit id hashing `parts` unambiguously."""
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()
    return digest[:32]


def run_key(run_id: str) -> str:
    """The id of a run's run record."""
    return "run:" + stable_id("run", run_id)


def done_id(run_id: str) -> str:
    """The id of a run's done record."""
    return "done:" + stable_id("run", run_id)


def slot_id(state_id: str, index: int) -> str:
    """The id of position `index` of a state's slot sequence."""
    return f"slot:{state_id}:{index}"


@dataclass(frozen=True)
class Update:
    """One step's update of one state: an action's RLEM target and the step's reward."""

    step: int
    action: str
    target: float
    reward: float
    answer: str = ""

    def row(self) -> list[Any]:
        """As stored: [step, action, target, reward, answer]."""
        return [self.step, self.action, self.target, self.reward, self.answer]

    @classmethod
    def of(cls, row: Sequence[Any]) -> Update:
        """Inverse of `row`."""
        step, action, target, reward, answer = row
        return cls(int(step), str(action), float(target), float(reward), str(answer))


@dataclass(frozen=True)
class LogRecord:
    """One learned update as exported: a step of a run on a state (`transfer.py`)."""

    id: str
    state_id: str
    task: str
    observation: str
    action: str
    target: float
    reward: float
    run_id: str
    step: int
    created_at: float = 0.0
    answer: str = ""
    fingerprint: str = ""
    steps: int = 0

    @property
    def order(self) -> tuple[str, int]:
        """Export order: by run, then step."""
        return (self.run_id, self.step)

    def metadata(self) -> dict[str, str | int | float]:
        """The fields written to an export line (the observation is written beside them)."""
        return {
            "state_id": self.state_id,
            "task": self.task,
            "action": self.action,
            "target": self.target,
            "reward": self.reward,
            "run_id": self.run_id,
            "step": self.step,
            "created_at": self.created_at,
            **({"answer": self.answer} if self.answer else {}),
            **({"fingerprint": self.fingerprint} if self.fingerprint else {}),
            **({"steps": self.steps} if self.steps else {}),
        }


@dataclass(frozen=True)
class Slot:
    """A claimed position of a state's sequence: one run's updates to that state, in step order."""

    state_id: str
    index: int
    run_id: str
    updates: tuple[Update, ...] = ()
    task: str = ""
    key: str = ""
    forget: bool = False
    """A marker: the run was forgotten; whoever sees it refolds the state from its slots."""
    nonce: str = ""
    """The nonce of the run record (or forget) that claimed it: tells a claimer its own slots."""
    plan: tuple[tuple[str, int], ...] = ()
    """For an *intent* (a row naming the slot its run will claim, `_rows.Row.intents`): the
    (state, index) of every slot the run claims in its one `add`, which its tentative done
    record names too; empty otherwise."""

    @property
    def id(self) -> str:
        """Its record id."""
        return slot_id(self.state_id, self.index)

    def log_records(self, run: RunRecord | None = None) -> list[LogRecord]:
        """Its updates as learned updates (an export's lines); `run`: its run record."""
        fingerprint, steps = (run.fingerprint, len(run.steps)) if run else ("", 0)
        created_at = run.created_at if run else 0.0
        return [
            LogRecord(
                id=stable_id("update", self.run_id, str(update.step)),
                state_id=self.state_id,
                task=self.task,
                observation=self.key,
                action=update.action,
                target=update.target,
                reward=update.reward,
                run_id=self.run_id,
                step=update.step,
                answer=update.answer,
                fingerprint=fingerprint,
                steps=steps,
                created_at=created_at,
            )
            for update in self.updates
        ]

    def entry(self) -> list[Any]:
        """As a row keeps it in `pending`: [index, run id, updates (None: a marker), nonce]."""
        updates = None if self.forget else [u.row() for u in self.updates]
        return [self.index, self.run_id, updates, self.nonce]

    @classmethod
    def of_entry(cls, state_id: str, entry: Sequence[Any]) -> Slot:
        """Inverse of `entry`."""
        index, run_id, updates, nonce = entry
        if updates is None:
            return cls(state_id, int(index), str(run_id), forget=True, nonce=str(nonce))
        steps = tuple(Update.of(u) for u in updates)
        return cls(state_id, int(index), str(run_id), steps, nonce=str(nonce))

    def chroma(self) -> tuple[dict[str, Any], str]:
        """Its Chroma metadata and document."""
        meta = {
            "kind": "slot",
            "run_id": self.run_id,
            "state_id": self.state_id,
        }
        body = {"task": self.task, "key": self.key, "entry": self.entry()}
        return meta, json.dumps(body, ensure_ascii=False)

    @classmethod
    def from_chroma(cls, record_id: str, metadata: Any, document: str | None) -> Slot:
        """Rebuild a slot from what Chroma returned."""
        with _malformed(record_id):
            body = json.loads(document or "")
            slot = cls.of_entry(str(metadata["state_id"]), body["entry"])
            return dataclasses.replace(slot, task=str(body["task"]), key=str(body["key"]))


@dataclass(frozen=True)
class PlannedStep:
    """A step of a prepared run: the state it updates and its update."""

    state_id: str
    key: str
    update: Update
    task: str = ""
    """The state's task when it is not the run's (an imported pool mixes tasks)."""


@dataclass(frozen=True)
class RunRecord:
    """A prepared run: every update of one episode, fixed before any slot is claimed."""

    run_id: str
    nonce: str
    fingerprint: str
    task: str
    steps: tuple[PlannedStep, ...]
    outcome: Mapping[str, Any] = field(default_factory=dict)
    """What `lift()` reads, kept in the metadata (an older record has none): "reward" (the
    episode's total reward as given), "created_at" (wall time, for display), and for a run of
    the holdout experiment "arm" and "holdout" (DESIGN §6)."""

    @property
    def created_at(self) -> float:
        """When it was prepared (seconds since the epoch): shown to people, never to order."""
        return float(self.outcome.get("created_at") or 0.0)

    def slots(self, state_id: str) -> tuple[Update, ...]:
        """This run's updates to one state, in step order."""
        return tuple(s.update for s in self.steps if s.state_id == state_id)

    def state_ids(self) -> list[str]:
        """The states it touches, in first-visit order."""
        return list(dict.fromkeys(s.state_id for s in self.steps))

    def key_of(self, state_id: str) -> str:
        """The observation key of one of its states."""
        return next(s.key for s in self.steps if s.state_id == state_id)

    def task_of(self, state_id: str) -> str:
        """The task of one of its states."""
        return next(s.task or self.task for s in self.steps if s.state_id == state_id)

    def check_same(self, fingerprint: str) -> None:
        """Refuse another episode under this run's id (a run id names one episode)."""
        if fingerprint != self.fingerprint:
            msg = (
                f"run {self.run_id!r} was already learned with a different episode; a run id "
                "names one episode: give each run its own id (or forget_run() the old one "
                "first). Nothing was written"
            )
            raise InvalidInputError(msg)

    def chroma(self) -> tuple[dict[str, Any], str]:
        """Its Chroma metadata and document."""
        meta = {
            "kind": "run",
            "run_id": self.run_id,
            "nonce": self.nonce,
            "fingerprint": self.fingerprint,
            "steps": len(self.steps),
            **self.outcome,
        }
        body = {
            "task": self.task,
            "steps": [[s.state_id, s.key, s.task, *s.update.row()] for s in self.steps],
        }
        return meta, json.dumps(body, ensure_ascii=False)

    @classmethod
    def from_chroma(cls, record_id: str, metadata: Any, document: str | None) -> RunRecord:
        """Rebuild a run record from what Chroma returned."""
        with _malformed(record_id):
            body = json.loads(document or "")
            steps = tuple(
                PlannedStep(str(s[0]), str(s[1]), Update.of(s[3:]), str(s[2]))
                for s in body["steps"]
            )
            return cls(
                str(metadata["run_id"]),
                str(metadata["nonce"]),
                str(metadata["fingerprint"]),
                str(body["task"]),
                steps,
                {k: metadata[k] for k in OUTCOME_KEYS if k in metadata},
            )


@dataclass(frozen=True)
class Done:
    """The commit of a prepared run: its nonce and the one slot per state that counts."""

    run_id: str
    nonce: str
    slots: tuple[tuple[str, int], ...]
    by: str = ""
    """Which call wrote it (a fresh id per attempt): tells a writer it committed."""
    tentative: bool = False
    """Added in one call with the run record and the claims it names (a new run's first add),
    so before anyone knew whether each claim won: it counts only if every slot it names holds
    the run's nonce (`Status.learned`); else it is *void*, and its writer (or a helper) deletes
    it. A done record added after its claims were read back is not tentative."""

    def chroma(self) -> tuple[dict[str, Any], str]:
        """Its Chroma metadata and document."""
        meta: dict[str, Any] = {"kind": "done", "run_id": self.run_id, "nonce": self.nonce}
        meta |= {"by": self.by} | ({"tentative": True} if self.tentative else {})
        return meta, json.dumps([list(s) for s in self.slots])

    @classmethod
    def from_chroma(cls, record_id: str, metadata: Any, document: str | None) -> Done:
        """Rebuild a done record from what Chroma returned."""
        with _malformed(record_id):
            slots = tuple((str(s), int(i)) for s, i in json.loads(document or ""))
            by = str(metadata.get("by") or "")
            tentative = bool(metadata.get("tentative"))
            return cls(str(metadata["run_id"]), str(metadata["nonce"]), slots, by, tentative)

    def named(self) -> list[str]:
        """The ids of the slots it names."""
        return [slot_id(s, i) for s, i in self.slots]


@contextlib.contextmanager
def _malformed(record_id: str) -> Iterator[None]:
    """Turn a record that cannot be read into a `StorageError` naming it."""
    try:
        yield
    except (KeyError, TypeError, ValueError, IndexError) as e:
        msg = (
            f"log record {record_id} is malformed ({type(e).__name__}: {e}); "
            "remove its run with memory.forget_run(...), then memory.rebuild()"
        )
        raise StorageError(msg) from e


def new_run(
    run_id: str, fingerprint: str, task: str, steps: Sequence[Any], created_at: float | None = None
) -> RunRecord:
    """A run record with a fresh nonce, made now (or at `created_at`, an import's time)."""
    when = time.time() if created_at is None else created_at
    return RunRecord(
        run_id, uuid.uuid4().hex, fingerprint, task, tuple(steps), {"created_at": when}
    )
