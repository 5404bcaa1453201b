"""TrajectoryRecorder (a run rebuilt from callback events) and the task of a run's input."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage

from langchain_rememberer.adapters.recorder import TrajectoryRecorder, task_from_input
from tests.unit_tests.test_trajectory import call


def test_recorder_matches_results_by_call_id_from_any_order() -> None:
    recorder = TrajectoryRecorder()
    recorder.set_task_if_missing("Do two things")
    recorder.add_ai_message(AIMessage("", tool_calls=[call("a", "1"), call("b", "2")]))
    recorder.add_tool_result("2", "B done", name="b")
    recorder.add_tool_result("1", "A failed", name="a", error=True)
    recorder.add_ai_message(AIMessage("ok"))
    episode = recorder.episode(run_id="r")
    assert [s.observation for s in episode.steps] == ["Do two things", "Error: A failed\nB done"]
    recorder.set_task_if_missing("ignored")
    assert recorder.task == "Do two things"


def test_task_from_input_shapes() -> None:
    assert task_from_input({"messages": [("user", "q1")]}) == "q1"
    assert task_from_input({"messages": [{"role": "user", "content": "q2"}]}) == "q2"
    assert task_from_input({"messages": [HumanMessage("q3"), AIMessage("a")]}) == "q3"
    assert task_from_input({"input": "q4", "chat_history": []}) == "q4"
    assert task_from_input({"topic": "q5"}) == "q5"
    assert task_from_input("q6") == "q6"
    assert task_from_input({"a": "x", "b": "y"}) is None
    assert task_from_input({"input": "q"}, {"rememberer_task": "override"}) == "override"


def test_results_without_a_call_id_and_an_empty_recorder() -> None:
    recorder = TrajectoryRecorder(task="Look around")
    assert recorder.is_empty()
    recorder.add_ai_message(AIMessage("", tool_calls=[call("look", "1")]))
    assert not recorder.is_empty()
    recorder.add_tool_result(None, "a room", name="look")
    recorder.add_tool_result(None, "a door", name="look")
    ids = [m.tool_call_id for m in recorder.messages()[2:]]
    assert ids == ["anonymous-1", "anonymous-2"]
    assert isinstance(recorder.messages()[0], HumanMessage)


def test_inputs_without_a_task() -> None:
    assert task_from_input(None) is None
    assert task_from_input(42) is None
    assert task_from_input("   ") is None
    assert task_from_input({"input": "  "}) is None
    assert task_from_input({"input": "q"}, {"rememberer_task": "  "}) == "q"
