"""Validated data models shared by every module: steps, episodes, retrieved states, reports.

All models are frozen pydantic models. Constructing one with bad values raises
`InvalidInputError` (a `RemembererError` and a `ValueError`) that names the bad field.
"""

from __future__ import annotations

import math
import numbers
import re
import reprlib
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from langchain_rememberer.errors import InvalidInputError

__all__ = [
    "MAX_TEXT_CHARS",
    "ActionValue",
    "CompactReport",
    "Episode",
    "LearnReport",
    "MemoryStats",
    "RetrievedState",
    "Step",
    "check_name",
]

_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$")

MAX_TEXT_CHARS = 100_000
"""Longest task, observation or action accepted, in characters. Adapters cut longer text."""


def describe_validation_error(model: str, error: ValidationError) -> str:
    """Turn a pydantic error into one readable sentence per problem."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(value)"
        received = repr(item.get("input"))
        if len(received) > 80:
            received = received[:77] + "..."
        problems.append(f"{where}: {item['msg']} (received {received})")
    return f"Invalid {model}: " + "; ".join(problems)


class _Model(BaseModel):
    """Frozen model whose validation errors are `InvalidInputError`s."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise InvalidInputError(describe_validation_error(type(self).__name__, e)) from e


def is_finite_number(value: object) -> bool:
    """A real number (numpy scalars included) that is finite as a float; bools are not numbers.

    An integer too large for a float (10**400) is not finite here either.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_name(value: str, *, what: str, dots: bool = True) -> str:
    """Reject names Chroma could not use inside a collection name.

    A collection name is `<collection_name>.<namespace>.<kind>`, so `collection_name` holds no
    '.' (`dots=False`): otherwise "rememberer.acme" + "bob" and "rememberer" + "acme.bob" would
    name the same collections, and two tenants would share one memory.
    """
    if not isinstance(value, str) or not _NAME.fullmatch(value) or ".." in value:
        msg = (
            f"{what} {reprlib.repr(value)} is not usable: use 1-128 characters of letters, "
            "digits, '.', '_' or '-', starting and ending with a letter or digit, without two "
            "'.' in a row"
        )
        raise InvalidInputError(msg)
    if not dots and "." in value:
        msg = (
            f"{what} {value!r} may not contain '.': collections are named "
            "<collection_name>.<namespace>.<kind>, so a '.' in it would let two names reach one "
            "memory; use '-' or '_' instead"
        )
        raise InvalidInputError(msg)
    return value


def is_encodable(text: str) -> bool:
    """Whether `text` is valid Unicode (no lone surrogates), i.e. encodes to UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def finite_reward(value: object) -> float:
    """Return `value` as a float, or raise `InvalidInputError` unless it is a finite number."""
    if not is_finite_number(value):
        msg = f"reward must be a finite number, got {value!r}"
        raise InvalidInputError(msg)
    return float(value)  # type: ignore[arg-type]


def _check_text(value: str, *, what: str, allow_empty: bool = False) -> str:
    if not allow_empty and not value.strip():
        msg = f"{what} must be a non-empty string"
        raise ValueError(msg)
    if not is_encodable(value):
        msg = f"{what} is not valid text: it holds a lone surrogate (undecodable bytes?)"
        raise ValueError(msg)
    if len(value) > MAX_TEXT_CHARS:
        msg = (
            f"{what} has {len(value):,} characters, more than the {MAX_TEXT_CHARS:,} accepted; "
            "shorten it (an observation_key can summarise long observations)"
        )
        raise ValueError(msg)
    return value


class Step(_Model):
    """One transition of an episode: the agent saw `observation`, took `action`, got `reward`.

    Example:
        ```python
        from langchain_rememberer import Step

        step = Step(observation="You are in the kitchen.", action="go(direction='north')")
        assert step.reward == 0.0
        ```
    """

    observation: str = Field(strict=True)
    """What the agent saw before acting (o_t)."""
    action: str = Field(strict=True)
    """The canonical action taken (a_t)."""
    reward: float = 0.0
    """The reward received right after the action (r_{t+1}); finite."""
    answer: str | None = Field(default=None, strict=True)
    """What the agent answered, when this step is its final answer (the action then stays the
    recognisable `final_answer`, so answers given in one state share a Q-value); None otherwise.
    The adapters cut it to `TextLimits.answer` characters."""

    @field_validator("answer")
    @classmethod
    def _answer(cls, value: str | None) -> str | None:
        return None if value is None else _check_text(value, what="answer", allow_empty=True)

    @field_validator("observation")
    @classmethod
    def _observation(cls, value: str) -> str:
        return _check_text(value, what="observation", allow_empty=True)

    @field_validator("action")
    @classmethod
    def _action(cls, value: str) -> str:
        return _check_text(value, what="action")

    @field_validator("reward", mode="before")
    @classmethod
    def _reward_is_a_number(cls, value: object) -> object:
        if isinstance(value, bool | str | bytes):
            msg = f"reward must be a finite number, not {type(value).__name__} {value!r}"
            raise ValueError(msg)
        return value

    @field_validator("reward")
    @classmethod
    def _reward(cls, value: float) -> float:
        if not is_finite_number(value):
            msg = f"reward must be a finite number, got {value!r}"
            raise ValueError(msg)
        return float(value)


class Episode(_Model):
    """A finished run: a task and its steps, identified by `run_id`.

    Learning the same `run_id` twice is a no-op, so episodes can be retried safely.

    Example:
        ```python
        from langchain_rememberer import Episode, Step

        episode = Episode(
            task="Find the coin.",
            steps=[
                Step(observation="Kitchen.", action="go(direction='east')"),
                Step(observation="Pantry. A coin.", action="take(item='coin')", reward=1.0),
            ],
        )
        assert episode.total_reward == 1.0
        ```
    """

    task: str = Field(strict=True)
    """The goal g the agent was given."""
    steps: list[Step]
    """The transitions in order; at least one (a run without a step has nothing to learn)."""
    run_id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    """Identifier of the run; the idempotency key of learning."""
    succeeded: bool | None = None
    """Whether the run ended without error, when known."""
    arm: Literal["memory", "control"] | None = None
    """The run's arm of the memory's holdout experiment (`holdout.assign_arm`): "control" runs
    were shown no lessons; None: the run is in no experiment (not counted by `lift()`)."""
    holdout: float | None = Field(default=None, gt=0.0, lt=1.0)
    """The control share the arm was drawn with (given exactly when `arm` is)."""
    unit: str | None = Field(default=None, min_length=1, max_length=64)
    """A hash of the run's unit key when one was given (`rememberer_unit`): `lift()` then
    resamples whole units. None: the run is its own unit."""

    @model_validator(mode="after")
    def _arm_and_holdout(self) -> Episode:
        if (self.arm is None) != (self.holdout is None):
            msg = "arm and holdout go together: give both (a run of the experiment) or neither"
            raise ValueError(msg)
        if self.unit is not None and self.arm is None:
            msg = "a unit is given only with an arm (a run of the holdout experiment)"
            raise ValueError(msg)
        return self

    @field_validator("task")
    @classmethod
    def _task(cls, value: str) -> str:
        return _check_text(value, what="task")

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[Step]) -> list[Step]:
        if not value:
            msg = "an episode needs at least one step (a run in which the agent did nothing has "
            msg += "nothing to learn)"
            raise ValueError(msg)
        return value

    @field_validator("run_id", mode="before")
    @classmethod
    def _run_id(cls, value: object) -> object:
        if isinstance(value, str) and not is_encodable(value):
            msg = "run_id is not valid text: it holds a lone surrogate"
            raise ValueError(msg)
        return str(value) if isinstance(value, uuid.UUID) else value

    @property
    def total_reward(self) -> float:
        """Sum of the step rewards (undiscounted return)."""
        return sum(step.reward for step in self.steps)

    def with_final_reward(self, reward: float) -> Episode:
        """Return a copy whose last step also carries `reward` (the scorer's final score).

        Raises:
            InvalidInputError: `reward` is not a finite number.
        """
        reward = finite_reward(reward)
        last = self.steps[-1]
        steps = [*self.steps[:-1], Step(**{**last.model_dump(), "reward": last.reward + reward})]
        return Episode(**{**self.model_dump(), "steps": [s.model_dump() for s in steps]})


class ActionValue(_Model):
    """One row of a state's action table."""

    action: str
    """The canonical action text."""
    q: float
    """Its Q-value, the estimated return of taking it in this state."""
    visits: int
    """How many updates were folded into `q` (N)."""
    last_reward: float = 0.0
    """The immediate reward seen the last time it was taken."""
    answer: str | None = None
    """For an answering action: the answer text of its best update (see `Step.answer`)."""
    answer_value: float | None = None
    """The target (return) that update had: how well that answer did."""


class RetrievedState(_Model):
    """A stored state returned by retrieval, with its action table."""

    id: str
    """Stable id of the state (hash of task and observation key)."""
    task: str
    """The task stored with this state."""
    observation: str
    """The stored observation key."""
    similarity: float
    """λ-weighted cosine similarity to the query, in [-1, 1]."""
    actions: list[ActionValue]
    """The action table, highest Q first."""

    @property
    def visits(self) -> int:
        """Total visits over all actions; breaks similarity ties."""
        return sum(a.visits for a in self.actions)


class LearnReport(_Model):
    """What one `learn` call did."""

    run_id: str
    """The episode's run id."""
    states_added: int
    """States that did not exist before this episode."""
    updates_written: int
    """Log records appended (0 when the run was already learned)."""
    targets: list[float]
    """The RLEM target G_t of every step, in step order."""
    already_learned: bool = False
    """True when every update of this run was already in the log."""


class CompactReport(_Model):
    """What one `compact` call did."""

    states: int
    """States whose rows had pending slots, now settled."""
    updates_archived: int
    """Pending slots folded into (or dropped from) their rows."""

    def plus(self, other: CompactReport) -> CompactReport:
        """The sum of two reports."""
        return CompactReport(
            states=self.states + other.states,
            updates_archived=self.updates_archived + other.updates_archived,
        )


class MemoryStats(_Model):
    """Counts for one namespace."""

    namespace: str
    states: int
    updates: int
    pending: int
    task_weight: float | None
    """The λ the state vectors were written with (None while the namespace is empty)."""


MAX_K = 10_000
"""The most states one retrieval may ask for (Chroma's query takes a C integer)."""


def run_id_arg(run_id: object) -> str:
    """A run id argument as text (a str or a `uuid.UUID`), rejected clearly otherwise."""
    if not isinstance(run_id, str | uuid.UUID):
        msg = f"run_id must be a str (or a uuid.UUID), got {type(run_id).__name__} {run_id!r}"
        raise InvalidInputError(msg)
    text = str(run_id)
    check_text_arg(text, "run_id")
    return text


def check_text_arg(value: object, name: str, *, allow_empty: bool = False) -> None:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        kind = "a non-empty string" if not allow_empty else "a string"
        msg = f"{name} must be {kind}, got {type(value).__name__} {reprlib.repr(value)}"
        raise InvalidInputError(msg)
    if not is_encodable(value):
        msg = f"{name} is not valid text: it holds a lone surrogate (undecodable bytes?)"
        raise InvalidInputError(msg)


def as_episode(episode: Episode | Mapping[str, Any]) -> Episode:
    if isinstance(episode, Episode):
        return episode
    if isinstance(episode, Mapping):
        if not all(isinstance(key, str) for key in episode):
            msg = f"an episode mapping needs string keys, got {reprlib.repr(list(episode))}"
            raise InvalidInputError(msg)
        return Episode(**dict(episode))
    msg = f"expected an Episode or a mapping, got {type(episode).__name__}"
    raise InvalidInputError(msg)
