"""A real `chroma run` server killed mid-session: the agent keeps answering, a warning is logged."""

from __future__ import annotations

import logging

from langchain.agents import create_agent
from langchain_core.messages import AIMessage

from langchain_rememberer import RemembererMemory, RemembererMiddleware, RLEMCallbackHandler

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
