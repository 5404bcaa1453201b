"""The run registry: node table, ownership verdict, claims, eviction."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from langchain_core.messages import AIMessage

from langchain_rememberer.adapters._runs import (
    Kind,
    Owner,
    RunRegistry,
    is_middleware_node,
    middleware_name,
)
from langchain_rememberer.adapters.recorder import TrajectoryRecorder


def _opened(runs: RunRegistry, *, steps: bool = False) -> UUID:
    root = uuid4()
    recorder = TrajectoryRecorder(task="t")
    if steps:
        recorder.add_ai_message(AIMessage("an answer"))
    runs.open(root, recorder)
    return root


def _agent_in(runs: RunRegistry, parent: UUID) -> tuple[UUID, UUID]:
    """An agent graph run under `parent` and its middleware's run-start node, claimed."""
    graph, node = uuid4(), uuid4()
    runs.attach(graph, parent)
    runs.attach(node, graph)
    return graph, node


def test_kinds_follow_the_parent() -> None:
    runs = RunRegistry()
    root = _opened(runs)
    model, tool, inside, deeper = uuid4(), uuid4(), uuid4(), uuid4()
    assert runs.node(root).kind is Kind.ROOT  # type: ignore[union-attr]
    assert runs.attach(model, root).kind is Kind.STEP  # type: ignore[union-attr]
    node = runs.attach(tool, model, tool=("search", "call-1"))
    assert node is not None
    assert (node.kind, node.root, node.tool_name, node.tool_call_id) == (
        Kind.TOOL,
        root,
        "search",
        "call-1",
    )
    assert runs.attach(inside, tool).kind is Kind.HIDDEN  # type: ignore[union-attr]
    assert runs.attach(deeper, inside, tool=("x", None)).kind is Kind.HIDDEN  # type: ignore[union-attr]
    assert runs.recorder_for(model) is not None
    assert runs.recorder_for(inside) is None
    assert runs.open_runs == {str(root): 5}


def test_unknown_parent_is_not_attached() -> None:
    runs = RunRegistry()
    assert runs.attach(uuid4(), uuid4()) is None
    assert runs.attach(uuid4(), None) is None
    assert runs.open_runs == {}


def test_a_tool_is_taken_once() -> None:
    runs = RunRegistry()
    root = _opened(runs)
    tool = uuid4()
    runs.attach(tool, root, tool=("search", "c"))
    taken = runs.take_tool(tool)
    assert taken is not None
    assert taken[1].tool_name == "search"
    assert runs.take_tool(tool) is None
    assert runs.take_tool(root) is None


def test_a_plain_run_is_learned_by_the_handler_under_its_root_id() -> None:
    runs = RunRegistry()
    root = _opened(runs)
    closed = runs.close(root)
    assert closed is not None
    verdict = closed.verdict()
    assert (verdict.owner, verdict.run_id) == (Owner.HANDLER, str(root))
    assert runs.close(root) is None  # closed once
    assert runs.node(root) is None


def test_only_a_root_closes() -> None:
    runs = RunRegistry()
    root = _opened(runs)
    child = uuid4()
    runs.attach(child, root)
    assert runs.close(child) is None
    assert runs.open_runs == {str(root): 2}


def test_a_root_agent_is_learned_by_the_middleware_under_the_root_id() -> None:
    runs = RunRegistry()
    root, node = _opened(runs, steps=True), uuid4()
    runs.attach(node, root)
    assert runs.claim(node) == str(root)
    assert runs.claim(str(node)) == str(root)  # idempotent, str ids accepted
    assert runs.node(node).kind is Kind.STEP  # type: ignore[union-attr]
    verdict = runs.close(root).verdict()  # type: ignore[union-attr]
    assert (verdict.owner, verdict.run_id) == (Owner.MIDDLEWARE, str(root))


def test_a_wrapper_around_one_agent_goes_by_the_agents_id() -> None:
    runs = RunRegistry()
    root = _opened(runs)
    graph, node = _agent_in(runs, root)
    assert runs.claim(node) == str(graph)
    later = uuid4()
    assert runs.attach(later, graph).kind is Kind.HIDDEN  # type: ignore[union-attr]
    assert runs.node(graph).kind is Kind.HIDDEN  # type: ignore[union-attr]
    verdict = runs.close(root).verdict()  # type: ignore[union-attr]
    assert (verdict.owner, verdict.run_id) == (Owner.MIDDLEWARE, str(graph))


def test_a_wrapper_around_two_agents_goes_by_its_own_id() -> None:
    runs = RunRegistry()
    root = _opened(runs)
    for _ in range(2):
        runs.claim(_agent_in(runs, root)[1])
    verdict = runs.close(root).verdict()  # type: ignore[union-attr]
    assert (verdict.owner, verdict.run_id) == (Owner.MIDDLEWARE, str(root))


def test_a_run_with_steps_of_its_own_around_an_agent_is_the_handlers() -> None:
    runs = RunRegistry()
    root = _opened(runs, steps=True)
    runs.claim(_agent_in(runs, root)[1])
    verdict = runs.close(root).verdict()  # type: ignore[union-attr]
    assert (verdict.owner, verdict.run_id) == (Owner.HANDLER, str(root))


def test_claims_of_unknown_nodes() -> None:
    runs = RunRegistry()
    root = _opened(runs)
    assert runs.claim(None) is None
    assert runs.claim(uuid4()) is None
    assert runs.claim(root) is None  # a root has no agent graph above it


def test_pause_marks_the_root() -> None:
    runs = RunRegistry()
    root = _opened(runs)
    child = uuid4()
    runs.attach(child, root)
    assert runs.pause(child) == root
    assert runs.pause(uuid4()) is None
    assert runs.close(root).paused  # type: ignore[union-attr]


def test_the_oldest_open_run_is_evicted_with_its_members() -> None:
    runs = RunRegistry(max_open_runs=2)
    first = _opened(runs)
    child = uuid4()
    runs.attach(child, first)
    second = _opened(runs)
    third = uuid4()
    assert runs.open(third, TrajectoryRecorder()) == [first]
    assert runs.is_evicted(child)
    assert runs.is_evicted(first)
    assert not runs.is_evicted(second)
    assert not runs.is_evicted(None)
    grandchild = uuid4()
    runs.evict_child(grandchild)
    assert runs.is_evicted(grandchild)
    assert runs.close(first) is None
    assert set(runs.open_runs) == {str(second), str(third)}


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "3", None])
def test_max_open_runs_must_be_a_positive_whole_number(bad: object) -> None:
    with pytest.raises(ValueError, match="max_open_runs"):
        RunRegistry(bad)  # type: ignore[arg-type]


def test_middleware_node_names() -> None:
    name = middleware_name("support")
    assert name == "RemembererMiddleware[support]"
    assert is_middleware_node(f"{name}.before_agent")
    assert not is_middleware_node(f"{name}.after_agent")
    assert not is_middleware_node("model")
    assert not is_middleware_node(None)
