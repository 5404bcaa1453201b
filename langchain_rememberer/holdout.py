"""Pure: which arm of the memory's holdout experiment a run is in (no I/O).

With `RemembererMemory(..., holdout=0.1)`, about one run in ten is a *control* run: its model
calls are shown no lessons, but its episode is still scored and learned, so the memory keeps
growing and `memory.lift()` can compare the two arms (docs/lift.md). The arm is a deterministic
hash of the run's *unit key* (the run id, or a user-given key such as a user or ticket id), so
the same key gets the same arm in every process, after every restart.

Example:
    ```python
    from langchain_rememberer.holdout import assign_arm

    assert assign_arm("ticket-42", 0.1) == assign_arm("ticket-42", 0.1)  # stable
    assert assign_arm("ticket-42", 0.0) == "memory"  # no holdout: every run uses the memory
    ```
"""

from __future__ import annotations

import hashlib
import reprlib
from typing import Literal

from langchain_rememberer.errors import InvalidInputError
from langchain_rememberer.types import is_encodable, is_finite_number

__all__ = ["ARMS", "UNIT_KEY", "Arm", "assign_arm", "check_holdout", "check_unit_key", "uniform"]

Arm = Literal["memory", "control"]
"""The arms: "memory" runs are shown lessons, "control" runs are not."""

ARMS: tuple[Arm, Arm] = ("memory", "control")

UNIT_KEY = "rememberer_unit"
"""The run-config metadata key naming a run's unit key: `config={"metadata": {UNIT_KEY: id}}`."""

_MAX_UNIT_CHARS = 1000


def check_holdout(value: object) -> float:
    """`value` as the control arm's share, a number in [0, 1); else a clear `InvalidInputError`.

    0 turns the experiment off (every run uses the memory). 1 is refused: a memory that is
    never shown would have nothing to compare against.
    """
    if isinstance(value, bool) or not is_finite_number(value) or not 0.0 <= value < 1.0:  # type: ignore[operator]
        msg = (
            f"holdout must be a number from 0 (no control arm) up to but not including 1, the "
            f"share of runs shown no lessons; got {type(value).__name__} {reprlib.repr(value)}. "
            "A typical value is 0.1"
        )
        raise InvalidInputError(msg)
    return float(value)  # type: ignore[arg-type]


def check_unit_key(value: object) -> str:
    """`value` as a unit key (a non-empty string); else a clear `InvalidInputError`."""
    if not isinstance(value, str) or not value.strip():
        msg = (
            f"the unit key ({UNIT_KEY}) must be a non-empty string such as a user or ticket id, "
            f"got {type(value).__name__} {reprlib.repr(value)}; pass str(your_id)"
        )
        raise InvalidInputError(msg)
    if not is_encodable(value) or len(value) > _MAX_UNIT_CHARS:
        msg = f"the unit key must be valid text of at most {_MAX_UNIT_CHARS} characters"
        raise InvalidInputError(msg)
    return value


def uniform(unit_key: str, salt: str = "") -> float:
    """A number in [0, 1) fixed by the key: the first 8 bytes of sha256(salt, key)."""
    digest = hashlib.sha256(f"rememberer-holdout\x00{salt}\x00{unit_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_arm(unit_key: str, holdout: float, salt: str = "") -> Arm:
    """The arm of a unit: "control" when `uniform(unit_key, salt) < holdout`, else "memory".

    Arms nest: a unit in the control arm at `holdout=0.1` is in it at 0.2 too. A `salt` draws
    an independent split (a new experiment on the same units).

    Raises:
        InvalidInputError: `holdout` outside [0, 1) or not a number, or `unit_key` not a
            non-empty string.
    """
    share = check_holdout(holdout)
    key = check_unit_key(unit_key)
    if not isinstance(salt, str):
        msg = f"salt must be a string, got {type(salt).__name__}"
        raise InvalidInputError(msg)
    return "control" if share > 0 and uniform(key, salt) < share else "memory"
