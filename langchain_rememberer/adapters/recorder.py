"""`TrajectoryRecorder`: a run's messages rebuilt from callback events, and the run's task.

`RLEMCallbackHandler` fills one recorder per root run; the episode is then built from the
recorded messages by `trajectory.episode_from_messages`, as the middleware builds it from the
agent's state.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from langchain_rememberer.adapters.trajectory import (
    episode_from_messages,
    last_human_text,
    message_text,
)
from langchain_rememberer.config import TextLimits
from langchain_rememberer.types import Episode

__all__ = ["TrajectoryRecorder", "task_from_input"]


class TrajectoryRecorder:
    """Collects one run's model outputs and tool results from callback events, thread-safely.

    Tool results are matched to their call by `tool_call_id`, so parallel tools may finish in
    any order and from any thread.

    Example:
        ```python
        from langchain_core.messages import AIMessage

        from langchain_rememberer.adapters.recorder import TrajectoryRecorder

        recorder = TrajectoryRecorder(task="What is 2+3?")
        recorder.add_ai_message(AIMessage("", tool_calls=[{"name": "add", "args": {}, "id": "c"}]))
        recorder.add_tool_result("c", "5", name="add")
        recorder.add_ai_message(AIMessage("5"))
        assert len(recorder.episode(run_id="r").steps) == 2
        ```
    """

    def __init__(self, *, task: str | None = None, said: str | None = None) -> None:
        self.task = task
        self.said = said
        """What the run was asked (its human input): the first observation, as with messages."""
        self.arm: str | None = None
        """The run's arm of the holdout experiment (`holdout.py`), when it is in one."""
        self.unit = ""
        """A hash of the run's own unit key, when it was given one (`rememberer_unit`)."""
        self._messages: list[BaseMessage] = []
        self._lock = threading.Lock()
        self._anonymous = 0

    def set_task_if_missing(self, task: str | None) -> None:
        """Use `task` (a human message's text) unless one is already known."""
        with self._lock:
            if task and task.strip():
                if self.task is None:
                    self.task = task
                if self.said is None:
                    self.said = task

    def is_empty(self) -> bool:
        """Whether no model output was recorded (the run has no step)."""
        with self._lock:
            return not any(isinstance(m, AIMessage) for m in self._messages)

    def add_ai_message(self, message: AIMessage) -> None:
        """Record a model output (its tool calls are the next action)."""
        with self._lock:
            self._messages.append(message)

    def add_tool_result(
        self,
        tool_call_id: str | None,
        content: Any,
        *,
        name: str | None = None,
        artifact: Any = None,
        error: bool = False,
    ) -> None:
        """Record a tool result or error answering the call `tool_call_id`."""
        with self._lock:
            if tool_call_id is None:
                self._anonymous += 1
                tool_call_id = f"anonymous-{self._anonymous}"
            text = message_text(content)
            self._messages.append(
                ToolMessage(
                    content=text,
                    tool_call_id=tool_call_id,
                    name=name,
                    artifact=artifact,
                    status="error" if error else "success",
                )
            )

    def add_tool_message(self, message: ToolMessage) -> None:
        """Record a `ToolMessage` as emitted by `ToolNode`."""
        with self._lock:
            self._messages.append(message)

    def messages(self) -> list[BaseMessage]:
        """The recorded messages, headed by the human input (else the task) as a `HumanMessage`."""
        with self._lock:
            said = self.said if self.said and self.said.strip() else self.task
            head = [HumanMessage(said)] if said else []
            return head + list(self._messages)

    def episode(
        self,
        *,
        run_id: str,
        succeeded: bool | None = None,
        limits: TextLimits | None = None,
    ) -> Episode:
        """The run's episode, built by `episode_from_messages`."""
        return episode_from_messages(
            self.messages(),
            task=self.task,
            run_id=run_id,
            succeeded=succeeded,
            limits=limits,
        )


def task_from_input(inputs: Any, metadata: Mapping[str, Any] | None = None) -> str | None:
    """The task of a run from its input: `metadata["rememberer_task"]`, else the input.

    Looks, in order, at a string input, the latest human message of `inputs["messages"]` (or of
    a message list), and the keys `input`, `question`, `query`, `task`, then a lone string value.
    """
    override = (metadata or {}).get("rememberer_task")
    if isinstance(override, str) and override.strip():
        return override
    if isinstance(inputs, str):
        return inputs if inputs.strip() else None
    if isinstance(inputs, Mapping):
        found = last_human_text(inputs.get("messages"))
        if found:
            return found
        for key in ("input", "question", "query", "task"):
            value = inputs.get(key)
            if isinstance(value, str) and value.strip():
                return value
        texts = [v for v in inputs.values() if isinstance(v, str) and v.strip()]
        return texts[0] if len(texts) == 1 else None
    return last_human_text(inputs)
