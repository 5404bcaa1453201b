"""`RemembererMiddleware`: experience memory for `create_agent` agents.

The library's only module that imports `langchain.agents` (the benchmark's agent runner also
builds agents with `create_agent`). Before each model call it retrieves the most
similar stored states for (task, latest observation, recent actions) and appends them to the
system message; after the run it builds the episode from the state's messages, scores it and
learns it (or saves it as pending). Memory or scorer trouble is logged, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, NamedTuple

from langchain.agents.middleware import (
    AgentMiddleware,
    AgentState,
    ExtendedModelResponse,
    ModelRequest,
    ModelResponse,
)
from langchain.agents.middleware.types import OmitFromInput, PrivateStateAttr
from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage
from langgraph.errors import GraphBubbleUp
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command
from typing_extensions import NotRequired

from langchain_rememberer.adapters._context import (
    annotate_agent_run,
    current_trace_run,
    run_arm,
    run_config,
    shared_run_id,
    task_override,
    unit_hash,
    with_arm,
)
from langchain_rememberer.adapters._learning import (
    PendingWarning,
    afinish_episode,
    check_memory,
    check_scorer,
    finish_episode,
)
from langchain_rememberer.adapters._namespaces import RunNamespaces
from langchain_rememberer.adapters._runs import check_count, middleware_name
from langchain_rememberer.adapters.prompting import append_to_system_message, exemplars_message
from langchain_rememberer.adapters.trajectory import (
    after_summary,
    current_state,
    episode_from_messages,
    is_summary,
    last_human_text,
)
from langchain_rememberer.errors import InvalidInputError
from langchain_rememberer.exemplars import Exemplar, with_current_task
from langchain_rememberer.memory import RemembererMemory
from langchain_rememberer.types import MAX_K, Episode, LearnReport, RetrievedState

__all__ = ["RemembererMiddleware", "RemembererState"]

_Shown = tuple[str, list[Exemplar], list[str]]
"""What a model call is shown: the block, its exemplars, the ids of the states retrieved."""


class _Failure(NamedTuple):
    """A run a tool exception is about to end: its state with the error, to learn as failed."""

    state: dict[str, Any]
    run_id: str
    namespace: str
    forget_first: bool
    """An earlier failure of the run was learned, then caught: forget that partial episode."""


logger = logging.getLogger(__name__)

_MAX_FAILED_RUNS = 1024


def _failed_id(run_id: str) -> str:
    """The run id a partial episode ended by a tool exception is learned under."""
    return f"{run_id}#failed"


def _shown_ids(before: list[str] | None, update: list[str] | None) -> list[str]:
    """Reducer of `rememberer_exemplar_ids`: [] resets (a run starts), else union in order.

    Stacked middlewares (two memories in one agent) both update it within one model call.
    """
    if not update:
        return []
    return list(dict.fromkeys([*(before or []), *update]))


def _merged(before: dict[str, str] | None, update: dict[str, str] | None) -> dict[str, str]:
    """Reducer of `rememberer_namespaces`: each stacked middleware updates its own entry."""
    return {**(before or {}), **(update or {})}


class RemembererState(AgentState):  # type: ignore[type-arg]
    """Agent state keys added by `RemembererMiddleware`."""

    rememberer_run_id: NotRequired[Annotated[str, OmitFromInput]]
    """The run id episodes are learned (and feedback is given) under; in the output."""
    rememberer_arm: NotRequired[Annotated[str, OmitFromInput]]
    """The run's arm with a holdout: "control" (shown no lessons) or "memory"; else ""."""
    rememberer_exemplar_ids: NotRequired[Annotated[list[str], PrivateStateAttr, _shown_ids]]
    """Ids of the stored states shown to the model during this run."""
    rememberer_start_id: NotRequired[Annotated[str, PrivateStateAttr]]
    """Id of the human message that started this run: the episode starts there (earlier
    messages are history)."""
    rememberer_said: NotRequired[Annotated[str, PrivateStateAttr]]
    """Text of that human message: the task, should `SummarizationMiddleware` replace the
    message with a summary."""
    rememberer_namespaces: NotRequired[Annotated[dict[str, str], PrivateStateAttr, _merged]]
    """This run's namespace per middleware name, resolved when the run starts ("": none, the
    template could not be filled, so the run uses no memory)."""


class RemembererMiddleware(AgentMiddleware[RemembererState, Any]):
    """Give a `create_agent` agent a long-term experience memory that learns from rewards.

    Setup:
        ```python
        from langchain_rememberer import RemembererMemory, RemembererMiddleware

        memory = RemembererMemory(path=None)  # or a path, or client=chromadb.HttpClient(...)
        ```

    Use with create_agent:
        ```python
        from langchain.agents import create_agent
        from langchain_core.language_models.fake_chat_models import FakeListChatModel

        model = FakeListChatModel(responses=["Paris."])  # stands in for e.g. ChatOpenAI
        agent = create_agent(model, middleware=[RemembererMiddleware(memory, scorer=lambda e: 1.0)])
        result = agent.invoke({"messages": [("user", "Capital of France?")]})
        run_id = result["rememberer_run_id"]  # the id to give feedback for
        ```

    Learn: after each run the episode is scored by `scorer` (`Episode -> float | None`) and
    learned; None saves it as pending until `record_feedback(run_id, reward)`. Pass
    `config={"run_id": uuid}` to choose the run id yourself. A tool exception that ends the
    run is learned as a failed episode (`succeeded=False`, the scorer is told) before it is
    re-raised; list retrying middleware after this one so only the final failure counts.

    Holdout: with `RemembererMemory(holdout=...)`, a control run is shown nothing (no
    retrieval) but still learned; its arm is in the output as `rememberer_arm` (docs/lift.md).

    Inspect: the ids of the memories shown are kept in the private state key
    `rememberer_exemplar_ids` and, when LangSmith tracing is on, added to the run's metadata.

    Args:
        memory: The experience memory.
        scorer: `Episode -> float | None`; default `ToolRewardScorer` (tool rewards only).
        namespace: The memory namespace (default: the memory's), or a template of one with
            `{key}` fields, e.g. `"team-{team_id}"`, filled once per run: each key from the
            `create_agent` runtime context (`agent.invoke(..., context=...)`, a dict's key or
            an object's attribute) or else from `config["configurable"]`; the runtime context
            wins when both have it, and None counts as absent. Retrieval, learning, a failed
            tool's episode and `record_feedback` all use the run's filled namespace. It must
            be a usable namespace as filled (a user id `"a/b"` is an error, never rewritten).
            A run whose template cannot be filled (a missing key, a bad value) uses no memory:
            one warning names the key and the template, the model sees no exemplars, nothing
            is learned or written anywhere, and the run itself goes on normally.
        k: Exemplars per model call, a whole number from 1 to 10,000 (default: the memory's
            retrieval config).
        learn: False freezes the memory: exemplars are shown, nothing is learned (evaluation).
        placement: Where the block goes in each model request. "after" (default): a human
            message after the conversation (never stored in the agent's state), ending with
            the current task on a line of its own (`prompts.CURRENT_TASK`); small models follow
            a lesson they read last (the probe's 0.5B: 0.81 against 0.53 in the system
            message, docs/probe-results.md), and every request starts with the previous one's
            messages byte for byte, so a provider's prefix cache covers the conversation.
            "system": appended to the system message; the prompt then changes at its top every
            step, so the cache covers little of it; measured trade-off in docs/tuning.md.

    Raises:
        InvalidInputError: a bad `k`, `learn`, `placement` or `namespace` (a field other than
            a plain `{key}`, or text no namespace may hold), at construction, not every run.
        TypeError: `memory` is not a `RemembererMemory`, or `scorer` is not callable.

    Concurrent runs: each run's id is in its own output, `rememberer_run_id` (or choose it
    with `config={"run_id": uuid}`); nothing on the middleware holds "the latest run".
    """

    state_schema = RemembererState

    def __init__(
        self,
        memory: RemembererMemory,
        *,
        scorer: Callable[[Episode], float | None] | None = None,
        namespace: str | None = None,
        k: int | None = None,
        learn: bool = True,
        placement: Literal["system", "after"] = "after",
    ) -> None:
        super().__init__()
        if not isinstance(learn, bool):
            msg = f"learn must be True or False, got {learn!r}"
            raise InvalidInputError(msg)
        if placement not in ("system", "after"):
            msg = f'placement must be "system" or "after", got {placement!r}'
            raise InvalidInputError(msg)
        self.learn = learn
        self.placement = placement
        self.memory = check_memory(memory, "RemembererMiddleware")
        self.scorer = check_scorer(scorer, "RemembererMiddleware")
        self._pending_warning = PendingWarning("RemembererMiddleware")
        self.namespace = namespace
        """The `namespace=` given: a namespace, a template of one, or None (the memory's)."""
        self._namespaces = RunNamespaces(
            namespace, default=self.memory.namespace, owner="RemembererMiddleware"
        )
        # Checked here, not on every model call (where a bad k would only warn, every time).
        self.k = None if k is None else check_count(k, "k", minimum=1, maximum=MAX_K)
        self._lock = threading.Lock()
        self._failed: OrderedDict[str, int] = OrderedDict()
        """Runs whose tool failure was learned: run id -> message count at the failure."""

    @property
    def name(self) -> str:
        """`RemembererMiddleware[<namespace>]`: two memories can be stacked in one agent."""
        return middleware_name(self.namespace or self.memory.namespace)

    # -- run start -----------------------------------------------------------------------------

    def _start(self, state: RemembererState, runtime: Any) -> dict[str, Any]:
        config = run_config()
        info = getattr(runtime, "execution_info", None)
        run_id = getattr(info, "run_id", None)
        # An `RLEMCallbackHandler` in the same run claims the agent (always, once seen), then
        # its id; otherwise a fresh id: a trace or an outer run may hold many agent runs.
        claimed = shared_run_id(config)
        run_id = str(run_id or claimed or uuid.uuid4())
        messages = state.get("messages", [])
        human = next((m for m in reversed(messages) if isinstance(m, HumanMessage)), None)
        return {
            "rememberer_run_id": run_id,
            "rememberer_arm": run_arm(self.memory, config, run_id) or "",
            "rememberer_exemplar_ids": [],
            "rememberer_start_id": (human.id if human is not None else None) or "",
            "rememberer_said": last_human_text(messages) or "",
            "rememberer_namespaces": {self.name: self._resolve(run_id, runtime, config)},
        }

    def _resolve(self, run_id: str, runtime: Any, config: Mapping[str, Any]) -> str:
        """This run's namespace, once per run ("": the template could not be filled, warned).

        Both `before_agent` and `abefore_agent` come here; the hooks after it read the state.
        """
        sources = [
            ("the runtime context", getattr(runtime, "context", None)),
            ("config['configurable']", config.get("configurable")),
        ]
        return self._namespaces.resolve(run_id, sources) or ""

    def _namespace_of(self, state: Any) -> str | None:
        """The namespace this run resolved to; None: this run uses no memory."""
        found = (state.get("rememberer_namespaces") or {}).get(self.name)
        if isinstance(found, str):
            return found or None
        # A run started before this key existed: a plain namespace still holds, a template not.
        return None if self._namespaces.fields else self._namespaces.template.template

    def before_agent(self, state: RemembererState, runtime: Any) -> dict[str, Any] | None:
        """Choose the run id and mark where this run's messages start."""
        try:
            return self._start(state, runtime)
        except Exception as e:
            logger.warning("rememberer: could not start the run: %s", e)
            fallback = "" if self._namespaces.fields else self._namespaces.template.template
            return {
                "rememberer_run_id": str(uuid.uuid4()),
                "rememberer_arm": "",
                "rememberer_exemplar_ids": [],
                "rememberer_start_id": "",
                "rememberer_said": "",
                "rememberer_namespaces": {self.name: fallback},
            }

    async def abefore_agent(self, state: RemembererState, runtime: Any) -> dict[str, Any] | None:
        """Async twin of `before_agent` (no I/O)."""
        return self.before_agent(state, runtime)

    # -- model calls ---------------------------------------------------------------------------

    def _run_view(self, state: Any) -> tuple[Sequence[BaseMessage], str | None]:
        """This run's messages, and the first step's observation when it is not the human's.

        Earlier turns are history (the episode starts at the latest human message anyway). If
        `SummarizationMiddleware` replaced this run's human message with a summary, the run is
        replayed from the first step whose observation is still known.
        """
        messages = list(state.get("messages", []))
        start = state.get("rememberer_start_id")
        if start:
            for i in range(len(messages) - 1, -1, -1):
                if messages[i].id == start:
                    return messages[i:], None
        said = state.get("rememberer_said")
        if isinstance(said, str) and said.strip() and any(is_summary(m) for m in messages):
            return after_summary(messages, said)
        return messages, None

    def _showing(self, request: ModelRequest[Any]) -> _Shown:
        """Retrieve and render exemplars: (block, exemplars shown, ids of the states retrieved).

        ("", [], []) when there is nothing to show or the memory failed (never raises).
        """
        state = request.state
        run_id = state.get("rememberer_run_id", "?")
        namespace = self._namespace_of(state)
        if namespace is None or state.get("rememberer_arm") == "control":
            return "", [], []  # no namespace: warned when the run started
        try:
            messages, first = self._run_view(state)
            where = current_state(
                messages or request.messages,
                task=task_override(run_config()),
                first_observation=first,
                limits=self.memory.text_limits,
            )
            if where is None:
                return "", [], []
            query: dict[str, Any] = {
                "task": where.task,
                "observation": where.observation,
                "k": self.k,
                "namespace": namespace,
                "recent_actions": where.actions if self.memory.action_history else (),
            }
            states: list[RetrievedState] = self.memory.retrieve(**query)
            block, shown = self.memory.render_shown(states)
            if self.placement == "after":
                block = with_current_task(block, where.task, self.memory.retrieval, shown=shown)
            return block, shown, [s.id for s in states]
        except Exception as e:
            logger.warning("rememberer: run %s continues without exemplars: %s", run_id, e)
            return "", [], []

    def _with_exemplars(
        self, request: ModelRequest[Any], block: str, shown: list[Exemplar]
    ) -> ModelRequest[Any]:
        if not block:
            return request
        if self.placement == "after":
            return request.override(messages=[*request.messages, exemplars_message(block, shown)])
        return request.override(
            system_message=append_to_system_message(request.system_message, block, shown)
        )

    def _respond(self, request: ModelRequest[Any], response: Any, ids: list[str]) -> Any:
        if not ids or not isinstance(response, ModelResponse):
            return response
        state: Any = request.state
        before: list[str] = list(state.get("rememberer_exemplar_ids") or [])
        shown = list(dict.fromkeys([*before, *ids]))
        trace = current_trace_run()
        if trace is not None:
            try:
                trace.add_metadata({"rememberer_exemplar_ids": ids})
            except Exception:
                logger.debug("rememberer: could not annotate the trace", exc_info=True)
        return ExtendedModelResponse(
            model_response=response, command=Command(update={"rememberer_exemplar_ids": shown})
        )

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> Any:
        """Add exemplars to the request (`placement`), then call the model."""
        block, shown, ids = self._showing(request)
        return self._respond(request, handler(self._with_exemplars(request, block, shown)), ids)

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> Any:
        """Async twin of `wrap_model_call`: the retrieval in a worker thread."""
        block, shown, ids = await asyncio.to_thread(self._showing, request)
        response = await handler(self._with_exemplars(request, block, shown))
        return self._respond(request, response, ids)

    # -- run end -------------------------------------------------------------------------------

    def _forget(self, run_id: str, namespace: str) -> None:
        """Forget the partial failed episode learned for `run_id` (it went on after all)."""
        try:
            self.memory.forget_run(_failed_id(run_id), namespace=namespace)
        except Exception as e:
            logger.warning(
                "rememberer: run %s: could not forget its partial episode: %s", run_id, e
            )

    def _episode(
        self, state: Any, config: dict[str, Any], *, succeeded: bool = True
    ) -> tuple[Episode, str] | None:
        """This run's episode and namespace, or None (logged): nothing to learn."""
        run_id = state.get("rememberer_run_id") or str(uuid.uuid4())
        namespace = self._namespace_of(state)
        if namespace is None:
            logger.debug("rememberer: run %s not learned: it has no namespace", run_id)
            return None
        if succeeded and self._take_failed(run_id):
            # A tool exception was learned as a failure, then caught outside this middleware
            # and the run went on: the whole run replaces that partial episode.
            self._forget(run_id, namespace)
        try:
            messages, first = self._run_view(state)
            episode = episode_from_messages(
                messages,
                task=task_override(config),
                first_observation=first,
                run_id=run_id if succeeded else _failed_id(run_id),
                succeeded=succeeded,
                limits=self.memory.text_limits,
            )
        except Exception as e:
            logger.warning(
                "rememberer: run %s not learned, no episode could be built: %s", run_id, e
            )
            return None
        arm = state.get("rememberer_arm") or ""
        annotate_agent_run(config, run_id, state.get("rememberer_exemplar_ids", []), arm)
        return with_arm(episode, arm, self.memory.holdout, unit_hash(config)), namespace

    def _learn(
        self, state: Any, config: dict[str, Any], *, succeeded: bool = True
    ) -> LearnReport | None:
        """Build this run's episode, score it and learn it (never raises)."""
        found = self._episode(state, config, succeeded=succeeded)
        if found is None:
            return None
        episode, namespace = found
        return finish_episode(
            self.memory,
            episode,
            self.scorer,
            namespace=namespace,
            pending_warning=self._pending_warning,
        )

    async def _alearn(
        self, state: Any, config: dict[str, Any], *, succeeded: bool = True
    ) -> LearnReport | None:
        """`_learn` awaited: the scorer's `ascore`, the memory's I/O in a worker thread."""
        found = await asyncio.to_thread(self._episode, state, config, succeeded=succeeded)
        if found is None:
            return None
        episode, namespace = found
        return await afinish_episode(
            self.memory,
            episode,
            self.scorer,
            namespace=namespace,
            pending_warning=self._pending_warning,
        )

    def after_agent(self, state: RemembererState, runtime: Any) -> dict[str, Any] | None:  # noqa: ARG002
        """Build the episode from this run's messages, score it and learn it."""
        if self.learn:
            self._learn(state, run_config())
        return None

    async def aafter_agent(self, state: RemembererState, runtime: Any) -> dict[str, Any] | None:  # noqa: ARG002
        """Async twin of `after_agent`: the scorer's `ascore`, the memory in a worker thread."""
        if self.learn:
            await self._alearn(state, run_config())
        return None

    # -- tool failures -------------------------------------------------------------------------

    def _take_failed(self, run_id: str) -> bool:
        """Whether a tool failure of `run_id` was learned (and forget that it was)."""
        with self._lock:
            if run_id not in self._failed:
                return False
            del self._failed[run_id]
            return True

    def _failure(self, request: ToolCallRequest, error: Exception) -> _Failure | None:
        """What to learn of the run that `error` is about to end, once per step (no I/O).

        It is learned under the id `<run id>#failed`: should the run go on after all (an outer
        middleware caught the error, or a retry resumes it), the whole run is learned under its
        own id and this partial episode is forgotten (when it goes on in this process).
        """
        state = request.state
        if not self.learn or not isinstance(state, Mapping):
            return None
        run_id = state.get("rememberer_run_id")
        namespace = self._namespace_of(state)
        if not isinstance(run_id, str) or namespace is None:
            return None
        count = len(state.get("messages", []))
        with self._lock:
            before = self._failed.pop(run_id, None)
            self._failed[run_id] = count
            while len(self._failed) > _MAX_FAILED_RUNS:
                self._failed.popitem(last=False)
        if before == count:
            return None  # a parallel call of the same step failed too
        logger.info(
            "rememberer: run %s: tool %r raised %r; learning a failed episode",
            run_id,
            request.tool_call.get("name"),
            error,
        )
        call_id = str(request.tool_call.get("id"))
        failed = ToolMessage(f"Error: {error!r}", tool_call_id=call_id, status="error")
        # An earlier failure of the run was caught if `before`; this one ends the run.
        return _Failure(
            {**state, "messages": [*state.get("messages", []), failed]},
            run_id,
            namespace,
            forget_first=before is not None,
        )

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        """Run the tool; an exception that would end the run is first learned as a failure."""
        try:
            return handler(request)
        except GraphBubbleUp:
            raise  # interrupts and other graph control flow are not failures
        except Exception as e:
            failure = self._failure(request, e)
            if failure is not None:
                if failure.forget_first:
                    self._forget(failure.run_id, failure.namespace)
                self._learn(failure.state, run_config(), succeeded=False)
            raise

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        """Async twin of `wrap_tool_call`: the memory's I/O in a worker thread."""
        try:
            return await handler(request)
        except GraphBubbleUp:
            raise
        except Exception as e:
            failure = self._failure(request, e)
            if failure is not None:
                if failure.forget_first:
                    await asyncio.to_thread(self._forget, failure.run_id, failure.namespace)
                await self._alearn(failure.state, run_config(), succeeded=False)
            raise

    # -- feedback ------------------------------------------------------------------------------

    def record_feedback(
        self, run_id: str, reward: float, *, namespace: str | None = None
    ) -> LearnReport:
        """Give a pending run (see `rememberer_run_id` in the output) its reward, exactly once.

        Args:
            run_id: The run's id.
            reward: Its final reward.
            namespace: The namespace the run was recorded in; default: the one this
                middleware resolved for it (with a template: known for its latest 1024 runs
                in this process; after a restart, pass the filled namespace).

        Raises:
            FeedbackError: the run is not pending (unknown run id, already learned, or not
                recorded because its namespace template could not be filled).
            InvalidInputError: the reward is not a finite number, or a template's run whose
                namespace this middleware does not know and no `namespace` was given.
        """
        where = self._namespaces.for_feedback(str(run_id), namespace)
        return self.memory.learn_pending(str(run_id), reward, namespace=where)

    async def arecord_feedback(
        self, run_id: str, reward: float, *, namespace: str | None = None
    ) -> LearnReport:
        """Async twin of `record_feedback`, on the memory's `alearn_pending` (same errors)."""
        where = self._namespaces.for_feedback(str(run_id), namespace)
        return await self.memory.alearn_pending(str(run_id), reward, namespace=where)
