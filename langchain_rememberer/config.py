"""Configuration of learning (RLEM) and retrieval: frozen models with one docstring per field.

The CLI and the benchmarks reuse these models, so every field doubles as documentation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from langchain_rememberer.types import _Model

__all__ = ["RLEMConfig", "RetrievalConfig", "SpoolConfig", "TextLimits"]


class RLEMConfig(_Model):
    """How Q-values learn from an episode (DESIGN §3).

    Example:
        ```python
        from langchain_rememberer import RLEMConfig

        config = RLEMConfig(n_step=2, gamma=0.9)  # 2-step bootstrapping
        ```
    """

    gamma: float = Field(default=0.5, ge=0.0, le=1.0)
    """Discount factor γ. Below 1, a shorter path to the same reward is worth more, so a detour
    reads worse than the direct path; 0.5 did best on both benchmark games and the scenario
    suite (see the tuning docs). 1.0 is the paper's undiscounted setting."""
    n_step: int | None = Field(default=None, ge=1)
    """Bootstrapping horizon n; None is Monte Carlo (n = ∞), the reference's default."""
    learning_rate: Literal["mean", "constant"] = "mean"
    """"mean" uses α = 1/N (a running average); "constant" uses `alpha`."""
    alpha: float = Field(default=0.1, gt=0.0, le=1.0)
    """The constant learning rate α when `learning_rate="constant"`."""
    bootstrap_min_similarity: float = Field(default=0.9, ge=-1.0, le=1.0)
    """An unseen state bootstraps from the most similar stored state at least this similar."""
    max_run_reward: float | None = Field(default=None, gt=0.0)
    """Trust control: the most total |reward| one run may bring; a run above it has its rewards
    scaled down to it (logged), so one run cannot outweigh many. None: no cap."""


class RetrievalConfig(_Model):
    """How states are retrieved and shown as exemplars (DESIGN §4-§5).

    Example:
        ```python
        from langchain_rememberer import RetrievalConfig

        config = RetrievalConfig(k=3, task_weight=0.3, max_chars=3000)
        ```
    """

    k: int = Field(default=2, ge=1, le=100)
    """How many similar states to show."""
    task_weight: float = Field(default=0.5, gt=0.0, lt=1.0)
    """λ: weight of task similarity against observation similarity."""
    min_similarity: float = Field(default=0.35, ge=-1.0, le=1.0)
    """States less similar than this are never shown. 0.35 is calibrated for the default
    WordLlama embedding on labelled related / unrelated situations (related ≥ 0.52, unrelated
    ≤ 0.20); other embeddings need their own floor (see the tuning docs)."""
    min_task_similarity: float | None = Field(default=0.4, ge=-1.0, le=1.0)
    """States whose task is less similar than this to the current task (cos(g, g'), whatever
    their observations) are never shown: tools of one app share their output's format, so an
    unrelated question's observation can look like a stored one. 0.4 is calibrated for the
    default WordLlama embedding on the same labelled pairs, those whose observations share one
    tool's format included (related ≥ 0.52, unrelated ≤ 0.26); None: no task floor. A query
    with `task_weight=0` ignores the task, this floor included."""
    discourage_threshold: float = 0.0
    """Q below it is discouraged (the action lost); above it, an encouraged candidate."""
    discourage_margin: float = Field(default=0.1, ge=0.0)
    """An action more than this below the best Q known in its state is discouraged too."""
    min_visits: int = Field(default=1, ge=1)
    """Actions tried fewer times than this in a state are not shown (nor counted as best)."""
    max_encouraged: int = Field(default=1, ge=0)
    """Encouraged actions shown per state, highest Q first."""
    max_discouraged: int = Field(default=2, ge=0)
    """Discouraged actions shown per state, lowest Q first."""
    max_chars: int = Field(default=4000, ge=0)
    """Budget of the whole exemplar block; the least similar exemplars are dropped to fit."""
    max_text_chars: int = Field(default=600, ge=20)
    """Each stored observation or task is cut to this many characters in the prompt."""
    advice_similarity: float | None = Field(default=0.95, ge=-1.0, le=1.0)
    """When the block follows the conversation (the middleware's default placement), a lesson
    of the current task itself (the same task text) at least this similar to the current state
    is repeated after the current task as one line of advice (`prompts.ADVICE`). None: never."""

    @model_validator(mode="after")
    def _something_to_show(self) -> RetrievalConfig:
        if self.max_encouraged == 0 and self.max_discouraged == 0:
            msg = "max_encouraged and max_discouraged are both 0: no exemplar could show anything"
            raise ValueError(msg)
        return self


class TextLimits(_Model):
    """How much of a run's text is recorded; the adapters read it from `memory.text_limits`.

    Longer text is cut (ending in a cut marker) before it becomes part of an `Episode`. Text shown
    back in prompts is cut separately, by `RetrievalConfig.max_text_chars`; nothing longer than
    `types.MAX_TEXT_CHARS` is accepted at all.

    Example:
        ```python
        from langchain_rememberer import RemembererMemory, TextLimits

        memory = RemembererMemory(path=None, text_limits=TextLimits(observation=4000))
        assert memory.text_limits.observation == 4000
        ```
    """

    observation: int = Field(default=8000, ge=20, le=100_000)
    """A task, observation or tool result recorded from a run is cut to this many characters."""
    answer: int = Field(default=2000, ge=20, le=100_000)
    """The agent's final answer recorded with the terminal step is cut to this many characters."""


class SpoolConfig(_Model):
    """Where episodes wait, on local disk, while the storage is unreachable (`memory.spool`).

    When learning a finished run (or saving it as pending) fails with a `StorageError`, the
    adapters keep the episode as a JSON file in the spool directory; every later run, and
    `memory.spool.replay()`, learns what waits there first, oldest first, deleting each file
    only once the memory took it. Learning a run id twice is a no-op, so nothing is doubled.

    Example:
        ```python
        import tempfile

        from langchain_rememberer import RemembererMemory
        from langchain_rememberer.config import SpoolConfig

        spool = SpoolConfig(directory=tempfile.mkdtemp(), max_episodes=500)
        memory = RemembererMemory(path=None, spool=spool)  # in memory, so no spool by default
        assert memory.spool.enabled and memory.spool.config.max_episodes == 500
        ```
    """

    enabled: bool = True
    """False: nothing is spooled; a run that storage cannot take is logged and lost."""
    directory: Path | None = None
    """The spool directory; None: `<path>-spool/<collection_name>` beside an embedded database,
    `<user cache>/langchain-rememberer/spool/<host>-<port>/<collection_name>` for a server
    (`$XDG_CACHE_HOME`, else `~/.cache`; `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on
    Windows), and no spool for an in-memory memory (`path=None`). Give each memory its own."""
    max_episodes: int = Field(default=1000, ge=1, le=10_000_000)
    """The most episodes kept; beyond it the oldest is dropped, with a warning naming its run."""
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    """The most bytes the spooled files may take; beyond it the oldest are dropped (warned)."""
    claim_timeout: float = Field(default=600.0, gt=0.0)
    """Seconds after which an episode claimed by a replay that never finished (its process
    died) is taken back and replayed again; sooner when the claimer is a dead process on this
    machine."""

    @field_validator("directory", mode="before")
    @classmethod
    def _directory(cls, value: object) -> object:
        if value is not None and (not isinstance(value, str | Path) or not str(value).strip()):
            msg = f"directory must be a directory path (str or Path) or None, got {value!r}"
            raise ValueError(msg)
        return value
