"""Two apps whose search tool answers every question in one format (issue 21).

A document search ("Candidates: a.md, b.md") and an IT ticket search ("Found 3 tickets: ...").
An unrelated question's search result looks like a stored one, so the composite similarity
alone would show it the other question's lesson; the task floor (`min_task_similarity`) must
not. The same question asked again is still shown its lesson: the right document or ticket,
and the answer judged right.
"""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from langchain_rememberer import Episode, RemembererMemory, RetrievalConfig

from .conftest import App, calls, nearest, shown

# --- a document search: search_docs lists candidates, read_doc opens one ----------------------

SEARCH = {
    "vacation": "Candidates: holidays-2019.md, vacation-policy.md",
    "coffee": "Candidates: coffee.md",
}
DOCS = {
    "holidays-2019.md": "Public holidays 2019: New Year, Easter Monday, Christmas.",
    "vacation-policy.md": "Every employee gets 25 days of paid vacation a year.",
    "coffee.md": "The coffee machine is in the 2nd floor kitchen.",
}


@tool
def search_docs(query: str) -> str:
    """Search the HR documents; lists the candidate files."""
    return next((found for word, found in SEARCH.items() if word in query), "Candidates: none")


@tool(response_format="content_and_artifact")
def read_doc(name: str) -> tuple[str, dict[str, float]]:
    """Read one document."""
    return DOCS.get(name, f"No document {name}."), {"reward": -0.5 if "2019" in name else 0.5}


def right_answer(episode: Episode) -> float:
    """The app's check: the answer gives the fact the question needs."""
    answer = episode.steps[-1].answer or ""
    return 1.0 if any(fact in answer for fact in ("25 days", "2nd floor", "VPN")) else -1.0


VACATION = "How many vacation days do I get?"
VACATION_ANSWER = "You get 25 days of paid vacation a year."
COFFEE = "Where is the office coffee machine?"


def _docs(memory: RemembererMemory) -> App:
    return App(memory, [search_docs, read_doc], right_answer, "You answer HR questions.")


def _vacation_learned(app: App) -> None:
    app.run(
        VACATION,
        calls(("search_docs", {"query": "vacation days"})),
        calls(("read_doc", {"name": "holidays-2019.md"})),
        calls(("read_doc", {"name": "vacation-policy.md"})),
        AIMessage(VACATION_ANSWER),
    )
    app.run(
        VACATION,
        calls(("search_docs", {"query": "vacation days"})),
        calls(("read_doc", {"name": "vacation-policy.md"})),
        AIMessage(VACATION_ANSWER),
    )


def _coffee(app: App):
    return app.run(
        COFFEE,
        calls(("search_docs", {"query": "coffee machine"})),
        calls(("read_doc", {"name": "coffee.md"})),
        AIMessage("It is in the 2nd floor kitchen."),
    )


def test_docs_unrelated_question_is_shown_nothing_at_any_step(app_memory) -> None:
    app = _docs(app_memory)
    _vacation_learned(app)
    model = _coffee(app)
    assert [shown(prompt) for prompt in model.received] == ["", "", ""]


def test_docs_same_question_again_is_shown_its_lesson(app_memory) -> None:
    app = _docs(app_memory)
    _vacation_learned(app)
    _coffee(app)
    model = app.run(
        VACATION,
        calls(("search_docs", {"query": "vacation days"})),
        calls(("read_doc", {"name": "vacation-policy.md"})),
        AIMessage(VACATION_ANSWER),
    )
    after_search = shown(model.received[1])
    assert nearest(after_search, "observation") == SEARCH["vacation"]
    assert nearest(after_search, "encouraged") == (
        '<action value="1.00" tried="1">read_doc(name="vacation-policy.md")</action>'
    )
    assert nearest(after_search, "discouraged") == (
        '<action value="0.00" tried="1">read_doc(name="holidays-2019.md")</action>'
    )
    after_doc = shown(model.received[2])
    assert nearest(after_doc, "encouraged") == (
        '<action value="1.00" tried="2">final_answer</action>'
        f' <best_answer return="1.00">{VACATION_ANSWER}</best_answer>'
    )
    assert "coffee" not in "".join(shown(prompt) for prompt in model.received)


# --- an IT helpdesk: search_tickets finds tickets, open_ticket reads one's resolution ---------

TICKETS = {
    "vpn": "Found 3 tickets: #4411 open, #4417 closed, #4502 closed",
    "payslip": "Found 2 tickets: #4630 open, #4788 closed",
}
RESOLUTIONS = {
    "4411": "Still under investigation.",
    "4417": "Fixed: reinstall the VPN client 5.2 and sign in again.",
    "4502": "Duplicate of #4417.",
    "4630": "Overtime is paid with the next month's payslip.",
}


@tool
def search_tickets(query: str) -> str:
    """Search the IT helpdesk's tickets."""
    return next((found for word, found in TICKETS.items() if word in query), "Found 0 tickets")


@tool(response_format="content_and_artifact")
def open_ticket(ticket: str) -> tuple[str, dict[str, float]]:
    """Open a ticket and read its resolution."""
    text = RESOLUTIONS.get(ticket, f"No ticket #{ticket}.")
    return text, {"reward": 0.5 if text.startswith("Fixed") else -0.5}


VPN = "My VPN drops every hour, how do I fix it?"
VPN_ANSWER = "Reinstall the VPN client 5.2 and sign in again."
PAYROLL = "Why is my overtime missing from my payslip?"


def _tickets(memory: RemembererMemory) -> App:
    return App(memory, [search_tickets, open_ticket], right_answer, "You are the IT helpdesk.")


def _vpn_learned(app: App) -> None:
    app.run(
        VPN,
        calls(("search_tickets", {"query": "vpn drops"})),
        calls(("open_ticket", {"ticket": "4411"})),
        calls(("open_ticket", {"ticket": "4417"})),
        AIMessage(VPN_ANSWER),
    )
    app.run(
        VPN,
        calls(("search_tickets", {"query": "vpn drops"})),
        calls(("open_ticket", {"ticket": "4417"})),
        AIMessage(VPN_ANSWER),
    )


def _payroll(app: App):
    return app.run(
        PAYROLL,
        calls(("search_tickets", {"query": "payslip overtime"})),
        AIMessage("Overtime is paid with next month's payslip: see ticket #4630."),
    )


def test_tickets_unrelated_question_is_shown_nothing_at_any_step(app_memory) -> None:
    app = _tickets(app_memory)
    _vpn_learned(app)
    model = _payroll(app)
    assert [shown(prompt) for prompt in model.received] == ["", ""]


def test_tickets_same_question_again_is_shown_its_lesson(app_memory) -> None:
    app = _tickets(app_memory)
    _vpn_learned(app)
    _payroll(app)
    model = app.run(
        VPN,
        calls(("search_tickets", {"query": "vpn drops"})),
        calls(("open_ticket", {"ticket": "4417"})),
        AIMessage(VPN_ANSWER),
    )
    after_search = shown(model.received[1])
    assert nearest(after_search, "observation") == TICKETS["vpn"]
    assert nearest(after_search, "encouraged") == (
        '<action value="1.00" tried="1">open_ticket(ticket="4417")</action>'
    )
    assert nearest(after_search, "discouraged") == (
        '<action value="0.00" tried="1">open_ticket(ticket="4411")</action>'
    )
    assert nearest(shown(model.received[2]), "encouraged") == (
        '<action value="1.00" tried="2">final_answer</action>'
        f' <best_answer return="1.00">{VPN_ANSWER}</best_answer>'
    )
    assert "payslip" not in "".join(shown(prompt) for prompt in model.received)


# --- why the task floor: without it, both unrelated questions see the other lesson ------------


@pytest.mark.parametrize(
    ("build", "learn", "ask", "steps"),
    [(_docs, _vacation_learned, _coffee, 3), (_tickets, _vpn_learned, _payroll, 2)],
)
def test_without_the_task_floor_the_look_alike_lesson_leaks(
    tmp_path, embeddings, build, learn, ask, steps
) -> None:
    memory = RemembererMemory(
        path=tmp_path / "memory",
        embeddings=embeddings,
        retrieval=RetrievalConfig(min_task_similarity=None),
    )
    app = build(memory)
    learn(app)
    model = ask(app)
    assert len(model.received) == steps
    assert shown(model.received[0]) == ""  # the question itself does not look alike
    assert shown(model.received[1]) != ""  # its search result does
