"""Delayed human feedback through a small web endpoint: POST /feedback {"run_id", "reward"}.

The agent's middleware uses `FeedbackScorer()`, so a finished run is saved as *pending* in the
memory's storage; it is learned, exactly once, when someone posts its reward. The endpoint is
the standard library's ThreadingHTTPServer on 127.0.0.1, calling
`middleware.record_feedback(run_id, reward)`: 200 with the learn report, 409 when the run is
not pending (unknown, or already given feedback), 400 for a bad request.

This script starts the server in a thread, runs the agent once, posts the feedback with
urllib (twice: the second time is refused), prints the report and shuts the server down.

Run: python examples/feedback_endpoint.py [--port PORT]   (default: any free port)
Offline by default (a scripted stand-in model); with OPENAI_API_KEY set it uses ChatOpenAI.
The memory lives in memory only (path=None): nothing is written to disk.
"""

import argparse
import json
import os
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from langchain_rememberer import (
    FeedbackError,
    FeedbackScorer,
    RemembererMemory,
    RemembererMiddleware,
)


@tool
def track(order_id: str) -> str:
    """Track an order."""
    return f"Order {order_id} is in transit, arriving Friday."


class StandInModel(FakeMessagesListChatModel):
    """Replays scripted answers offline, in place of e.g. ChatOpenAI(model="gpt-4o-mini")."""

    def bind_tools(self, _tools, **_kwargs):
        return self


def chat_model():
    """ChatOpenAI when OPENAI_API_KEY is set; else a model that tracks order 42, then answers."""
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI  # noqa: PLC0415 (only needed online)

        return ChatOpenAI(model="gpt-4o-mini", temperature=0)
    call = {"name": "track", "args": {"order_id": "42"}, "id": "call_1", "type": "tool_call"}
    return StandInModel(responses=[AIMessage("", tool_calls=[call]), AIMessage("Friday.")])


class FeedbackHandler(BaseHTTPRequestHandler):
    """POST /feedback with a JSON body {"run_id": ..., "reward": ...}."""

    def do_POST(self) -> None:
        if self.path != "/feedback":
            self.reply(404, {"error": "not found"})
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            run_id, reward = str(body["run_id"]), float(body["reward"])
            report = self.server.middleware.record_feedback(run_id, reward)
        except FeedbackError as error:  # not pending: unknown, or feedback already given
            self.reply(409, {"error": str(error)})
        except (KeyError, TypeError, ValueError) as error:  # includes InvalidInputError
            self.reply(400, {"error": str(error)})
        else:
            self.reply(200, report.model_dump())

    def reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args) -> None:  # keep the example's output readable
        pass


def post(url: str, payload: dict) -> tuple[int, dict]:
    """POST `payload` as JSON; the status and the decoded JSON answer."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def main(port: int = 0) -> dict:
    """Serve on 127.0.0.1:`port` (0: any free port), run once, post feedback; the report."""
    memory = RemembererMemory(path=None)  # use a path or a Chroma server to survive restarts
    middleware = RemembererMiddleware(memory, scorer=FeedbackScorer())

    server = ThreadingHTTPServer(("127.0.0.1", port), FeedbackHandler)
    server.middleware = middleware
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/feedback"
        print("Feedback endpoint:", url)

        agent = create_agent(chat_model(), [track], middleware=[middleware])
        result = agent.invoke({"messages": [("user", "Where is my order 42?")]})
        run_id = result["rememberer_run_id"]
        print("Answer:", result["messages"][-1].text)
        print("Pending runs:", memory.pending_runs())

        # ... later, the customer clicks thumbs-up:
        status, report = post(url, {"run_id": run_id, "reward": 1.0})
        print(f"POST /feedback -> {status}: {report}")
        status, answer = post(url, {"run_id": run_id, "reward": 1.0})
        print(f"POST /feedback again -> {status}: {answer['error']}")
        print("Pending runs:", memory.pending_runs())
        print(memory.stats())
        return report
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    main(parser.parse_args().port)
