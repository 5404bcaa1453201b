"""Exemplars in prompts without the middleware: an LCEL runnable and a LangGraph `prompt`.

Both retrieve from the memory and render the exemplar block; on memory trouble they log a
warning and give no exemplars, so the host chain or agent goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, convert_to_messages
from langchain_core.runnables import RunnableLambda

from langchain_rememberer.adapters._context import in_control_arm
from langchain_rememberer.adapters._learning import check_memory
from langchain_rememberer.adapters.trajectory import current_state
from langchain_rememberer.exemplars import Exemplar
from langchain_rememberer.memory import RemembererMemory

__all__ = [
    "EXEMPLARS_KEY",
    "append_to_system_message",
    "exemplars_message",
    "exemplars_prompt",
    "exemplars_runnable",
]

logger = logging.getLogger(__name__)


EXEMPLARS_KEY = "rememberer_exemplars"
"""`additional_kwargs` key of the system message holding the shown exemplars as data."""


def append_to_system_message(
    message: SystemMessage | None, extra: str, exemplars: Sequence[Exemplar] = ()
) -> SystemMessage:
    """A copy of the system message with `extra` appended (string or content-block messages).

    The exemplars the text shows are added, as JSON data, to the list under
    `additional_kwargs["rememberer_exemplars"]` (chat model integrations send only the content),
    so code that stands in for a model reads them without parsing the text.
    """
    message = message or SystemMessage(content="")
    if isinstance(message.content, str):
        content: Any = f"{message.content}\n\n{extra}" if message.content else extra
    else:
        content = [*message.content, {"type": "text", "text": extra}]
    kwargs = dict(message.additional_kwargs)
    if exemplars:
        data = [e.model_dump(mode="json") for e in exemplars]
        kwargs[EXEMPLARS_KEY] = [*kwargs.get(EXEMPLARS_KEY, []), *data]
    return message.model_copy(update={"content": content, "additional_kwargs": kwargs})


def exemplars_message(block: str, exemplars: Sequence[Exemplar] = ()) -> HumanMessage:
    """The block as a message of its own, to put after the conversation (`placement="after"`).

    Everything before it stays byte-identical from one model call to the next, so a provider's
    prefix cache covers the whole conversation; the exemplars are under `EXEMPLARS_KEY` as data,
    as on the system message.

    Example:
        ```python
        from langchain_rememberer.adapters.prompting import EXEMPLARS_KEY, exemplars_message

        message = exemplars_message("<experience_memory>...</experience_memory>")
        assert message.content.startswith("<experience_memory>")
        assert message.additional_kwargs[EXEMPLARS_KEY] == []
        ```
    """
    data = [e.model_dump(mode="json") for e in exemplars]
    return HumanMessage(content=block, additional_kwargs={EXEMPLARS_KEY: data})


def exemplars_runnable(
    memory: RemembererMemory,
    *,
    task_key: str = "task",
    observation_key: str | None = None,
    k: int | None = None,
    namespace: str | None = None,
) -> RunnableLambda[Mapping[str, Any], str]:
    r"""A runnable mapping a dict input to the exemplar block ("" when nothing is stored).

    The task is `input[task_key]`; the observation is `input[observation_key]`, or the task.
    Use it to fill a prompt variable in an LCEL chain. With a holdout, a control run gets ""
    (its unit key: the config's `rememberer_unit`, else the root run id of the chain's
    `RLEMCallbackHandler`).

    Example:
        ```python
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_core.runnables import RunnablePassthrough

        from langchain_rememberer import RemembererMemory
        from langchain_rememberer.adapters.prompting import exemplars_runnable

        memory = RemembererMemory(path=None)
        prompt = ChatPromptTemplate.from_messages(
            [("system", "You are helpful.\n{exemplars}"), ("human", "{question}")]
        )
        chain = (
            RunnablePassthrough.assign(exemplars=exemplars_runnable(memory, task_key="question"))
            | prompt
        )
        chain.invoke({"question": "What is 2+3?"})
        ```
    """
    memory = check_memory(memory, "exemplars_runnable")

    def format_exemplars(inputs: Mapping[str, Any]) -> str:
        task = inputs.get(task_key) if isinstance(inputs, Mapping) else None
        if not isinstance(task, str) or not task.strip():
            logger.warning("rememberer: no exemplars, input has no text under %r", task_key)
            return ""
        observation = inputs.get(observation_key, task) if observation_key else task
        try:
            if in_control_arm(memory):
                return ""  # a control run of the holdout experiment (docs/lift.md)
            return memory.format_exemplars(task, str(observation), k=k, namespace=namespace)
        except Exception as e:
            logger.warning("rememberer: no exemplars, the memory failed: %s", e)
            return ""

    return RunnableLambda(format_exemplars, name="rememberer_exemplars")


def exemplars_prompt(
    memory: RemembererMemory,
    system_prompt: str = "",
    *,
    k: int | None = None,
    namespace: str | None = None,
) -> Callable[[Any], list[BaseMessage]]:
    """A callable `state -> messages` for a LangGraph agent's `prompt`, with exemplars.

    The task is the latest human message of `state["messages"]`, the observation the latest tool
    result(s); the exemplars are appended to `system_prompt` in a leading system message.

    Example:
        ```python
        from langchain_rememberer import RemembererMemory
        from langchain_rememberer.adapters.prompting import exemplars_prompt

        prompt = exemplars_prompt(RemembererMemory(path=None), "You are helpful.")
        messages = prompt({"messages": [("user", "What is 2+3?")]})
        assert messages[0].content == "You are helpful."
        ```
    """
    memory = check_memory(memory, "exemplars_prompt")

    def prompt(state: Any) -> list[BaseMessage]:
        raw = state.get("messages", []) if isinstance(state, Mapping) else state.messages
        messages = convert_to_messages(raw)
        block = ""
        try:
            where = current_state(messages, limits=memory.text_limits)
            if where is not None and not in_control_arm(memory):
                recent = where.actions if memory.action_history else ()
                block = memory.format_exemplars(
                    where.task, where.observation, k=k, namespace=namespace, recent_actions=recent
                )
        except Exception as e:
            logger.warning("rememberer: no exemplars, the memory failed: %s", e)
        text = "\n\n".join(part for part in (system_prompt, block) if part)
        return ([SystemMessage(text)] if text else []) + messages

    return prompt
