"""Mapping a LangChain run to an `Episode` (DESIGN §2): one code path, two adapters.

`episode_from_messages` turns the messages of a run (what `create_agent` keeps in its state) into
an `Episode`. `recorder.TrajectoryRecorder` is filled from callback events (chat model ends, tool
ends or errors) by `RLEMCallbackHandler`, rebuilds the same kind of messages, and goes through
the same function. `current_state` gives the (task, observation, recent actions) a retrieval
needs in the middle of a run.

| RL term | in the messages of a run |
|---|---|
| task g | the latest `HumanMessage` (or an explicit `task`) |
| o_0 | the task text |
| o_t | the tool result(s) answering a_{t-1}, joined in call order |
| a_t | an AI message's tool calls as `name(arg=value, ...)` (args sorted, JSON values), joined
  with `"; "`; an AI message without tool calls is `final_answer` |
| r_{t+1} | the sum of `artifact["reward"]` over the tool results answering a_t |
"""

from __future__ import annotations

import json
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from langchain_rememberer._text import cut
from langchain_rememberer.config import TextLimits
from langchain_rememberer.errors import InvalidInputError
from langchain_rememberer.types import MAX_TEXT_CHARS, Episode, Step, is_finite_number

__all__ = [
    "ACTION_SEPARATOR",
    "FINAL_ANSWER",
    "RunState",
    "after_summary",
    "canonical_action",
    "current_state",
    "episode_from_messages",
    "is_summary",
    "last_human_text",
    "message_text",
    "tool_reward",
]

FINAL_ANSWER = "final_answer"
"""The terminal action: an AI message without tool calls."""
ACTION_SEPARATOR = "; "
"""Joins the parallel tool calls of one AI message, in call order."""
_OBSERVATION_JOIN = "\n"
_CUT_MARKER = " …[cut]"


def message_text(content: Any) -> str:
    """The text of a message content: a string, or the text blocks of a list, else JSON."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "".join(parts)
    if content is None:
        return ""
    return _json(content)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):  # unserialisable, or nested too deep
        return json.dumps(reprlib.repr(value), ensure_ascii=False)


def _cut(text: str, limit: int) -> str:
    return cut(text, min(limit, MAX_TEXT_CHARS), marker=_CUT_MARKER)


def canonical_action(tool_calls: Sequence[Mapping[str, Any]]) -> str:
    """Render tool calls as `name(arg=value, ...)`, args sorted, JSON values, joined by "; ".

    No tool call at all is the terminal action `final_answer`.

    Example:
        ```python
        from langchain_rememberer.adapters.trajectory import canonical_action

        call = {"name": "add", "args": {"b": 3, "a": 2}, "id": "c1"}
        assert canonical_action([call]) == "add(a=2, b=3)"
        ```
    """
    if not tool_calls:
        return FINAL_ANSWER
    rendered = []
    for call in tool_calls:
        args = call.get("args") or {}
        if not isinstance(args, Mapping):
            args = {"input": args}
        inner = ", ".join(f"{key}={_json(args[key])}" for key in sorted(args, key=str))
        rendered.append(f"{call.get('name') or 'tool'}({inner})")
    return ACTION_SEPARATOR.join(rendered)


def tool_reward(artifact: Any) -> float:
    """The reward a tool reported: `artifact["reward"]` or `artifact.reward`, else 0.

    Raises:
        InvalidInputError: the reported reward is not a finite number.
    """
    if artifact is None:
        return 0.0
    value = (
        artifact.get("reward") if isinstance(artifact, Mapping) else getattr(artifact, "reward", 0)
    )
    if value is None:
        return 0.0
    # Numpy scalars (np.int64, np.float32), which tools often return, count as numbers.
    if not is_finite_number(value):
        msg = f"a tool reported reward {value!r}; rewards must be finite numbers"
        raise InvalidInputError(msg)
    return float(value)


def _tool_observation(message: ToolMessage) -> str:
    text = message_text(message.content)
    if message.status == "error" and not text.lstrip().lower().startswith("error"):
        return f"Error: {text}"
    return text


@dataclass
class _PendingStep:
    observation: str
    action: str
    call_ids: list[str]
    results: dict[str, ToolMessage] = field(default_factory=dict)
    unmatched: list[ToolMessage] = field(default_factory=list)
    answer: str | None = None

    def result_messages(self) -> list[ToolMessage]:
        ordered = [self.results[i] for i in self.call_ids if i in self.results]
        return ordered + self.unmatched

    def next_observation(self) -> str:
        return _OBSERVATION_JOIN.join(_tool_observation(m) for m in self.result_messages())

    def reward(self, *, strict: bool = True) -> float:
        """The step's reward; with `strict` off, an invalid tool reward counts 0."""
        total = 0.0
        for message in self.result_messages():
            try:
                total += tool_reward(message.artifact)
            except InvalidInputError as e:
                if strict:
                    tool = message.name or message.tool_call_id
                    raise InvalidInputError(f"tool {tool!r}: {e}") from e
        return total


@dataclass(frozen=True)
class RunState:
    """Where a run stands: its task, its steps so far and the observation to act on."""

    task: str
    steps: list[Step]
    observation: str

    @property
    def actions(self) -> list[str]:
        """The actions taken so far, oldest first."""
        return [s.action for s in self.steps]


def _pending_steps(
    run: Sequence[BaseMessage], observation: str, limits: TextLimits
) -> list[_PendingStep]:
    """The run's steps from its model and tool messages, `observation` being the first one."""
    pending: list[_PendingStep] = []
    for message in run:
        if isinstance(message, AIMessage):
            if pending and pending[-1].action != FINAL_ANSWER:
                observation = _cut(pending[-1].next_observation(), limits.observation)
            calls = list(message.tool_calls)
            step = _PendingStep(
                observation, canonical_action(calls), [str(c.get("id")) for c in calls]
            )
            if not calls:  # the final answer: what the agent said is recorded with it
                step.answer = _cut(message_text(message.content), limits.answer)
            pending.append(step)
        elif isinstance(message, ToolMessage) and pending:
            last = pending[-1]
            if message.tool_call_id in last.call_ids and message.tool_call_id not in last.results:
                last.results[message.tool_call_id] = message
            else:
                last.unmatched.append(message)
    return pending


def _parse(
    messages: Sequence[BaseMessage],
    task: str | None,
    limits: TextLimits,
    first_observation: str | None = None,
    *,
    strict: bool = True,
) -> RunState | None:
    max_chars = limits.observation
    start = next(
        (i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], HumanMessage)),
        None,
    )
    said = message_text(messages[start].content) if start is not None else ""
    if task is None:
        if start is None:
            return None
        task = said
    task = _cut(task, max_chars)
    if not task.strip():
        return None
    # o_0 is what the run started from: the human message, which is the task unless the
    # caller named the task separately (metadata "rememberer_task").
    first = first_observation if first_observation is not None else said
    observation = _cut(first, max_chars) if first.strip() else task
    run = messages[(start + 1) if start is not None else 0 :]
    pending = _pending_steps(run, observation, limits)
    steps = [
        Step(
            observation=p.observation,
            action=p.action,
            reward=p.reward(strict=strict),
            answer=p.answer,
        )
        for p in pending
    ]
    if pending and pending[-1].action != FINAL_ANSWER and pending[-1].result_messages():
        observation = _cut(pending[-1].next_observation(), max_chars)
    return RunState(task=task, steps=steps, observation=observation)


def current_state(
    messages: Sequence[BaseMessage],
    *,
    task: str | None = None,
    first_observation: str | None = None,
    limits: TextLimits | None = None,
) -> RunState | None:
    """The run's task, steps so far and latest observation; None when there is no task.

    Text is cut to `limits` (default `TextLimits()`; the adapters pass `memory.text_limits`).
    """
    # Retrieval needs no reward: a tool's invalid reward must not cost the run its exemplars.
    return _parse(messages, task, limits or TextLimits(), first_observation, strict=False)


def is_summary(message: BaseMessage) -> bool:
    """Whether `message` is the summary `SummarizationMiddleware` put in place of older ones."""
    return (
        isinstance(message, HumanMessage)
        and message.additional_kwargs.get("lc_source") == "summarization"
    )


def after_summary(
    messages: Sequence[BaseMessage], said: str
) -> tuple[list[BaseMessage], str | None]:
    """The part of a summarized run that can still be replayed, for `episode_from_messages`.

    Steps before the summary are gone; so is the observation of the first step after it. The
    replay starts at the first model message that follows tool results, with those results as
    its observation: returns (messages headed by `HumanMessage(said)`, that observation), or
    just the head and None when no such step is left.
    """
    last = max((i for i, m in enumerate(messages) if is_summary(m)), default=-1)
    rest = list(messages[last + 1 :])
    for j in range(1, len(rest)):
        if isinstance(rest[j], AIMessage) and isinstance(rest[j - 1], ToolMessage):
            k = j - 1
            while k > 0 and isinstance(rest[k - 1], ToolMessage):
                k -= 1
            results = [m for m in rest[k:j] if isinstance(m, ToolMessage)]
            seen = _OBSERVATION_JOIN.join(_tool_observation(m) for m in results)
            return [HumanMessage(said), *rest[j:]], seen
    return [HumanMessage(said)], None


def episode_from_messages(
    messages: Sequence[BaseMessage],
    *,
    task: str | None = None,
    run_id: str | None = None,
    succeeded: bool | None = None,
    first_observation: str | None = None,
    limits: TextLimits | None = None,
) -> Episode:
    """Build the episode of a run from its messages (DESIGN §2).

    The run starts at the latest `HumanMessage`; earlier messages (previous turns kept by a
    checkpointer) are history. `task` overrides that message's text, `first_observation` the
    observation of the first step (by default that message's text). Tasks, observations and
    the answer are cut to `limits` (default `TextLimits()`; the adapters pass the memory's).

    Example:
        ```python
        from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

        from langchain_rememberer.adapters.trajectory import episode_from_messages

        call = {"name": "add", "args": {"a": 2, "b": 3}, "id": "c1"}
        episode = episode_from_messages(
            [
                HumanMessage("What is 2+3?"),
                AIMessage("", tool_calls=[call]),
                ToolMessage("5", tool_call_id="c1", artifact={"reward": 1.0}),
                AIMessage("5"),
            ],
            run_id="run-1",
        )
        assert [s.action for s in episode.steps] == ["add(a=2, b=3)", "final_answer"]
        assert [s.observation for s in episode.steps] == ["What is 2+3?", "5"]
        assert episode.steps[0].reward == 1.0
        ```

    Raises:
        InvalidInputError: there is no task (no human message and no `task`), or a tool
            reported a reward that is not a finite number.
    """
    state = _parse(messages, task, limits or TextLimits(), first_observation)
    if state is None:
        msg = (
            "cannot build an episode: the messages contain no HumanMessage with text and no "
            "task was given (pass task=..., or metadata {'rememberer_task': ...})"
        )
        raise InvalidInputError(msg)
    extra: dict[str, Any] = {} if run_id is None else {"run_id": str(run_id)}
    return Episode(task=state.task, steps=state.steps, succeeded=succeeded, **extra)


_ROLES_HUMAN = ("human", "user")


def _human_text(message: Any) -> str | None:
    if isinstance(message, HumanMessage):
        return message_text(message.content)
    if isinstance(message, tuple | list) and len(message) == 2 and message[0] in _ROLES_HUMAN:
        return message_text(message[1])
    if isinstance(message, Mapping) and message.get("role") in _ROLES_HUMAN:
        return message_text(message.get("content"))
    return None


def last_human_text(messages: Any) -> str | None:
    """The text of the latest human message in a list of messages (any LangChain form)."""
    if isinstance(messages, str) or not isinstance(messages, Sequence):
        return None
    for message in reversed(messages):
        text = _human_text(message)
        if text and text.strip():
            return text
    return None
