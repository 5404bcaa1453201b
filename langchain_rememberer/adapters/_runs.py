"""The run registry: which callback events belong to which run, and which adapter learns it.

One node table maps every run id the callback handler has seen to its parent, its root and its
kind. A root run becomes one episode; its step runs (models, chains) and tool runs feed the
recorder; hidden runs (anything inside a tool, or an agent that `RemembererMiddleware` learns on
its own) do not. Ownership is decided in one place, `ClosedRun.verdict`:

- the middleware learns the run when its agent graph is the root run;
- the middleware also learns a run that wraps middleware agents (a retry, a parent graph) and
  has no step of its own; the run's id is then the single agent's id, so feedback finds it;
- otherwise the callback handler learns it under the root run id.

What the handler keeps of finished runs (episodes, reports, the latest run id, `on_finished`)
is `FinishedRuns`, per run id and under its own lock.

A middleware agent is recognised by its `before_agent` node's name (`is_middleware_node`), so
the decision needs nothing from the middleware itself; the middleware calls `claim` from that
node to learn the run id it shares with the handler.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from langchain_rememberer.adapters.recorder import TrajectoryRecorder
from langchain_rememberer.errors import InvalidInputError
from langchain_rememberer.types import Episode, LearnReport

__all__ = [
    "ClosedRun",
    "FinishedRuns",
    "Kind",
    "Node",
    "Owner",
    "RunRegistry",
    "Verdict",
    "check_count",
    "is_middleware_node",
    "middleware_name",
]

logger = logging.getLogger(__name__)

_PREFIX = "RemembererMiddleware["
_START_HOOK = "].before_agent"


def check_count(value: object, name: str, *, minimum: int, maximum: int | None = None) -> int:
    """`value` if it is a whole number from `minimum` (to `maximum`), else `InvalidInputError`.

    The adapters' constructors check their settings with it, so a bad one fails at once rather
    than warning on every run.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        bound = (
            f"from {minimum:,} to {maximum:,}"
            if maximum is not None
            else f"of at least {minimum:,}"
        )
        msg = f"{name} must be a whole number {bound}, got {value!r}"
        raise InvalidInputError(msg)
    return value


def middleware_name(namespace: str) -> str:
    """The name of a `RemembererMiddleware` for `namespace` (its graph nodes start with it)."""
    return f"{_PREFIX}{namespace}]"


def is_middleware_node(name: object) -> bool:
    """Whether a graph node name is the run-start hook of a `RemembererMiddleware`."""
    return isinstance(name, str) and name.startswith(_PREFIX) and name.endswith(_START_HOOK)


class Kind(enum.Enum):
    """What a run is to its root run's episode."""

    ROOT = "root"
    STEP = "step"
    """A chain or model run whose events are steps of the root's episode."""
    TOOL = "tool"
    """A tool run of the episode; its result is the next observation."""
    HIDDEN = "hidden"
    """Inside a tool, or an agent learned by `RemembererMiddleware`: not part of the episode."""


@dataclass(frozen=True)
class Node:
    """One run in the node table."""

    root: UUID
    parent: UUID | None
    kind: Kind
    tool_name: str | None = None
    tool_call_id: str | None = None


class Owner(enum.Enum):
    """The adapter that learns a run."""

    HANDLER = "handler"
    MIDDLEWARE = "middleware"


@dataclass(frozen=True)
class Verdict:
    """Who learns a closed run, and the run id its episode (and feedback) goes by."""

    owner: Owner
    run_id: str


@dataclass
class _Open:
    recorder: TrajectoryRecorder
    paused: bool
    members: set[UUID] = field(default_factory=set)
    root_agent: bool = False
    """A `RemembererMiddleware` node started directly in the root run's graph."""
    agents: set[UUID] = field(default_factory=set)
    """Nested agent runs inside this run that `RemembererMiddleware` learns on its own."""


@dataclass(frozen=True)
class ClosedRun:
    """A root run that ended, with what was recorded for it."""

    run_id: UUID
    recorder: TrajectoryRecorder
    paused: bool
    root_agent: bool
    agents: frozenset[UUID]

    def verdict(self) -> Verdict:
        """Decide which adapter learns this run (see the module docstring)."""
        if self.root_agent:
            return Verdict(Owner.MIDDLEWARE, str(self.run_id))
        if self.agents and self.recorder.is_empty():
            only = next(iter(self.agents)) if len(self.agents) == 1 else self.run_id
            return Verdict(Owner.MIDDLEWARE, str(only))
        return Verdict(Owner.HANDLER, str(self.run_id))


class RunRegistry:
    """The node table of the runs in progress, thread-safe.

    Example:
        ```python
        from uuid import uuid4

        from langchain_rememberer.adapters._runs import Kind, Owner, RunRegistry
        from langchain_rememberer.adapters.recorder import TrajectoryRecorder

        runs = RunRegistry()
        root, model = uuid4(), uuid4()
        runs.open(root, TrajectoryRecorder(task="Hi"))
        assert runs.attach(model, root).kind is Kind.STEP
        assert runs.close(root).verdict().owner is Owner.HANDLER
        ```

    Args:
        max_open_runs: Runs that never end (an abandoned stream) are dropped, oldest first,
            beyond this many open runs; their later events are ignored.
    """

    def __init__(self, max_open_runs: int = 1024) -> None:
        self.max_open_runs = check_count(max_open_runs, "max_open_runs", minimum=1)
        self._lock = threading.Lock()
        self._nodes: dict[UUID, Node] = {}
        self._open: dict[UUID, _Open] = {}
        self._evicted: deque[UUID] = deque(maxlen=4 * max_open_runs)

    # -- opening and attaching -----------------------------------------------------------------

    def is_evicted(self, parent: UUID | None) -> bool:
        """Whether `parent` belonged to a run dropped as never ending (its children are too)."""
        with self._lock:
            return parent is not None and parent in self._evicted

    def evict_child(self, run_id: UUID) -> None:
        """Mark a child of an evicted run as evicted too."""
        with self._lock:
            self._evicted.append(run_id)

    def open(
        self, run_id: UUID, recorder: TrajectoryRecorder, *, paused: bool = False
    ) -> list[UUID]:
        """Open a root run; returns the runs dropped to stay within `max_open_runs`."""
        with self._lock:
            dropped = []
            while self._open and len(self._open) >= self.max_open_runs:
                oldest = next(iter(self._open))
                self._evicted.extend(self._open[oldest].members)
                self._forget(oldest)
                dropped.append(oldest)
            self._open[run_id] = _Open(recorder, paused, {run_id})
            self._nodes[run_id] = Node(run_id, None, Kind.ROOT)
            return dropped

    def attach(
        self,
        run_id: UUID,
        parent: UUID | None,
        *,
        tool: tuple[str | None, str | None] | None = None,
    ) -> Node | None:
        """Attach a child run to its parent's root; None when the parent is unknown.

        Args:
            run_id: The child run.
            parent: Its parent run.
            tool: `(name, tool_call_id)` when the child is a tool run.
        """
        with self._lock:
            above = self._nodes.get(parent) if parent is not None else None
            if above is None:
                return None
            if above.kind in (Kind.HIDDEN, Kind.TOOL):
                node = Node(above.root, parent, Kind.HIDDEN)
            elif tool is not None:
                node = Node(above.root, parent, Kind.TOOL, tool[0], tool[1])
            else:
                node = Node(above.root, parent, Kind.STEP)
            self._nodes[run_id] = node
            self._open[above.root].members.add(run_id)
            return node

    def claim(self, node_run_id: UUID | str | None) -> str | None:
        """A `RemembererMiddleware` run-start node began: mark its agent run, return its id.

        Idempotent: the handler calls it when it sees the node start, and the middleware calls
        it from inside the node. Returns the root run id when the agent graph is the root run
        (both adapters then use one id), the agent graph's own run id when it is nested in a
        larger run, and None when the node is unknown.
        """
        if node_run_id is None:
            return None
        key = node_run_id if isinstance(node_run_id, UUID) else UUID(str(node_run_id))
        with self._lock:
            node = self._nodes.get(key)
            if node is None or node.parent is None:
                return None
            graph, run = node.parent, self._open[node.root]
            if graph == node.root:
                run.root_agent = True
            else:
                run.agents.add(graph)
                above = self._nodes[graph]
                self._nodes[graph] = Node(above.root, above.parent, Kind.HIDDEN)
                self._nodes[key] = Node(node.root, graph, Kind.HIDDEN)
            return str(graph)

    # -- reading -------------------------------------------------------------------------------

    def node(self, run_id: UUID) -> Node | None:
        """The node of `run_id`, if it belongs to an open run."""
        with self._lock:
            return self._nodes.get(run_id)

    def recorder_for(self, run_id: UUID) -> TrajectoryRecorder | None:
        """The recorder of the run `run_id` is a step of; None for hidden or unknown runs."""
        with self._lock:
            node = self._nodes.get(run_id)
            if node is None or node.kind is Kind.HIDDEN:
                return None
            return self._open[node.root].recorder

    def take_tool(self, run_id: UUID) -> tuple[TrajectoryRecorder, Node] | None:
        """The recorder and node of a tool run that ended (the node is no longer a tool)."""
        with self._lock:
            node = self._nodes.get(run_id)
            if node is None or node.kind is not Kind.TOOL:
                return None
            self._nodes[run_id] = Node(node.root, node.parent, Kind.HIDDEN)
            return self._open[node.root].recorder, node

    def pause(self, run_id: UUID) -> UUID | None:
        """Mark the run of `run_id` as interrupted for human input; returns its root."""
        with self._lock:
            node = self._nodes.get(run_id)
            if node is None:
                return None
            self._open[node.root].paused = True
            return node.root

    @property
    def open_runs(self) -> dict[str, int]:
        """Root runs in progress and how many runs each has, itself included."""
        with self._lock:
            return {str(k): len(v.members) for k, v in self._open.items()}

    # -- closing -------------------------------------------------------------------------------

    def close(self, run_id: UUID) -> ClosedRun | None:
        """End the root run `run_id` and forget its nodes; None when it is not an open root."""
        with self._lock:
            run = self._open.get(run_id)
            if run is None:
                return None
            self._forget(run_id)
        return ClosedRun(run_id, run.recorder, run.paused, run.root_agent, frozenset(run.agents))

    def _forget(self, root: UUID) -> None:
        for member in self._open.pop(root).members:
            self._nodes.pop(member, None)


OnFinished = Callable[[str, Episode | None, LearnReport | None], None]
"""`on_finished(run_id, episode, report)`: told once per finished run the handler learns."""


class FinishedRuns:
    """What the callback handler keeps of finished runs, per run id, thread-safe.

    Runs end on many threads at once, so everything is read and written under one lock; the
    readers get copies. `last_run_id` is the latest run of any thread (sequential use only).

    Example:
        ```python
        from langchain_rememberer.adapters._runs import FinishedRuns

        finished = FinishedRuns(keep_episodes=4, keep_reports=4, on_finished=None)
        finished.add("run-1", None, None)
        assert finished.last_run_id == "run-1" and finished.reports == {"run-1": None}
        ```
    """

    def __init__(self, keep_episodes: int, keep_reports: int, on_finished: object) -> None:
        if on_finished is not None and not callable(on_finished):
            msg = (
                "RLEMCallbackHandler on_finished must be a callable "
                f"(run_id, episode, report) -> None, got {on_finished!r}"
            )
            raise TypeError(msg)
        self.on_finished: OnFinished | None = on_finished  # type: ignore[assignment]
        self.keep_reports = check_count(keep_reports, "keep_reports", minimum=1)
        maxlen = check_count(keep_episodes, "keep_episodes", minimum=0)
        self._episodes: deque[Episode] = deque(maxlen=maxlen)
        self._reports: OrderedDict[str, LearnReport | None] = OrderedDict()
        self._last: str | None = None
        self._lock = threading.Lock()

    @property
    def last_run_id(self) -> str | None:
        """The run id of the latest finished run, whichever thread finished it."""
        with self._lock:
            return self._last

    @property
    def episodes(self) -> list[Episode]:
        """The latest finished episodes, oldest first (a copy)."""
        with self._lock:
            return list(self._episodes)

    @property
    def reports(self) -> dict[str, LearnReport | None]:
        """The report per finished run id, of the latest `keep_reports` runs (a copy)."""
        with self._lock:
            return dict(self._reports)

    def report(self, run_id: str) -> LearnReport | None:
        """The report of the run `run_id` (None: pending, skipped, failed or unknown)."""
        with self._lock:
            return self._reports.get(run_id)

    def handed_over(self, run_id: str) -> None:
        """A run the middleware learns: only its id is the latest."""
        with self._lock:
            self._last = run_id

    def add(self, run_id: str, episode: Episode | None, report: LearnReport | None) -> None:
        """Keep a finished run, then tell `on_finished` (whose errors are logged, not raised)."""
        with self._lock:
            self._last = run_id
            if episode is not None:
                self._episodes.append(episode)
            self._reports[run_id] = report
            self._reports.move_to_end(run_id)
            while len(self._reports) > self.keep_reports:
                self._reports.popitem(last=False)
        if self.on_finished is None:
            return
        try:
            self.on_finished(run_id, episode, report)
        except Exception:
            logger.warning(
                "rememberer: run %s: the on_finished callback failed", run_id, exc_info=True
            )
