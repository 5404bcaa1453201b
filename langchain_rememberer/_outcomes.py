"""The holdout experiment's runs as the log records them (a scan; `RemembererMemory.lift`).

A run counts exactly when it is learned (DESIGN §6: its run and done records exist with one
nonce), so a re-learn, a retry or a helped run counts once and a run a killed process left
half-written counts not at all. Its arm, reward and time are in its run record's metadata
(`RunRecord.outcome`).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from langchain_rememberer._ledger import checked
from langchain_rememberer._operations import open_namespace
from langchain_rememberer._records import Done, RunRecord
from langchain_rememberer._rows import Status
from langchain_rememberer.errors import InvalidInputError
from langchain_rememberer.lift import LiftReport, Outcome, estimate_lift

if TYPE_CHECKING:
    from langchain_rememberer._operations import RemembererMemory
    from langchain_rememberer._store import ChromaStore, Namespace

__all__ = ["experiment_outcomes", "measure_lift"]

_OPTIONS = {"confidence", "min_effect", "resamples", "seed", "windows", "max_tasks"}
"""`estimate_lift`'s knobs a caller of `lift()` may set."""


def _no_runs(name: str) -> InvalidInputError:
    msg = (
        f"no runs recorded yet in namespace {name!r}: turn the holdout on "
        "(RemembererMemory(..., holdout=0.1)), run the agent, then ask again"
    )
    return InvalidInputError(msg)


def measure_lift(memory: RemembererMemory, name: str, options: dict[str, Any]) -> LiftReport:
    """`estimate_lift` of a namespace's experiment; creates nothing (a read).

    Raises:
        InvalidInputError: see `experiment_outcomes`; a bad option.
    """
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        msg = f"lift: unknown option {unknown[0]!r}; the options are {', '.join(sorted(_OPTIONS))}"
        raise InvalidInputError(msg)
    if not memory.store.exists(name):
        raise _no_runs(name)
    ns = open_namespace(memory, name)
    outcomes, unassigned = experiment_outcomes(memory.store, ns)
    return estimate_lift(outcomes, namespace=name, unassigned=unassigned, **options)


def _outcome(meta: Any, document: str | None) -> Outcome | None:
    """The run's outcome, or None when it carries no arm (learned before the holdout was on)."""
    arm, reward = meta.get("arm"), meta.get("reward")
    if arm not in {"memory", "control"} or not isinstance(reward, int | float):
        return None
    if not math.isfinite(reward):
        return None
    try:
        task = str(json.loads(document or "")["task"])
    except (ValueError, KeyError, TypeError):
        task = ""
    return Outcome(
        run_id=str(meta["run_id"]),
        arm=arm,
        reward=float(reward),
        task=task,
        created_at=float(meta.get("created_at") or 0.0),
        holdout=float(meta["holdout"]),
        unit=str(meta.get("unit") or ""),
    )


def experiment_outcomes(store: ChromaStore, ns: Namespace) -> tuple[list[Outcome], int]:
    """The learned runs of the experiment, and how many learned runs carry no arm.

    Raises:
        InvalidInputError: no run is learned in the namespace ("no runs recorded yet"), or
            none carries an arm (all learned before the holdout was turned on).
    """
    dones = {d.run_id: d for d in (Done.from_chroma(*r) for r in store.log_of_kind(ns, "done"))}
    runs = store.log_of_kind(ns, "run")
    nonces = {str(m["run_id"]): str(m["nonce"]) for _i, m, _d in runs}
    tentative = {  # a tentative done counts once every slot it names is read (DESIGN §6)
        r: RunRecord.from_chroma(*record)
        for record in runs
        if (r := str(record[1]["run_id"])) in dones
        and dones[r].tentative
        and dones[r].nonce == nonces[r]
    }
    status = checked(store, ns, Status(tentative, {r: dones[r] for r in tentative}))
    outcomes: list[Outcome] = []
    learned = 0
    for _id, meta, document in runs:
        run_id = str(meta["run_id"])
        done = dones.get(run_id)
        if done is None or done.nonce != str(meta["nonce"]):
            continue  # prepared, never committed: not learned
        if run_id in tentative and not status.learned(run_id):
            continue  # its first add lost a claim: not committed (yet)
        learned += 1
        found = _outcome(meta, document)
        if found is not None:
            outcomes.append(found)
    if not learned:
        raise _no_runs(ns.name)
    if not outcomes:
        msg = (
            f"the {learned} learned runs of namespace {ns.name!r} carry no arm: they were "
            "learned without a holdout (or before this feature), so there is nothing to "
            "compare; turn it on with RemembererMemory(..., holdout=0.1) and the runs learned "
            "from then on are measured"
        )
        raise InvalidInputError(msg)
    return outcomes, learned - len(outcomes)
