"""A hand-built LangGraph graph learning through RLEMCallbackHandler.

The graph is a model node and a ToolNode (the classic tool-calling loop). The handler is passed
as a callback, `config={"callbacks": [handler]}`: it rebuilds the run's episode from the
graph's events, scores it with the tools' rewards, learns it when the run ends, and
`handler.report(run_id)` says what was written.

Run: python examples/langgraph_handler.py
Offline by default (a scripted stand-in model); with OPENAI_API_KEY set it uses ChatOpenAI.
The memory lives in memory only (path=None): nothing is written to disk.
"""

import os
import uuid
from typing import Annotated, TypedDict

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode, tools_condition

from langchain_rememberer import RemembererMemory, RLEMCallbackHandler

QUESTION = "Where is my order 42?"


@tool(response_format="content_and_artifact")
def track(order_id: str) -> tuple[str, dict]:
    """Track an order."""
    return f"Order {order_id} is in transit, arriving Friday.", {"reward": 1.0}


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def chat_model():
    """ChatOpenAI (with the tool bound) when OPENAI_API_KEY is set; else a scripted model."""
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI  # noqa: PLC0415 (only needed online)

        return ChatOpenAI(model="gpt-4o-mini", temperature=0).bind_tools([track])
    call = {"name": "track", "args": {"order_id": "42"}, "id": "call_1", "type": "tool_call"}
    return FakeMessagesListChatModel(
        responses=[AIMessage("", tool_calls=[call]), AIMessage("It arrives on Friday.")]
    )


def build_graph(model):
    def agent(state: State, config: RunnableConfig) -> dict:
        # Passing `config` on keeps the callbacks attached everywhere (Python 3.10, ainvoke).
        return {"messages": [model.invoke(state["messages"], config)]}

    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([track]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile()


def main() -> None:
    memory = RemembererMemory(path=None)
    handler = RLEMCallbackHandler(memory)  # default scorer: the tools' rewards
    graph = build_graph(chat_model())

    run_id = str(uuid.uuid4())  # choose the run id, to ask for this run's report afterwards
    result = graph.invoke(
        {"messages": [("user", QUESTION)]}, config={"callbacks": [handler], "run_id": run_id}
    )
    print("Answer:", result["messages"][-1].text)

    print("\nEpisode:", handler.episodes[-1])
    print("\nReport:", handler.report(run_id))

    (state,) = memory.retrieve(QUESTION, QUESTION, k=1)
    for action in state.actions:
        print(f"Learned: {action.action} -> Q={action.q:.2f} after {action.visits} visit(s)")


if __name__ == "__main__":
    main()
