"""What the log says of some runs, and whether a slot counts (no I/O; DESIGN §6).

A run is *learned* exactly when its run and done records exist with one nonce, and, for a
tentative done record (added in one call with the claims it names), every slot it names holds
that run and nonce. A slot counts when its run is learned and its done record names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from langchain_rememberer._records import Done, RunRecord, Slot

__all__ = ["Status", "Verdict"]

Verdict = Literal["valid", "invalid", "undecided", "marker"]


@dataclass(frozen=True)
class Status:
    """What the log says of some runs: their run and done records (absent: not there)."""

    runs: Mapping[str, RunRecord] = field(default_factory=dict)
    dones: Mapping[str, Done] = field(default_factory=dict)
    starts: Mapping[str, int] = field(default_factory=dict)
    """Where a new row of a state starts, when it was evicted before (`_evicted.restarts`)."""
    held: Mapping[str, tuple[str, str] | None] = field(default_factory=dict)
    """Who holds the slots tentative done records name: slot id -> (run id, nonce), None for
    an absent slot (`to_check` lists those still to read)."""

    def joined(self, later: Status) -> Status:
        """This status with a later read's runs, done records and slots (those win)."""
        return Status(
            {**self.runs, **later.runs},
            {**self.dones, **later.dones},
            self.starts,
            {**self.held, **later.held},
        )

    def to_check(self) -> list[str]:
        """Slots to read before `learned` can judge: those of tentative dones not read yet."""
        return [
            i
            for run_id, done in sorted(self.dones.items())
            if done.tentative and self._nonce_matches(run_id)
            for i in done.named()
            if i not in self.held
        ]

    def _nonce_matches(self, run_id: str) -> bool:
        run, done = self.runs.get(run_id), self.dones.get(run_id)
        return run is not None and done is not None and done.nonce == run.nonce

    def learned(self, run_id: str) -> bool:
        """A run is learned exactly when its run and done records exist with one nonce.

        A tentative done also needs every slot it names held by that run and nonce.
        """
        if not self._nonce_matches(run_id):
            return False
        done = self.dones[run_id]
        held = (run_id, done.nonce)
        return not done.tentative or all(self.held.get(i) == held for i in done.named())

    def void(self, run_id: str) -> bool:
        """Whether its done record is tentative, of the run's nonce, and names another's slot.

        Such a record can never count, and deleting it changes no reader's verdict.
        """
        if not self._nonce_matches(run_id) or not self.dones[run_id].tentative:
            return False
        held = (run_id, self.dones[run_id].nonce)
        named = self.dones[run_id].named()
        return all(i in self.held for i in named) and any(self.held[i] != held for i in named)

    def verdict(self, slot: Slot) -> Verdict:
        """Whether a slot counts.

        Valid; invalid (for good); undecided (its run is prepared, not yet committed); or a
        marker (counts nothing, decided).
        """
        if slot.forget:
            return "marker"
        run = self.runs.get(slot.run_id)
        if run is None or (slot.nonce and slot.nonce != run.nonce):
            return "invalid"  # never prepared, forgotten, or claimed for a forgotten record
        if not self.learned(slot.run_id):
            return "undecided"
        listed = (slot.state_id, slot.index) in set(self.dones[slot.run_id].slots)
        return "valid" if listed else "invalid"
