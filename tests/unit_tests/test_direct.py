from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from langchain_rememberer.adapters.trajectory import episode_from_messages
from langchain_rememberer.bench.direct import act_action
from langchain_rememberer.bench.policies import command_of


def test_act_action_renders_the_command_as_json() -> None:
    assert act_action("move east") == 'act(command="move east")'
    assert act_action('read "map" café') == 'act(command="read \\"map\\" café")'
    assert command_of(act_action('read "map" café')) == 'read "map" café'


def test_act_action_is_what_a_run_records_for_an_act_call() -> None:
    call = {"name": "act", "args": {"command": "take coin"}, "id": "c1"}
    messages = [
        HumanMessage("Find the coin."),
        AIMessage("", tool_calls=[call]),
        ToolMessage("You take the coin.", tool_call_id="c1"),
        AIMessage("done"),
    ]
    episode = episode_from_messages(messages)
    assert episode.steps[0].action == act_action("take coin")
