from __future__ import annotations

import random

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_rememberer.adapters.prompting import append_to_system_message, exemplars_message
from langchain_rememberer.bench.policies import (
    ExemplarHint,
    StandInChatModel,
    choose_action,
    command_of,
    exemplars_in,
    hints_from,
    load_chat_model,
    tried_here,
    valid_actions_of,
)
from langchain_rememberer.config import RetrievalConfig
from langchain_rememberer.exemplars import Exemplar, select_exemplars
from langchain_rememberer.types import ActionValue, RetrievedState

OBS = "You are in the kitchen. A coin.\nValid actions: look around | move east | take coin"


def _state(similarity: float, actions: dict[str, float]) -> RetrievedState:
    return RetrievedState(
        id=f"s{similarity}",
        task="Find the coin.",
        observation="kitchen <b>",
        similarity=similarity,
        actions=[
            ActionValue(action=a, q=q, visits=1)
            for a, q in sorted(actions.items(), key=lambda kv: -kv[1])
        ],
    )


def _shown(*states: RetrievedState) -> list[Exemplar]:
    return select_exemplars(states, RetrievalConfig())


@pytest.mark.parametrize(
    ("action", "command"),
    [
        ('act(command="take coin")', "take coin"),
        ('act(command="say \\"hi\\"")', 'say "hi"'),
        ("act(command='move east')", "move east"),
        ("take coin", "take coin"),
        ("final_answer", "final_answer"),
    ],
)
def test_command_of(action: str, command: str) -> None:
    assert command_of(action) == command


def test_hints_are_what_the_prompt_shows_most_similar_first() -> None:
    shown = _shown(
        _state(0.991, {'act(command="take coin")': 1.0, 'act(command="look around")': 0.0}),
        _state(0.9129, {'act(command="move east")': 0.5049}),
    )
    hints = hints_from(shown)
    assert [h.similarity for h in hints] == [0.99, 0.91]
    assert hints[0].encouraged == [("take coin", 1.0)]
    assert hints[0].discouraged == [("look around", 0.0)]
    assert hints[1].encouraged == [("move east", 0.5)]


def test_exemplars_are_read_from_the_system_messages_data_not_its_text() -> None:
    shown = _shown(_state(0.9, {'act(command="take coin")': 1.0}))
    first = append_to_system_message(SystemMessage("Be brief."), "text one", shown)
    second = append_to_system_message(first, "text two", _shown(_state(0.8, {"look": 0.5})))
    assert second.content == "Be brief.\n\ntext one\n\ntext two"
    read = exemplars_in([second, HumanMessage("hi"), SystemMessage("no data")])
    assert [(e.state.similarity, e.encouraged[0].action) for e in read] == [
        (0.9, 'act(command="take coin")'),
        (0.8, "look"),
    ]
    # A custom template does not matter: the data is the same whatever the text says.
    assert exemplars_in([append_to_system_message(None, "<custom>", shown)]) == shown


def test_exemplars_are_read_from_the_block_after_the_conversation() -> None:
    # The middleware's default placement: the block is a message of its own, after the turn.
    shown = _shown(_state(0.9, {'act(command="take coin")': 1.0}))
    read = exemplars_in(
        [SystemMessage("Be brief."), HumanMessage("hi"), exemplars_message("b", shown)]
    )
    assert read == shown


def test_valid_actions_of() -> None:
    assert valid_actions_of(OBS) == ["look around", "move east", "take coin"]
    assert valid_actions_of("no list here") == []


def test_choose_action_follows_most_similar_valid_encouraged() -> None:
    hints = [
        ExemplarHint(0.99, [("open door", 2.0)], []),  # not valid now
        ExemplarHint(0.95, [("take coin", 1.0)], []),
        ExemplarHint(0.90, [("move east", 3.0)], []),
    ]
    valid = ["look around", "move east", "take coin"]
    assert choose_action(hints, valid, random.Random(0)) == "take coin"
    best = choose_action(hints, valid, random.Random(0), exemplar_choice="best_value")
    assert best == "move east"


def test_choose_action_explores_without_discouraged_and_repeats() -> None:
    hints = [ExemplarHint(0.99, [("take coin", 1.0)], [("look around", 0.0)])]
    valid = ["look around", "move east", "take coin"]
    picks = {choose_action(hints, valid, random.Random(s), tried={"take coin"}) for s in range(50)}
    assert picks == {"move east", "take coin"}  # exploration, never the discouraged action
    untrusted = {
        choose_action(hints, valid, random.Random(s), tried={"take coin"}, trust_discouraged=1.0)
        for s in range(50)
    }
    assert "look around" in untrusted
    with pytest.raises(ValueError, match="no valid action"):
        choose_action(hints, [], random.Random(0))


def test_choose_action_epsilon_one_ignores_exemplars() -> None:
    hints = [ExemplarHint(0.99, [("take coin", 1.0)], [])]
    picks = {
        choose_action(hints, ["move east", "take coin"], random.Random(s), epsilon=1.0)
        for s in range(40)
    }
    assert picks == {"move east", "take coin"}


def test_stand_in_calls_act_with_the_exemplar_action() -> None:
    shown = _shown(_state(0.98, {'act(command="take coin")': 1.0}))
    system = append_to_system_message(SystemMessage("Play."), "(exemplars)", shown)
    model = StandInChatModel(seed=0).bind_tools([])
    reply = model.invoke([system, HumanMessage(OBS)])
    assert reply.tool_calls[0]["name"] == "act"
    assert reply.tool_calls[0]["args"] == {"command": "take coin"}


def test_stand_in_answers_when_done_and_is_seeded() -> None:
    call = {"name": "act", "args": {"command": "take coin"}, "id": "c1"}
    messages = [
        HumanMessage(OBS),
        AIMessage("", tool_calls=[call]),
        ToolMessage("You take the coin.", tool_call_id="c1", artifact={"done": True}),
    ]
    reply = StandInChatModel(seed=0).invoke(messages)
    assert not reply.tool_calls
    first = [StandInChatModel(seed=3).invoke([HumanMessage(OBS)]) for _ in range(2)]
    assert first[0].tool_calls[0]["args"] == first[1].tool_calls[0]["args"]


def test_tried_here_collects_commands_from_the_same_observation() -> None:
    call = {"name": "act", "args": {"command": "move east"}, "id": "c1"}
    messages = [
        HumanMessage(OBS),
        AIMessage("", tool_calls=[call]),
        ToolMessage(OBS, tool_call_id="c1"),
    ]
    assert tried_here(messages, OBS) == {"move east"}
    assert tried_here(messages, "elsewhere") == set()


def test_load_chat_model_defaults_to_the_stand_in() -> None:
    assert isinstance(load_chat_model(), StandInChatModel)


def test_exact_then_best_prefers_the_same_state_then_the_best_value() -> None:
    valid = ["move east", "move west", "take coin"]
    hints = [
        ExemplarHint(1.0, [("move west", 0.2)], []),
        ExemplarHint(0.97, [("take coin", 1.0)], []),
        ExemplarHint(0.96, [("move east", 0.5)], []),
    ]
    rng = random.Random(0)
    assert choose_action(hints, valid, rng, exemplar_choice="exact_then_best") == "move west"
    assert choose_action(hints[1:], valid, rng, exemplar_choice="exact_then_best") == "take coin"
    assert choose_action(hints[1:], valid, rng, exemplar_choice="most_similar") == "take coin"
    assert choose_action(hints[2:], valid, rng, exemplar_choice="exact_then_best") == "move east"
