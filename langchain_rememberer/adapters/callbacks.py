"""`RLEMCallbackHandler`: learning from any LangChain run through callback events.

Works with LangGraph graphs, LCEL chains and `langchain_classic` `AgentExecutor`s, for `invoke`
and `ainvoke`. State is keyed by the root run id and guarded by a lock, because callbacks arrive
from many threads (parallel tools, executor threads under asyncio).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langgraph.errors import GraphInterrupt
from langgraph.types import Command

from langchain_rememberer.adapters.scoring import check_memory, check_scorer, finish_episode
from langchain_rememberer.adapters.trajectory import (
    DEFAULT_MAX_OBSERVATION_CHARS,
    TrajectoryRecorder,
    last_human_text,
    task_from_input,
)
from langchain_rememberer.memory import RemembererMemory
from langchain_rememberer.types import Episode, LearnReport

__all__ = ["RLEMCallbackHandler"]

logger = logging.getLogger(__name__)

_MIDDLEWARE_NODES: set[str] = set()
"""Graph node names of `RemembererMiddleware` hooks: a run that contains one is learned by the
middleware. Found by name, because on Python 3.10 an async middleware hook cannot reach the
run's callbacks to claim the run itself."""


def register_middleware_node(name: str) -> None:
    """Declare a graph node name that marks a run as learned by `RemembererMiddleware`."""
    _MIDDLEWARE_NODES.add(name)


@dataclass
class _Run:
    recorder: TrajectoryRecorder
    members: set[UUID] = field(default_factory=set)
    owned_by_middleware: bool = False
    agents: set[UUID] = field(default_factory=set)
    """Agent runs inside this run that `RemembererMiddleware` learns on its own."""
    paused: bool = False
    """Interrupted for human input (a `GraphInterrupt` inside), or the resumption of one."""


@dataclass(frozen=True)
class _Tool:
    root: UUID
    name: str | None
    tool_call_id: str | None


class RLEMCallbackHandler(BaseCallbackHandler):
    """Learn from every run it sees: builds the episode when the root run ends, scores, learns.

    The episode's `run_id` is the root run id: pass `config={"run_id": uuid}` to choose it, or
    read `handler.last_run_id` after a run. With a scorer returning None (`FeedbackScorer`), the
    episode is persisted as pending and `record_feedback(run_id, reward)` learns it later, even
    after a restart. A run that raises is a failed episode (`succeeded=False`); one stopped from
    outside (a stream left early, a cancelled task) is not learned. A graph run interrupted for
    human input, and its resumption, are not learned either: for human-in-the-loop agents use
    `RemembererMiddleware`, which learns the whole run once it ends. An agent with
    `RemembererMiddleware` inside the run is learned by that middleware; its steps are not
    part of this handler's episode. Memory or scorer trouble is logged as a warning; it never
    reaches the host run.

    Setup:
        ```python
        from langchain_rememberer import RemembererMemory, RLEMCallbackHandler
        from langchain_rememberer.adapters.scoring import FeedbackScorer

        memory = RemembererMemory(path=None)
        handler = RLEMCallbackHandler(memory, scorer=FeedbackScorer())
        ```

    Use with any runnable:
        ```python
        from langchain_core.runnables import RunnableLambda

        chain = RunnableLambda(lambda question: "42")
        chain.invoke("What is 6*7?", config={"callbacks": [handler]})
        ```

    Give feedback later:
        ```python
        handler.record_feedback(handler.last_run_id, reward=1.0)
        ```

    Args:
        memory: The experience memory to learn into.
        scorer: `Episode -> float | None`; default `ToolRewardScorer` (tool rewards only).
        namespace: The memory namespace (default: the memory's).
        max_observation_chars: Longer observations are cut.
        keep_episodes: How many finished episodes to keep in `episodes` for inspection.
        max_open_runs: Runs that never end (an abandoned stream) are dropped, oldest first,
            beyond this many open runs.
    """

    raise_error = False

    def __init__(
        self,
        memory: RemembererMemory,
        scorer: Callable[[Episode], float | None] | None = None,
        *,
        namespace: str | None = None,
        max_observation_chars: int = DEFAULT_MAX_OBSERVATION_CHARS,
        keep_episodes: int = 32,
        max_open_runs: int = 1024,
    ) -> None:
        self.memory = check_memory(memory, "RLEMCallbackHandler")
        self.scorer = check_scorer(scorer, "RLEMCallbackHandler")
        self.namespace = namespace
        self.max_observation_chars = max_observation_chars
        if (
            isinstance(max_open_runs, bool)
            or not isinstance(max_open_runs, int)
            or max_open_runs < 1
        ):
            msg = f"max_open_runs must be a whole number of at least 1, got {max_open_runs!r}"
            raise ValueError(msg)
        self.max_open_runs = max_open_runs
        self.episodes: deque[Episode] = deque(maxlen=keep_episodes)
        """The latest finished episodes (learned, pending or skipped), oldest first."""
        self.reports: dict[str, LearnReport | None] = {}
        """`LearnReport` per finished run id (None: pending, skipped or failed)."""
        self.last_run_id: str | None = None
        """The run id of the latest finished root run: the id to give feedback for."""
        self._lock = threading.Lock()
        self._runs: dict[UUID, _Run] = {}
        self._root_of: dict[UUID, UUID] = {}
        self._parent_of: dict[UUID, UUID] = {}
        self._tools: dict[UUID, _Tool] = {}
        self._hidden: set[UUID] = set()
        """Runs whose events are not steps of their root: inside a tool, or a middleware agent."""
        self._evicted: deque[UUID] = deque(maxlen=4 * max_open_runs)
        """Members of runs dropped by `max_open_runs`: their later events are ignored."""
        self._scoring = threading.local()

    # -- bookkeeping ---------------------------------------------------------------------------

    def _register(self, run_id: UUID, parent_run_id: UUID | None) -> UUID | None:
        """Attach a child run to its root (under the lock); None when the parent is unknown."""
        if parent_run_id is None or parent_run_id not in self._root_of:
            return None
        root = self._root_of[parent_run_id]
        self._root_of[run_id] = root
        self._parent_of[run_id] = parent_run_id
        self._runs[root].members.add(run_id)
        if parent_run_id in self._hidden or parent_run_id in self._tools:
            self._hidden.add(run_id)
        return root

    def claim_run(self, node_run_id: UUID | str | None) -> str | None:
        """Called from a `RemembererMiddleware` node: share the run id when its agent is the root.

        Returns the root run id when the node's agent graph is this handler's root run (both
        then learn, and take feedback, under one id); the agent graph's own run id when it is
        nested in a larger run (each agent run keeps its own id); None when the run is unknown.
        """
        if node_run_id is None:
            return None
        key = node_run_id if isinstance(node_run_id, UUID) else UUID(str(node_run_id))
        with self._lock:
            root = self._root_of.get(key)
            graph = self._parent_of.get(key)
            if root is None or graph is None:
                return None
            if graph == root:
                self._runs[root].owned_by_middleware = True
            else:
                self._runs[root].agents.add(graph)
            return str(graph)

    def _drop_oldest_if_full(self) -> None:
        """Forget the oldest open run when `max_open_runs` are open (under the lock)."""
        while self._runs and len(self._runs) >= self.max_open_runs:
            oldest = next(iter(self._runs))
            self._evicted.extend(self._runs[oldest].members)
            self._forget(oldest)
            logger.warning(
                "rememberer: run %s never ended; dropped unlearned (%d runs open)",
                oldest,
                self.max_open_runs,
            )

    def _forget(self, root: UUID) -> None:
        """Drop an open root run and everything known about its members (under the lock)."""
        run = self._runs.pop(root)
        for member in run.members:
            self._root_of.pop(member, None)
            self._parent_of.pop(member, None)
            self._tools.pop(member, None)
            self._hidden.discard(member)

    def _middleware_node(self, root: UUID, graph_run_id: UUID) -> None:
        """A `RemembererMiddleware` node started in the agent run `graph_run_id` (under lock)."""
        if graph_run_id == root:
            self._runs[root].owned_by_middleware = True  # the middleware learns the whole run
        else:
            self._hidden.add(graph_run_id)  # a nested agent: its steps are not ours

    # -- chains --------------------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,  # noqa: ARG002
        inputs: dict[str, Any] | Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Open a run for a root chain; attach nested chains to their root."""
        with self._lock:
            root = self._register(run_id, parent_run_id)
            if root is not None:
                if kwargs.get("name") in _MIDDLEWARE_NODES and parent_run_id is not None:
                    self._middleware_node(root, parent_run_id)
                return
            if parent_run_id is not None and parent_run_id in self._evicted:
                self._evicted.append(run_id)  # part of a run dropped as never ending
                return
            if getattr(self._scoring, "active", False):
                return  # a scorer's own runs (e.g. the LLM judge) are not episodes
            try:
                task = task_from_input(inputs, metadata)
                said = task_from_input(inputs)
            except Exception:
                task = said = None
            self._drop_oldest_if_full()
            run = _Run(TrajectoryRecorder(task=task, said=said), {run_id})
            run.paused = isinstance(inputs, Command) and inputs.resume is not None
            self._runs[run_id] = run
            self._root_of[run_id] = run_id

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:  # noqa: ARG002
        """Finish the episode when the root run ends."""
        self._finish(run_id, succeeded=True)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:  # noqa: ARG002
        """A root run that raised is a failed episode; one stopped from outside is dropped."""
        if self._interrupted(run_id, error):
            return
        stopped = not isinstance(error, Exception)  # GeneratorExit, CancelledError, Ctrl-C
        self._finish(run_id, succeeded=None if stopped else False)

    def _interrupted(self, run_id: UUID, error: BaseException) -> bool:
        """Mark the run paused when `error` is an interrupt for human input inside it.

        Other graph control flow (a hand-off `Command(graph=Command.PARENT)`) is not a pause.
        """
        if not isinstance(error, GraphInterrupt):
            return False
        with self._lock:
            root = self._root_of.get(run_id)
            if root is not None:
                self._runs[root].paused = True
        if root == run_id:
            self._finish(run_id, succeeded=None)
        return True

    # -- models --------------------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,  # noqa: ARG002
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,  # noqa: ARG002
    ) -> None:
        """Attach the model run; its prompt's human message is the task if none is known yet."""
        with self._lock:
            root = self._register(run_id, parent_run_id)
            if root is None or run_id in self._hidden:
                return
            self._runs[root].recorder.set_task_if_missing(last_human_text(messages[0]))

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,  # noqa: ARG002
        prompts: list[str],  # noqa: ARG002
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,  # noqa: ARG002
    ) -> None:
        """Attach a text-completion model run."""
        with self._lock:
            self._register(run_id, parent_run_id)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:  # noqa: ARG002
        """Record the model output: its tool calls are the next action."""
        with self._lock:
            root = self._root_of.get(run_id)
            if root is None or run_id in self._hidden or not response.generations:
                return
            recorder = self._runs[root].recorder
        first = response.generations[0][0] if response.generations[0] else None
        if isinstance(first, ChatGeneration) and isinstance(first.message, AIMessage):
            recorder.add_ai_message(first.message)
        elif first is not None:
            recorder.add_ai_message(AIMessage(content=first.text))

    # -- tools ---------------------------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,  # noqa: ARG002
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Remember the tool's name and call id until it ends."""
        with self._lock:
            inside = parent_run_id in self._hidden or parent_run_id in self._tools
            root = self._register(run_id, parent_run_id)
            if root is None or inside:
                return
            name = (serialized or {}).get("name") or kwargs.get("name")
            self._tools[run_id] = _Tool(root, name, kwargs.get("tool_call_id"))

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:  # noqa: ARG002
        """Record the tool result (a `ToolMessage` from LangGraph, a raw value elsewhere)."""
        recorder, tool = self._tool_recorder(run_id)
        if recorder is None or tool is None:
            return
        if isinstance(output, Command) and isinstance(output.update, Mapping):
            # A tool that updates the graph state: its ToolMessage is in the update.
            found = [m for m in output.update.get("messages") or [] if isinstance(m, ToolMessage)]
            if found:
                for message in found:
                    recorder.add_tool_message(message)
                return
        if isinstance(output, ToolMessage):
            recorder.add_tool_message(output)
        else:
            recorder.add_tool_result(
                tool.tool_call_id,
                output if isinstance(output, str) else str(output),
                name=tool.name,
            )

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Record a tool error as the observation `Error: ...`."""
        if self._interrupted(run_id, error):
            with self._lock:
                self._tools.pop(run_id, None)
            return
        recorder, tool = self._tool_recorder(run_id)
        if recorder is None or tool is None:
            return
        call_id = tool.tool_call_id or kwargs.get("tool_call_id")
        text = f"Error: {type(error).__name__}: {error}"
        recorder.add_tool_result(call_id, text, name=tool.name, error=True)

    def _tool_recorder(self, run_id: UUID) -> tuple[TrajectoryRecorder | None, _Tool | None]:
        with self._lock:
            tool = self._tools.pop(run_id, None)
            run = self._runs.get(tool.root) if tool else None
            return (run.recorder if run else None), tool

    # -- episode -------------------------------------------------------------------------------

    def _finish(self, run_id: UUID, *, succeeded: bool | None) -> None:
        """End the root run `run_id`: learn it, or drop it when `succeeded` is None."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or self._root_of.get(run_id) != run_id:
                return
            self._forget(run_id)
        rid = str(run_id)
        self.last_run_id = rid
        if run.agents and not run.owned_by_middleware and run.recorder.is_empty():
            # A wrapper (retry, fallbacks, a prep step, a parent graph) around middleware agents:
            # they learn their runs; this one has no step of its own.
            run.owned_by_middleware = True
            if len(run.agents) == 1:
                self.last_run_id = str(next(iter(run.agents)))
        if run.owned_by_middleware:
            logger.debug("rememberer: run %s is learned by RemembererMiddleware; skipped", rid)
            return
        if succeeded is None or run.paused:
            logger.info(
                "rememberer: run %s not learned: it was interrupted, resumed or stopped from "
                "outside (use RemembererMiddleware for agents that pause for human input)",
                rid,
            )
            self.reports[rid] = None
            return
        try:
            episode = run.recorder.episode(
                run_id=rid, succeeded=succeeded, max_observation_chars=self.max_observation_chars
            )
        except Exception as e:
            logger.warning("rememberer: run %s not learned, no episode could be built: %s", rid, e)
            self.reports[rid] = None
            return
        self.episodes.append(episode)
        self._scoring.active = True
        try:
            report = finish_episode(self.memory, episode, self.scorer, namespace=self.namespace)
        finally:
            self._scoring.active = False
        self.reports[rid] = report
        while len(self.reports) > max(self.episodes.maxlen or 0, 1) * 4:
            self.reports.pop(next(iter(self.reports)))

    def record_feedback(self, run_id: UUID | str, reward: float) -> LearnReport:
        """Give a pending run its final reward and learn it, exactly once.

        Raises:
            FeedbackError: the run is not pending (unknown run id, or already learned).
            InvalidInputError: the reward is not a finite number.
        """
        return self.memory.learn_pending(str(run_id), reward, namespace=self.namespace)

    def __repr__(self) -> str:
        return f"RLEMCallbackHandler(namespace={self.namespace!r}, open_runs={len(self._runs)})"

    @property
    def open_runs(self) -> Mapping[str, int]:
        """Root runs in progress and how many child runs each has (for debugging)."""
        with self._lock:
            return {str(k): len(v.members) for k, v in self._runs.items()}
