"""`RLEMCallbackHandler`: learning from any LangChain run through callback events.

Works with LangGraph graphs, LCEL chains and `langchain_classic` `AgentExecutor`s, for `invoke`
and `ainvoke`. State is keyed by the root run id and guarded by a lock, because callbacks arrive
from many threads (parallel tools, executor threads under asyncio).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langgraph.errors import GraphInterrupt
from langgraph.types import Command

from langchain_rememberer.adapters._context import (
    run_arm,
    see_configurable,
    unit_hash,
    with_arm,
)
from langchain_rememberer.adapters._learning import (
    PendingWarning,
    afinish_episode,
    check_memory,
    check_scorer,
    closed_episode,
    finish_episode,
)
from langchain_rememberer.adapters._namespaces import RunNamespaces
from langchain_rememberer.adapters._runs import (
    FinishedRuns,
    Kind,
    OnFinished,
    Owner,
    RunRegistry,
    is_middleware_node,
)
from langchain_rememberer.adapters.recorder import TrajectoryRecorder, task_from_input
from langchain_rememberer.adapters.trajectory import last_human_text
from langchain_rememberer.memory import RemembererMemory
from langchain_rememberer.types import Episode, LearnReport

__all__ = ["RLEMCallbackHandler", "succeeded_of"]

logger = logging.getLogger(__name__)

_SCORING: ContextVar[frozenset[int]] = ContextVar("rememberer_scoring", default=frozenset())
"""Ids of the handlers scoring in this context (thread or task): their scorer's runs are
ignored. A context variable, not a thread-local: tasks on one loop share a thread."""


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

    Many runs at once (threads, `asyncio.gather`): choose each run's id, or be told it:
        ```python
        import uuid

        finished = {}
        handler = RLEMCallbackHandler(
            memory,
            scorer=FeedbackScorer(),
            on_finished=lambda run_id, episode, report: finished.update({run_id: episode}),
        )
        run_id = str(uuid.uuid4())
        chain.invoke("What is 2+2?", config={"callbacks": [handler], "run_id": run_id})
        assert finished[run_id].task == "What is 2+2?"
        handler.record_feedback(run_id, reward=1.0)
        ```

    Args:
        memory: The experience memory to learn into.
        scorer: `Episode -> float | None`; default `ToolRewardScorer` (tool rewards only).
        namespace: The memory namespace (default: the memory's), or a template of one,
            e.g. `"team-{team_id}"`, filled once per run from `config["configurable"]` as
            the run's child runs see it (a run without any, one function, shows none).
            Learning and `record_feedback` use the filled value, which must be a usable
            namespace as it is (never rewritten); a run whose template cannot be filled
            learns nothing anywhere, with one warning naming the key and the template.
        keep_episodes: How many finished episodes to keep in `episodes` for inspection (0:
            none).
        max_open_runs: Runs that never end (an abandoned stream) are dropped, oldest first,
            beyond this many open runs.
        on_finished: Called once per finished run this handler learns, with its run id, its
            episode (None when not learned) and its report (None: pending, skipped, failed),
            from the thread that ended the run; errors in it are logged, never raised into
            the run.
        keep_reports: How many finished runs `report(run_id)` remembers (the latest runs).

    Raises:
        InvalidInputError: a bad `namespace`, `keep_episodes`, `max_open_runs` or `keep_reports`.
        TypeError: `memory` is not a `RemembererMemory`; `scorer` or `on_finished` is not
            callable.

    Concurrent runs: choose each run's id (`config={"run_id": uuid}`) and read
    `handler.report(run_id)`, or take it from `on_finished`; `last_run_id` is only right when
    runs do not overlap.
    """

    raise_error = False

    def __init__(
        self,
        memory: RemembererMemory,
        scorer: Callable[[Episode], float | None] | None = None,
        *,
        namespace: str | None = None,
        keep_episodes: int = 32,
        max_open_runs: int = 1024,
        on_finished: OnFinished | None = None,
        keep_reports: int = 1024,
    ) -> None:
        self.memory = check_memory(memory, "RLEMCallbackHandler")
        self.scorer = check_scorer(scorer, "RLEMCallbackHandler")
        self._finished = FinishedRuns(keep_episodes, keep_reports, on_finished)
        self._pending_warning = PendingWarning("RLEMCallbackHandler")
        self.namespace = namespace
        self._namespaces = RunNamespaces(
            namespace, default=self.memory.namespace, owner="RLEMCallbackHandler"
        )
        self.runs = RunRegistry(max_open_runs)
        """The node table of the runs in progress (shared with `RemembererMiddleware`)."""

    @property
    def last_run_id(self) -> str | None:
        """The run id of the latest finished root run, for sequential use only.

        With concurrent runs it may be another run's: choose each run's id
        (`config={"run_id": ...}`) or use `on_finished` instead.
        """
        return self._finished.last_run_id

    @property
    def episodes(self) -> list[Episode]:
        """The latest finished episodes (learned, pending or skipped), oldest first (a copy)."""
        return self._finished.episodes

    @property
    def reports(self) -> Mapping[str, LearnReport | None]:
        """`LearnReport` per finished run id (None: pending, skipped or failed), a copy."""
        return self._finished.reports

    @property
    def max_open_runs(self) -> int:
        """How many runs may be open at once before the oldest is dropped unlearned."""
        return self.runs.max_open_runs

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
        if (node := self.runs.attach(run_id, parent_run_id)) is not None:
            see_configurable(self._namespaces, self.runs, node)
            if is_middleware_node(kwargs.get("name")):
                self.runs.claim(run_id)  # that agent is learned by its middleware
            return
        if self.runs.is_evicted(parent_run_id):
            self.runs.evict_child(run_id)  # part of a run dropped as never ending
            return
        if id(self) in _SCORING.get():
            return  # a scorer's own runs (e.g. the LLM judge) are not episodes
        try:
            task = task_from_input(inputs, metadata)
            said = task_from_input(inputs)
        except Exception:
            task = said = None
        paused = isinstance(inputs, Command) and inputs.resume is not None
        recorder = TrajectoryRecorder(task=task, said=said)
        recorder.arm = run_arm(self.memory, {"metadata": metadata}, str(run_id))
        recorder.unit = unit_hash({"metadata": metadata})
        for dropped in self.runs.open(run_id, recorder, paused=paused):
            logger.warning(
                "rememberer: run %s never ended; dropped unlearned (%d runs open)",
                dropped,
                self.max_open_runs,
            )

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:  # noqa: ARG002
        """Finish the episode when the root run ends.

        A root run without any model output (a chain of plain functions) answered with its
        output: a text or message output is recorded as the final answer.
        """
        self._record_output(outputs, run_id)
        self._finish(run_id, succeeded=True)

    def _record_output(self, outputs: Any, run_id: UUID) -> None:
        """A root run's output, as its answer when the run had no model output."""
        node = self.runs.node(run_id)
        if node is not None and node.kind is Kind.ROOT:
            recorder = self.runs.recorder_for(run_id)
            if recorder is not None and recorder.is_empty():
                if isinstance(outputs, str):
                    recorder.add_ai_message(AIMessage(content=outputs))
                elif isinstance(outputs, AIMessage) and not outputs.tool_calls:
                    recorder.add_ai_message(outputs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:  # noqa: ARG002
        """A root run that raised is a failed episode; one stopped from outside is dropped."""
        if not self._interrupted(run_id, error):
            self._finish(run_id, succeeded=succeeded_of(error))

    def _interrupted(self, run_id: UUID, error: BaseException) -> bool:
        """Mark the run paused when `error` is an interrupt for human input inside it.

        Other graph control flow (a hand-off `Command(graph=Command.PARENT)`) is not a pause.
        """
        if not isinstance(error, GraphInterrupt):
            return False
        if self.runs.pause(run_id) == run_id:
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
        node = self.runs.attach(run_id, parent_run_id)
        see_configurable(self._namespaces, self.runs, node)
        recorder = self.runs.recorder_for(run_id) if node is not None else None
        if recorder is not None:
            recorder.set_task_if_missing(last_human_text(messages[0]))

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
        see_configurable(self._namespaces, self.runs, self.runs.attach(run_id, parent_run_id))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:  # noqa: ARG002
        """Record the model output: its tool calls are the next action."""
        recorder = self.runs.recorder_for(run_id)
        if recorder is None or not response.generations:
            return
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
        name = (serialized or {}).get("name") or kwargs.get("name")
        node = self.runs.attach(run_id, parent_run_id, tool=(name, kwargs.get("tool_call_id")))
        see_configurable(self._namespaces, self.runs, node)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:  # noqa: ARG002
        """Record the tool result (a `ToolMessage` from LangGraph, a raw value elsewhere)."""
        found_tool = self.runs.take_tool(run_id)
        if found_tool is None:
            return
        recorder, tool = found_tool
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
                name=tool.tool_name,
            )

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Record a tool error as the observation `Error: ...`."""
        found_tool = self.runs.take_tool(run_id)
        if self._interrupted(run_id, error) or found_tool is None:
            return
        recorder, tool = found_tool
        call_id = tool.tool_call_id or kwargs.get("tool_call_id")
        text = f"Error: {type(error).__name__}: {error}"
        recorder.add_tool_result(call_id, text, name=tool.tool_name, error=True)

    # -- episode -------------------------------------------------------------------------------

    def _finish(self, run_id: UUID, *, succeeded: bool | None) -> None:
        """Close the root run `run_id`, decide who learns it, and learn it (or drop it)."""
        closing = self._closing(run_id, succeeded=succeeded)
        if closing is None:
            return
        rid, episode, where = closing
        report = None
        if episode is not None and where is not None:
            with self._scoring():
                report = finish_episode(self.memory, episode, self.scorer, **self._how(where))
        self._finished.add(rid, episode, report)

    async def _afinish(self, run_id: UUID, *, succeeded: bool | None) -> None:
        """`_finish` awaited: the scorer's `ascore`, the memory's I/O in a worker thread."""
        closing = self._closing(run_id, succeeded=succeeded)
        if closing is None:
            return
        rid, episode, where = closing
        report = None
        if episode is not None and where is not None:
            with self._scoring():
                report = await afinish_episode(
                    self.memory, episode, self.scorer, **self._how(where)
                )
        self._finished.add(rid, episode, report)

    def _how(self, namespace: str) -> dict[str, Any]:
        return {"namespace": namespace, "pending_warning": self._pending_warning}

    @contextlib.contextmanager
    def _scoring(self) -> Iterator[None]:
        """The scorer's own runs (e.g. the LLM judge's) reach this handler too: not episodes."""
        token = _SCORING.set(frozenset({*_SCORING.get(), id(self)}))
        try:
            yield
        finally:
            _SCORING.reset(token)

    def _closing(
        self, run_id: UUID, *, succeeded: bool | None
    ) -> tuple[str, Episode | None, str | None] | None:
        """Close the root run: (its id, its episode, its namespace), or None when not ours."""
        run = self.runs.close(run_id)
        if run is None:
            return None
        seen = self._namespaces.seen(str(run_id))
        verdict = run.verdict()
        if verdict.owner is Owner.MIDDLEWARE:
            logger.debug("rememberer: run %s is learned by RemembererMiddleware; skipped", run_id)
            self._finished.handed_over(verdict.run_id)
            return None
        rid = str(run_id)
        episode = closed_episode(run, rid, succeeded, self.memory.text_limits)
        if episode is not None:
            episode = with_arm(episode, run.recorder.arm, self.memory.holdout, run.recorder.unit)
        where = self._namespaces.resolve_seen(rid, seen) if episode is not None else None
        return rid, episode, where

    def report(self, run_id: UUID | str) -> LearnReport | None:
        """The `LearnReport` of a finished run (None: pending, skipped, failed or unknown).

        Safe with concurrent runs: it reads the run you name, of the latest `keep_reports`.
        """
        return self._finished.report(str(run_id))

    def record_feedback(
        self, run_id: UUID | str, reward: float, *, namespace: str | None = None
    ) -> LearnReport:
        """Give a pending run its final reward and learn it, exactly once.

        `namespace`: where the run was recorded; default: where this handler put it (for a
        template, known for its latest 1024 runs in this process).

        Raises:
            FeedbackError: the run is not pending (unknown, learned, or its template unfilled).
            InvalidInputError: the reward is not finite; a template's run unknown here, and no
                `namespace` given.
        """
        where = self._namespaces.for_feedback(str(run_id), namespace)
        return self.memory.learn_pending(str(run_id), reward, namespace=where)

    async def arecord_feedback(
        self, run_id: UUID | str, reward: float, *, namespace: str | None = None
    ) -> LearnReport:
        """Async twin of `record_feedback`, on the memory's `alearn_pending` (same errors)."""
        where = self._namespaces.for_feedback(str(run_id), namespace)
        return await self.memory.alearn_pending(str(run_id), reward, namespace=where)

    def __repr__(self) -> str:
        open_runs = len(self.runs.open_runs)
        return f"RLEMCallbackHandler(namespace={self.namespace!r}, open_runs={open_runs})"

    @property
    def open_runs(self) -> Mapping[str, int]:
        """Root runs in progress and how many child runs each has (for debugging)."""
        return self.runs.open_runs


def succeeded_of(error: BaseException) -> bool | None:
    """A run that raised `error` failed (False), unless it was stopped from outside (None)."""
    return None if not isinstance(error, Exception) else False  # GeneratorExit, Ctrl-C
