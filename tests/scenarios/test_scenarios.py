"""Six small apps; after a few scored runs, what exactly does the next run's model see?"""

from __future__ import annotations

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

from langchain_rememberer import Episode, JudgeVerdict, LLMJudgeScorer, ToolRewardScorer

from .conftest import App, calls, nearest, shown

# --- 1. a helpdesk that opens documents: a wrong-document detour, then the direct path ---------

DOCS = {
    "holidays-2019.md": "Public holidays 2019: New Year, Easter Monday, Christmas.",
    "vacation.md": "Vacation policy: every employee gets 25 days of paid vacation a year.",
}


@tool(response_format="content_and_artifact")
def open_doc(name: str) -> tuple[str, dict[str, float]]:
    """Open an HR document by file name."""
    text = DOCS.get(name, f"No document named {name}.")
    return text, {"reward": 0.5 if name == "vacation.md" else -0.5}


def answered_25(episode: Episode) -> float:
    """The app's own check: +1 when the final answer gives the right number of days."""
    answer = episode.steps[-1].answer or ""
    return 1.0 if "25" in answer else -1.0


VACATION = "How many vacation days do I get?"
ANSWER = "You get 25 days of paid vacation a year."


def _helpdesk(memory) -> App:
    return App(memory, [open_doc], answered_25, "You answer HR questions.")


def test_helpdesk_first_lesson_discourages_the_wrong_document(app_memory) -> None:
    app = _helpdesk(app_memory)
    app.run(
        VACATION,
        calls(("open_doc", {"name": "holidays-2019.md"})),
        calls(("open_doc", {"name": "vacation.md"})),
        AIMessage(ANSWER),
    )
    model = app.run(VACATION, calls(("open_doc", {"name": "vacation.md"})), AIMessage(ANSWER))
    first = shown(model.received[0])
    assert nearest(first, "encouraged") == "(none)"
    detour = nearest(first, "discouraged")
    assert detour.startswith('<action value="')
    assert detour.endswith(' tried="1">open_doc(name="holidays-2019.md")</action>')
    # After the right document, the lesson is the answer that was judged right.
    after_doc = shown(model.received[1])
    assert f'<best_answer return="1.00">{ANSWER}</best_answer>' in after_doc


def test_helpdesk_direct_path_ranks_above_the_detour_once_both_were_seen(app_memory) -> None:
    app = _helpdesk(app_memory)
    app.run(
        VACATION,
        calls(("open_doc", {"name": "holidays-2019.md"})),
        calls(("open_doc", {"name": "vacation.md"})),
        AIMessage(ANSWER),
    )
    app.run(VACATION, calls(("open_doc", {"name": "vacation.md"})), AIMessage(ANSWER))
    model = app.run(
        "How many days of vacation do I have per year?",
        calls(("open_doc", {"name": "vacation.md"})),
        AIMessage(ANSWER),
    )
    first = shown(model.received[0])
    assert nearest(first, "encouraged") == (
        '<action value="1.00" tried="1">open_doc(name="vacation.md")</action>'
    )
    assert nearest(first, "discouraged").endswith('>open_doc(name="holidays-2019.md")</action>')


def test_helpdesk_unrelated_question_is_shown_nothing(app_memory) -> None:
    app = _helpdesk(app_memory)
    app.run(VACATION, calls(("open_doc", {"name": "vacation.md"})), AIMessage(ANSWER))
    model = app.run(
        "Where is the office coffee machine?", AIMessage("On the second floor, by the stairs.")
    )
    assert shown(model.received[0]) == ""


# --- 2. a unit-conversion tool: a failing call (unknown unit), then the right one -------------


@tool(response_format="content_and_artifact")
def convert(value: float, unit_from: str, unit_to: str) -> tuple[str, dict[str, float]]:
    """Convert a value between units ("mi", "km")."""
    if (unit_from, unit_to) != ("mi", "km"):
        return f"error: unknown conversion {unit_from} -> {unit_to}", {"reward": -1.0}
    return f"{value} mi = {value * 1.609344:.2f} km", {"reward": 1.0}


def test_calculator_failing_call_is_discouraged_and_the_right_one_encouraged(app_memory) -> None:
    app = App(app_memory, [convert], ToolRewardScorer(), "You convert units.")
    app.run(
        "Convert 5 miles to kilometers.",
        calls(("convert", {"value": 5, "unit_from": "miles", "unit_to": "kilometers"})),
        calls(("convert", {"value": 5, "unit_from": "mi", "unit_to": "km"})),
        AIMessage("5 miles are 8.05 km."),
    )
    model = app.run(
        "Convert 12 miles to kilometers.",
        calls(("convert", {"value": 12, "unit_from": "mi", "unit_to": "km"})),
        AIMessage("12 miles are 19.31 km."),
    )
    block = shown(model.received[0])
    failing = (
        '<action value="-0.50" tried="1">convert(unit_from="miles", unit_to="kilometers", value=5)</action>'
        ""
    )
    assert nearest(block, "discouraged") == failing
    # The failed call's next state (the error message) taught the right call.
    assert '<action value="1.00" tried="1">convert(unit_from="mi", unit_to="km", value=5)' in block


# --- 3. search, then answer, scored by an LLM judge that reads the answer ---------------------


@tool
def search(query: str) -> str:
    """Search the web."""
    return "Canberra is the capital city of Australia."


class Judge:
    """Stands in for a chat model with structured output; it grades the answer it is shown."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def with_structured_output(self, schema, **kwargs):
        def grade(messages) -> JudgeVerdict:
            prompt = messages[-1].content
            self.prompts.append(prompt)
            right = "answer: Canberra" in prompt
            return JudgeVerdict(score=1.0 if right else 0.0, reason="checked the answer")

        return RunnableLambda(grade)


def test_search_then_answer_the_judge_reads_the_answer_and_its_lesson_is_shown(
    app_memory,
) -> None:
    judge = Judge()
    app = App(app_memory, [search], LLMJudgeScorer(judge), "You answer with the web.")
    question = "What is the capital of Australia?"
    app.run(question, calls(("search", {"query": "capital of Australia"})), AIMessage("Canberra"))
    assert "answer: Canberra" in judge.prompts[-1]
    model = app.run(
        "What's Australia's capital city?",
        calls(("search", {"query": "Australia capital"})),
        AIMessage("Canberra"),
    )
    assert nearest(shown(model.received[0]), "encouraged") == (
        '<action value="0.50" tried="1">search(query="capital of Australia")</action>'
    )
    assert '<best_answer return="1.00">Canberra</best_answer>' in shown(model.received[1])


# --- 4. a multi-step booking where one tool fails ---------------------------------------------


@tool(response_format="content_and_artifact")
def book_room(room: str, people: int) -> tuple[str, dict[str, float]]:
    """Book a meeting room."""
    if room == "Atlas":
        return "book_room failed: room Atlas is under maintenance.", {"reward": -1.0}
    return f"Booked {room} for {people} people.", {"reward": 1.0}


@tool
def find_rooms(people: int) -> str:
    """List rooms that fit a number of people."""
    return "Rooms for 6 or more: Atlas, Birch."


def test_booking_failed_tool_call_is_discouraged_next_time(app_memory) -> None:
    app = App(app_memory, [find_rooms, book_room], ToolRewardScorer(), "You book rooms.")
    app.run(
        "Book a meeting room for 6 people tomorrow at 10am.",
        calls(("find_rooms", {"people": 6})),
        calls(("book_room", {"room": "Atlas", "people": 6})),
        calls(("book_room", {"room": "Birch", "people": 6})),
        AIMessage("Booked Birch."),
    )
    model = app.run(
        "Book a meeting room for 8 people on Monday.",
        calls(("find_rooms", {"people": 8})),
        calls(("book_room", {"room": "Birch", "people": 8})),
        AIMessage("Booked Birch."),
    )
    after_listing = shown(model.received[1])
    assert nearest(after_listing, "discouraged").endswith(
        '>book_room(people=6, room="Atlas")</action>'
    )
    assert "Atlas" not in nearest(after_listing, "encouraged")


# --- 5. an answer judged wrong, then a right one: the right one is the lesson ----------------


def test_answer_judged_wrong_is_not_the_lesson_once_a_right_one_exists(app_memory) -> None:
    app = _helpdesk(app_memory)
    app.run(VACATION, calls(("open_doc", {"name": "vacation.md"})), AIMessage("20 days."))
    model = app.run(VACATION, calls(("open_doc", {"name": "vacation.md"})), AIMessage(ANSWER))
    assert "20 days." in shown(model.received[1])
    assert nearest(shown(model.received[1]), "discouraged") == (
        '<action value="-1.00" tried="1">final_answer</action>'
        ' <best_answer return="-1.00">20 days.</best_answer>'
    )
    model = app.run(VACATION, calls(("open_doc", {"name": "vacation.md"})), AIMessage(ANSWER))
    after_doc = shown(model.received[1])
    assert f'<best_answer return="1.00">{ANSWER}</best_answer>' in after_doc
    assert "20 days." not in after_doc


# --- stacking: a per-team memory and a global one in the same agent ---------------------------


def test_two_memories_stack_in_one_agent(tmp_path, embeddings) -> None:
    from langchain.agents import create_agent
    from langchain_core.messages import SystemMessage

    from langchain_rememberer import RemembererMemory, RemembererMiddleware

    from .conftest import ScriptedModel

    team = RemembererMemory(path=tmp_path / "m", embeddings=embeddings, namespace="team-hr")
    shared = RemembererMemory(path=tmp_path / "m", embeddings=embeddings, namespace="global")
    stack = [RemembererMiddleware(team), RemembererMiddleware(shared, scorer=answered_25)]
    assert [m.name for m in stack] == [
        "RemembererMiddleware[team-hr]",
        "RemembererMiddleware[global]",
    ]
    for _ in range(2):
        model = ScriptedModel(
            responses=[*[calls(("open_doc", {"name": "vacation.md"}))], AIMessage(ANSWER)],
            received=[],
        )
        agent = create_agent(model, [open_doc], system_prompt="HR.", middleware=stack)
        agent.invoke({"messages": [("user", VACATION)]})
    assert team.stats().updates == 2 * 2
    assert shared.stats().updates == 2 * 2
    # After the conversation (the default): one message per memory's block.
    blocks = [m.text for m in model.received[0] if "<experience_memory>" in m.text]
    assert len(blocks) == 2  # one block per memory
    assert not isinstance(model.received[0][-1], SystemMessage)
    text = "\n".join(blocks)
    assert '<action value="0.50" tried="1">' in text  # team: tool rewards, γ = 0.5
    assert '<action value="1.00" tried="1">' in text  # global: with the answer's score
