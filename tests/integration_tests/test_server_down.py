"""A real `chroma run` server killed mid-session: the agent keeps answering, a warning is logged."""

from __future__ import annotations

import logging

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage

from langchain_rememberer import (
    Episode,
    InvalidInputError,
    RemembererMemory,
    RemembererMiddleware,
    RLEMCallbackHandler,
    Step,
    StorageError,
)

from .conftest import start_chroma_server, stop_chroma_server
from .test_middleware import TOOLS, call, right_run, scripted


def test_agent_survives_the_server_going_away(tmp_path, embeddings, caplog) -> None:
    server = start_chroma_server(tmp_path / "db")
    try:
        memory = RemembererMemory.from_server(server.host, server.port, embeddings=embeddings)
        agent = create_agent(right_run(), TOOLS, middleware=[RemembererMiddleware(memory)])
        agent.invoke({"messages": [("user", "What is 2 plus 3?")]})
        assert memory.stats().updates == 2
    finally:
        stop_chroma_server(server)

    model = right_run()
    agent = create_agent(model, TOOLS, middleware=[RemembererMiddleware(memory)])
    handler = RLEMCallbackHandler(memory)
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        result = agent.invoke(
            {"messages": [("user", "What is 2 plus 3?")]}, config={"callbacks": [handler]}
        )
    assert result["messages"][-1].content == "5"  # the run finished normally
    assert not any("<experience_memory>" in m.text for m in model.received[0])  # no exemplars
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(result["rememberer_run_id"] in w for w in warnings), warnings


def test_graph_with_handler_survives_a_dead_server(tmp_path, embeddings, caplog) -> None:
    server = start_chroma_server(tmp_path / "db")
    memory = RemembererMemory.from_server(server.host, server.port, embeddings=embeddings)
    stop_chroma_server(server)
    handler = RLEMCallbackHandler(memory)
    model = scripted(AIMessage("", tool_calls=[call("add", "c1", a=1, b=1)]), AIMessage("2"))
    agent = create_agent(model, TOOLS)
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        result = agent.invoke({"messages": [("user", "1+1?")]}, config={"callbacks": [handler]})
    assert result["messages"][-1].content == "2"
    assert handler.last_run_id is not None
    assert any(handler.last_run_id in r.getMessage() for r in caplog.records)


def test_maintenance_on_a_dead_server_raises_instead_of_pretending(tmp_path, embeddings) -> None:
    server = start_chroma_server(tmp_path / "db")
    memory = RemembererMemory.from_server(server.host, server.port, embeddings=embeddings)
    memory.learn(Episode(task="t", run_id="r", steps=[Step(observation="o", action="a")]))
    stop_chroma_server(server)
    for call_it in (memory.clear, lambda: memory.forget_run("r"), memory.rebuild, memory.stats):
        with pytest.raises(StorageError, match=r"could not .*(ConnectError|connect|Connection)"):
            call_it()


def test_no_server_at_all_is_a_storage_error_naming_it(embeddings) -> None:
    with pytest.raises(StorageError, match=r"Chroma server at 127\.0\.0\.1:9") as raised:
        RemembererMemory.from_server("127.0.0.1", 9, embeddings=embeddings)
    # ... and how to start one there.
    assert "`chroma run --path ./db --host 127.0.0.1 --port 9`" in str(raised.value)


@pytest.mark.parametrize("path", [123, b"bytes", "  ", ["a"]])
def test_a_path_that_is_not_a_path_is_rejected(path, embeddings) -> None:
    with pytest.raises(InvalidInputError, match="path must be a directory path"):
        RemembererMemory(path=path, embeddings=embeddings)
