"""Policies for the demo and the benchmark: a real chat model, or an offline stand-in.

`StandInChatModel` is **not an LLM**. It is a small, deterministic-given-a-seed chat model that
does what a good LLM is expected to do with REMEMBERER's exemplars: it reads the exemplars its
system message shows (as data, `additional_kwargs["rememberer_exemplars"]`, at the precision the
text prints them), takes the encouraged action of the most similar exemplar when that action is
valid now, and otherwise explores a valid action at random,
avoiding discouraged ones. It lets the demo and the benchmark run offline, in seconds, through
the very same `create_agent` + `RemembererMiddleware` path a real model uses.
"""

from __future__ import annotations

import json
import os
import random
import re
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr

from langchain_rememberer.adapters.prompting import EXEMPLARS_KEY
from langchain_rememberer.exemplars import Exemplar

__all__ = [
    "ExemplarHint",
    "StandInChatModel",
    "choose_action",
    "command_of",
    "exemplars_in",
    "hints_from",
    "load_chat_model",
    "tried_here",
    "valid_actions_of",
]

_CALL = re.compile(r"^\s*(?P<name>\w+)\((?P<args>.*)\)\s*$", re.S)
_VALID = re.compile(r"^Valid actions: (.*)$", re.M)

ExemplarChoice = Literal["most_similar", "best_value", "exact_then_best"]
EXACT_SIMILARITY = 0.995
"""`exact_then_best` treats exemplars at least this similar (printed 1.00) as the same state."""


@dataclass(frozen=True)
class ExemplarHint:
    """One exemplar as a model reads it: numbers at the two decimals the prompt shows."""

    similarity: float
    """The exemplar's similarity, as shown."""
    encouraged: list[tuple[str, float]]
    """(command, value) pairs, as listed."""
    discouraged: list[tuple[str, float]]
    """(command, value) pairs, as listed."""


def command_of(action: str, arg: str = "command") -> str:
    """Map a canonical tool-call action back to the command text.

    `act(command="take coin")` -> `take coin`; anything else is returned stripped.
    """
    match = _CALL.match(action)
    if match is None:
        return action.strip()
    args = match["args"].strip()
    prefix = f"{arg}="
    if args.startswith(prefix):
        args = args[len(prefix) :]
    try:
        value = json.loads(args)
    except ValueError:
        return args.strip("'\"")
    return value if isinstance(value, str) else action.strip()


def hints_from(exemplars: Sequence[Exemplar]) -> list[ExemplarHint]:
    """The hints a model reads from the exemplars shown (given most similar first).

    Numbers are rounded as the prompt prints them; the hints are listed most similar first,
    exemplars shown as equally similar in the order the prompt lists them (least similar first).
    """
    hints = [
        ExemplarHint(
            round(e.state.similarity, 2),
            [(command_of(a.action), round(a.q, 2)) for a in e.encouraged],
            [(command_of(a.action), round(a.q, 2)) for a in e.discouraged],
        )
        for e in reversed(exemplars)
    ]
    return sorted(hints, key=lambda h: -h.similarity)


def exemplars_in(messages: Sequence[BaseMessage]) -> list[Exemplar]:
    """The exemplars `RemembererMiddleware` put on the request, as data.

    On the block's own message after the conversation (the default) or on the system message.
    """
    return [
        Exemplar.model_validate(data)
        for m in messages
        for data in m.additional_kwargs.get(EXEMPLARS_KEY, [])
    ]


def valid_actions_of(text: str) -> list[str]:
    """The commands of the last `Valid actions: a | b` line of an observation."""
    lines = _VALID.findall(text)
    return [a.strip() for a in lines[-1].split(" | ") if a.strip()] if lines else []


def choose_action(
    hints: Sequence[ExemplarHint],
    valid: Sequence[str],
    rng: random.Random,
    *,
    epsilon: float = 0.0,
    exemplar_choice: ExemplarChoice = "most_similar",
    avoid_discouraged: bool = True,
    tried: Collection[str] = (),
    trust_discouraged: float = -1.0,
) -> str:
    """Pick a command: an encouraged valid one when exemplars offer it, else explore.

    With probability `epsilon` the exemplars are ignored. `most_similar` follows the most
    similar exemplar that encourages a valid command; `best_value` takes the valid encouraged
    command with the highest value over all exemplars; `exact_then_best` follows an exemplar of
    the very same state (similarity >= `EXACT_SIMILARITY`) first, else the best value.
    Exploration draws uniformly among valid commands, leaving out discouraged ones while any
    other remains. Commands in `tried`
    (already taken from this very observation in this episode) are not followed again, as a
    model reading its own history would not go round in circles. Discouraged actions are only
    avoided when their exemplar is at least `trust_discouraged` similar.
    """
    if not valid:
        msg = "no valid action to choose from"
        raise ValueError(msg)
    allowed = set(valid)
    if rng.random() >= epsilon:
        offers = [
            (h.similarity, v, a)
            for h in hints
            for a, v in h.encouraged
            if a in allowed and a not in tried
        ]
        if offers:
            return max(offers, key=_ranking(exemplar_choice))[2]
    bad = (
        {a for h in hints if h.similarity >= trust_discouraged for a, _ in h.discouraged}
        if avoid_discouraged
        else set()
    )
    pool = [a for a in valid if a not in bad] or list(valid)
    return rng.choice(pool)


Offer = tuple[float, float, str]


def _ranking(choice: ExemplarChoice) -> Callable[[Offer], tuple[float, ...]]:
    """Sort key of (similarity, value, command) offers for an exemplar choice."""
    if choice == "most_similar":
        return lambda o: (o[0], o[1])
    if choice == "best_value":
        return lambda o: (o[1], o[0])

    def exact_then_best(o: Offer) -> tuple[float, ...]:
        exact = o[0] >= EXACT_SIMILARITY
        return (float(exact), o[0] if exact else o[1], o[1])

    return exact_then_best


class StandInChatModel(BaseChatModel):
    r"""An offline stand-in for an LLM that follows REMEMBERER exemplars (see module docs).

    It answers every call with one tool call `act(command=...)` until the last tool result
    says the episode is done (artifact `done`, or "The episode ... ." in its text), then with
    a final answer. Valid commands are read from the `Valid actions:` line of the latest
    observation (tool result, or the user message at the start).

    Example:
        ```python
        from langchain_core.messages import HumanMessage
        from langchain_rememberer.bench.policies import StandInChatModel

        model = StandInChatModel(seed=0)
        reply = model.invoke([HumanMessage("A room.\nValid actions: look | move east")])
        assert reply.tool_calls[0]["args"]["command"] in {"look", "move east"}
        ```
    """

    epsilon: float = Field(default=0.0, ge=0.0, le=1.0)
    """Probability of ignoring the exemplars and exploring."""
    seed: int | None = None
    """Seed of the exploration; None draws from the OS."""
    exemplar_choice: ExemplarChoice = "most_similar"
    """Which encouraged action to follow when several exemplars offer one."""
    avoid_discouraged: bool = True
    """Leave discouraged actions out of exploration."""
    avoid_repeats: bool = True
    """Do not follow an exemplar into a command already taken from the same observation."""
    trust_discouraged: float = -1.0
    """Avoid discouraged actions only from exemplars at least this similar."""
    tool_name: str = "act"
    """Name of the tool to call, and its one argument `command`."""
    _rng: random.Random = PrivateAttr(default_factory=random.Random)

    def model_post_init(self, context: Any, /) -> None:  # noqa: ARG002
        """Seed the exploration."""
        self._rng = random.Random(self.seed)  # noqa: S311 - exploration, not security

    def use(self, rng: random.Random, *, epsilon: float | None = None) -> None:
        """Draw from `rng` from now on (the benchmark gives each episode its own)."""
        self._rng = rng
        if epsilon is not None:
            self.epsilon = epsilon

    @property
    def _llm_type(self) -> str:
        return "rememberer-stand-in"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:  # noqa: ARG002
        """Accept the agent's tools; the stand-in always calls `tool_name`."""
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,  # noqa: ARG002
        run_manager: CallbackManagerForLLMRun | None = None,  # noqa: ARG002
        **kwargs: Any,  # noqa: ARG002
    ) -> ChatResult:
        last = messages[-1] if messages else None
        if isinstance(last, ToolMessage) and _episode_over(last):
            message = AIMessage(content=f"Done. {str(last.content).splitlines()[-1]}")
            return ChatResult(generations=[ChatGeneration(message=message)])
        observation = next(
            (str(m.content) for m in reversed(messages) if valid_actions_of(str(m.content))), ""
        )
        valid = valid_actions_of(observation)
        if not valid:
            message = AIMessage(content="I cannot see any valid action.")
            return ChatResult(generations=[ChatGeneration(message=message)])
        command = choose_action(
            hints_from(exemplars_in(messages)),
            valid,
            self._rng,
            epsilon=self.epsilon,
            exemplar_choice=self.exemplar_choice,
            avoid_discouraged=self.avoid_discouraged,
            tried=tried_here(messages, observation) if self.avoid_repeats else (),
            trust_discouraged=self.trust_discouraged,
        )
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        message = AIMessage(
            content="",
            tool_calls=[{"name": self.tool_name, "args": {"command": command}, "id": call_id}],
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def tried_here(messages: Sequence[BaseMessage], observation: str) -> set[str]:
    """Commands already called from exactly `observation` in these messages."""
    tried: set[str] = set()
    seen = ""
    for message in messages:
        if isinstance(message, AIMessage):
            if seen == observation:
                tried.update(str(c["args"].get("command", "")) for c in message.tool_calls)
        elif not isinstance(message, SystemMessage):
            seen = str(message.content)
    return tried


def _episode_over(message: ToolMessage) -> bool:
    artifact = message.artifact
    if isinstance(artifact, dict) and "done" in artifact:
        return bool(artifact["done"])
    return "\nThe episode " in str(message.content)


def load_chat_model(
    model: str | None = None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    temperature: float = 0.0,
    stand_in: StandInChatModel | None = None,
) -> BaseChatModel:
    """A chat model: `provider:name`, an OpenAI-compatible endpoint, or the offline stand-in.

    `model` goes to `init_chat_model` unless `base_url` is given (then `ChatOpenAI`); with
    neither, the offline `StandInChatModel` is returned.
    """
    if base_url:
        from langchain_openai import ChatOpenAI  # noqa: PLC0415
        from pydantic import SecretStr  # noqa: PLC0415

        # Local OpenAI-compatible servers (vLLM, Ollama, llama.cpp) take any key.
        key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        return ChatOpenAI(
            model=model or "default",
            base_url=base_url,
            api_key=SecretStr(key),
            temperature=temperature,
        )
    if model:
        from langchain.chat_models import init_chat_model  # noqa: PLC0415

        extra: dict[str, Any] = {"api_key": api_key} if api_key else {}
        chat: BaseChatModel = init_chat_model(model, temperature=temperature, **extra)
        return chat
    return stand_in or StandInChatModel()
