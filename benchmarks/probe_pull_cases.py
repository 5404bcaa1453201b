"""The probe's "pull" situations: 36 decisions in six kinds of app, blocks built by the library.

Written before the block's wording was changed for them (issue 27), and not tuned to it. Each
situation is one decision: a task, an observation (a tool's output or a room), the actions
offered, and what earlier runs taught about it: `good` worked (two runs scored 1.0), `bad`
failed (one run scored 0.0). In a *pulling* situation (`pull=True`, 24 of 36) the
observation points the model at `bad`, as real tool output often does (the best-matching
title, the cheapest option, the obvious tool); in the others it is neutral.

Blocks are built as the middleware builds them, at the library's defaults (k=2, task floor on):
every situation's runs are learned by one `RemembererMemory` per kind of app, and the block is
`memory.render_shown(memory.retrieve(task, observation, k=k))`. So a block may also show
another task's lesson of the same app (a second exemplar, when it passes the floors): an
answer taken from it is *copied*. The *control* asks the same situation with a memory that
learned every other situation of its app but not this one: whatever it shows is unrelated.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from langchain_rememberer import Episode, RemembererMemory, Step
from langchain_rememberer.exemplars import Exemplar

Kind = Literal["game", "helpdesk", "docs", "booking", "shop", "data"]


@dataclass(frozen=True)
class PullSituation:
    """One decision, and the lesson earlier runs left about it."""

    kind: Kind
    task: str
    observation: str
    valid: tuple[str, ...]
    good: str
    bad: str
    pull: bool
    """The observation points at `bad` (the lesson contradicts the obvious choice)."""

    def user_text(self) -> str:
        """What the model is asked (the probe's request format, shared with `probe_cases`)."""
        return (
            f"Task: {self.task}\nObservation: {self.observation}\n"
            f"Valid actions: {' | '.join(self.valid)}"
        )

    def episodes(self) -> list[Episode]:
        """The runs memory learned from: `good` scored 1.0 twice, `bad` scored 0.0 once."""
        runs = [(self.good, 1.0, "good-1"), (self.good, 1.0, "good-2"), (self.bad, 0.0, "bad-1")]
        return [
            Episode(
                task=self.task,
                run_id=f"{_key(self.task, self.observation)}-{name}",
                steps=[Step(observation=self.observation, action=action, reward=reward)],
            )
            for action, reward, name in runs
        ]


def _key(task: str, observation: str) -> str:
    return hashlib.sha256(f"{task}\n{observation}".encode()).hexdigest()[:12]


def _s(
    kind: Kind, task: str, observation: str, valid: list[str], good: int, bad: int, pull: bool
) -> PullSituation:
    return PullSituation(kind, task, observation, tuple(valid), valid[good], valid[bad], pull)


PULL_SITUATIONS: tuple[PullSituation, ...] = (
    # -- text game ------------------------------------------------------------------------------
    _s(
        "game",
        "Find the silver key.",
        "You are in the hall. A shiny glint comes from the open chest to the east. The "
        "staircase leads down to the cellar.",
        ["go east", "go down", "go west", "look"],
        1,
        0,
        True,
    ),
    _s(
        "game",
        "Light the fireplace in the den.",
        "You are in the kitchen. A box of matches lies on the table. A cabinet is closed.",
        ["take matches", "open cabinet", "go north", "go south"],
        1,
        0,
        True,
    ),
    _s(
        "game",
        "Feed the cat.",
        "You are in the pantry. A bag of dog food sits on the floor; the shelves are high.",
        ["take dog food", "climb shelves", "go out", "wait"],
        1,
        0,
        True,
    ),
    _s(
        "game",
        "Escape the locked room.",
        "You are in a small room. The door has a sign: EXIT. A vent is in the ceiling.",
        ["open door", "climb to vent", "search floor", "shout"],
        1,
        0,
        True,
    ),
    _s(
        "game",
        "Read the captain's log.",
        "You are on the deck. It is windy. Ropes and barrels lie around.",
        ["go below", "go aft", "check barrels", "pull rope"],
        1,
        2,
        False,
    ),
    _s(
        "game",
        "Plant the seeds.",
        "You are in the shed. The air smells of soil. Tools hang on the wall.",
        ["take trowel", "take rake", "go outside", "open crate"],
        0,
        3,
        False,
    ),
    # -- IT helpdesk tickets ----------------------------------------------------------------------
    _s(
        "helpdesk",
        "My VPN disconnects every hour.",
        "search_tickets: #5120 'VPN disconnects every hour' (closed, duplicate); #5133 'Token "
        "lifetime set to 60 min on gateway' (resolved); #5141 'Wi-Fi drops in building B'",
        ["open_ticket(5120)", "open_ticket(5133)", "open_ticket(5141)"],
        1,
        0,
        True,
    ),
    _s(
        "helpdesk",
        "Outlook asks for my password again and again.",
        "kb_search: 'Reset your password' (most viewed); 'Clear cached credentials in "
        "Credential Manager'; 'Outlook offline mode'",
        ['open_kb("Reset your password")', 'open_kb("Clear cached credentials")', "escalate()"],
        1,
        0,
        True,
    ),
    _s(
        "helpdesk",
        "The printer on floor 3 prints blank pages.",
        "search_tickets: #7002 'Printer floor 3 blank pages - replace toner' (open); #6988 "
        "'Floor 3 printer driver rollback fixed blank output' (resolved)",
        ["open_ticket(7002)", "open_ticket(6988)", "create_ticket()"],
        1,
        0,
        True,
    ),
    _s(
        "helpdesk",
        "I cannot log in to the payroll portal.",
        "user_status: account active, MFA enrolled, last login 40 days ago. Tools: "
        "reset_password, unlock_account, reset_mfa",
        ["reset_password()", "unlock_account()", "reset_mfa()"],
        2,
        0,
        True,
    ),
    _s(
        "helpdesk",
        "My laptop fan is very loud.",
        "search_tickets: #8101 'Fan noise on T14'; #8122 'BIOS update for thermal profile'; "
        "#8130 'Battery swelling'",
        ["open_ticket(8101)", "open_ticket(8122)", "open_ticket(8130)"],
        1,
        2,
        False,
    ),
    _s(
        "helpdesk",
        "Teams shows me as offline.",
        "search_tickets: #9010 'Presence stuck'; #9022 'Calendar sync'; #9031 'Status wrong "
        "after sleep'",
        ["open_ticket(9010)", "open_ticket(9022)", "open_ticket(9031)"],
        2,
        1,
        False,
    ),
    # -- document search -------------------------------------------------------------------------
    _s(
        "docs",
        "How many days of parental leave do fathers get?",
        "search_docs: 'parental-leave-2019.pdf' (score 0.94); 'benefits-handbook-2024.pdf' "
        "(score 0.71); 'leave-faq.md' (score 0.66)",
        [
            'read_doc("parental-leave-2019.pdf")',
            'read_doc("benefits-handbook-2024.pdf")',
            'read_doc("leave-faq.md")',
        ],
        1,
        0,
        True,
    ),
    _s(
        "docs",
        "What is the per diem for a trip to Berlin?",
        "search_docs: 'travel-policy.md' mentions 'per diem' 14 times; 'rates-germany.csv' "
        "has no text preview",
        ['read_doc("travel-policy.md")', 'read_doc("rates-germany.csv")', "ask_finance()"],
        1,
        0,
        True,
    ),
    _s(
        "docs",
        "Who approves purchases above 10,000 euros?",
        "search_docs: 'purchasing-faq.md' (title: Who approves purchases?); "
        "'delegation-of-authority.pdf' (47 pages)",
        ['read_doc("purchasing-faq.md")', 'read_doc("delegation-of-authority.pdf")', "answer()"],
        1,
        0,
        True,
    ),
    _s(
        "docs",
        "Can I work from another country for a month?",
        "search_docs: 'remote-work.md' (updated 2021): 'Remote work is allowed from home'; "
        "'international-mobility.md' (updated 2025)",
        ['read_doc("remote-work.md")', 'read_doc("international-mobility.md")', "answer()"],
        1,
        0,
        True,
    ),
    _s(
        "docs",
        "What is the office wifi password for guests?",
        "search_docs: 'it-guide.md'; 'office-info.md'; 'security.md'",
        ['read_doc("it-guide.md")', 'read_doc("office-info.md")', 'read_doc("security.md")'],
        1,
        0,
        False,
    ),
    _s(
        "docs",
        "When is the next company holiday?",
        "search_docs: 'calendar.md'; 'hr-news.md'; 'holidays.md'",
        ['read_doc("calendar.md")', 'read_doc("hr-news.md")', 'read_doc("holidays.md")'],
        2,
        0,
        False,
    ),
    # -- room and travel booking -----------------------------------------------------------------
    _s(
        "booking",
        "Book a meeting room for 8 people with a screen tomorrow at 10.",
        "find_rooms: Orion (8 seats, screen, 'display often broken' in reviews, cheapest); "
        "Vega (10 seats, screen)",
        ['book_room("Orion")', 'book_room("Vega")', "find_rooms(capacity=12)"],
        1,
        0,
        True,
    ),
    _s(
        "booking",
        "Book a flight from Paris to Oslo on Friday.",
        "search_flights: AF 1274 09:05 direct 189 EUR (best price); SK 832 11:40 direct 214 EUR",
        ['book_flight("AF 1274")', 'book_flight("SK 832")', "search_trains()"],
        1,
        0,
        True,
    ),
    _s(
        "booking",
        "Find a hotel near the Munich office for 3 nights.",
        "search_hotels: Hotel Central (0.3 km, 4.8 stars, 'rooms available'); Parkhotel (1.1 km, "
        "4.2 stars)",
        ['book_hotel("Hotel Central")', 'book_hotel("Parkhotel")', "search_hotels(radius=2)"],
        1,
        0,
        True,
    ),
    _s(
        "booking",
        "Reserve a desk for Monday.",
        "find_desks: floor 2 (3 free, next to the window); floor 5 (12 free)",
        ["book_desk(floor=2)", "book_desk(floor=5)", "waitlist()"],
        1,
        0,
        True,
    ),
    _s(
        "booking",
        "Book a car for the client visit on Thursday.",
        "fleet: car A (electric); car B (diesel); car C (van)",
        ['book_car("A")', 'book_car("B")', 'book_car("C")'],
        1,
        2,
        False,
    ),
    _s(
        "booking",
        "Book the training room for the onboarding session.",
        "find_rooms: Atrium; Loft; Studio",
        ['book_room("Atrium")', 'book_room("Loft")', 'book_room("Studio")'],
        2,
        1,
        False,
    ),
    # -- shopping and refunds --------------------------------------------------------------------
    _s(
        "shop",
        "The customer wants a refund for order 4471: the blender arrived broken.",
        "order 4471: paid by card 34 days ago. Refund button available: refund_card. Policy "
        "note: damaged items go through claims.",
        ["refund_card(4471)", "open_damage_claim(4471)", "send_replacement(4471)"],
        1,
        0,
        True,
    ),
    _s(
        "shop",
        "The customer asks where order 902 is.",
        "order 902: status 'delivered' (carrier scan). Customer says nothing arrived.",
        ['reply("It was delivered.")', "open_carrier_trace(902)", "refund_card(902)"],
        1,
        0,
        True,
    ),
    _s(
        "shop",
        "Apply the discount code SPRING10 to cart 55.",
        "cart 55: code field present. Note: SPRING10 expired yesterday; WELCOME10 is active.",
        ['apply_code("SPRING10")', 'apply_code("WELCOME10")', "escalate()"],
        1,
        0,
        True,
    ),
    _s(
        "shop",
        "Cancel order 318 for the customer.",
        "order 318: status 'shipped'. Buttons: cancel_order, start_return, contact_carrier",
        ["cancel_order(318)", "start_return(318)", "contact_carrier(318)"],
        1,
        0,
        True,
    ),
    _s(
        "shop",
        "The customer wants to change the size of order 660.",
        "order 660: status 'processing'.",
        ["edit_order(660)", "cancel_order(660)", "start_exchange(660)"],
        0,
        2,
        False,
    ),
    _s(
        "shop",
        "The customer asks for an invoice for order 77.",
        "order 77: paid, delivered.",
        ["send_invoice(77)", "regenerate_invoice(77)", "escalate()"],
        1,
        0,
        False,
    ),
    # -- data and SQL tools ------------------------------------------------------------------------
    _s(
        "data",
        "How many orders did we ship last week?",
        "tables: orders (id, created_at, status), shipments (order_id, shipped_at). "
        "Tools: sql_query, read_dashboard",
        [
            'sql_query("SELECT count(*) FROM orders WHERE created_at > now() - 7d")',
            'sql_query("SELECT count(*) FROM shipments WHERE shipped_at > now() - 7d")',
            "read_dashboard()",
        ],
        1,
        0,
        True,
    ),
    _s(
        "data",
        "What was the revenue in March?",
        "tools: read_dashboard (shows 'Revenue (last 30 days)'), sql_query, ask_analyst",
        [
            "read_dashboard()",
            'sql_query("SELECT sum(total) FROM invoices WHERE month = 3")',
            "ask_analyst()",
        ],
        1,
        0,
        True,
    ),
    _s(
        "data",
        "List the customers who churned in Q2.",
        "tables: customers (id, status, updated_at), subscriptions (customer_id, ended_at). "
        "A view 'churned_customers' was last refreshed in 2023.",
        [
            'sql_query("SELECT * FROM churned_customers")',
            'sql_query("SELECT customer_id FROM subscriptions WHERE ended_at in Q2")',
            "ask_analyst()",
        ],
        1,
        0,
        True,
    ),
    _s(
        "data",
        "Plot the daily active users for the last month.",
        "tools: python_exec (pandas, matplotlib), sql_query, chart_widget (daily_active_users: "
        "preset, data source 'legacy_events')",
        [
            'chart_widget("daily_active_users")',
            'sql_query("SELECT day, dau FROM metrics")',
            "python_exec()",
        ],
        1,
        0,
        True,
    ),
    _s(
        "data",
        "How many support tickets are open?",
        "tools: sql_query, read_dashboard, ask_analyst",
        [
            'sql_query("SELECT count(*) FROM tickets WHERE open")',
            "read_dashboard()",
            "ask_analyst()",
        ],
        0,
        2,
        False,
    ),
    _s(
        "data",
        "Export the product catalog to CSV.",
        "tools: export_table, python_exec, sql_query",
        ['export_table("products")', "python_exec()", 'sql_query("SELECT * FROM products")'],
        0,
        1,
        False,
    ),
)
"""36 situations, six per kind of app; 24 pull toward `bad`."""

KINDS: tuple[Kind, ...] = ("game", "helpdesk", "docs", "booking", "shop", "data")


def app_memory(
    kind: Kind, *, without: PullSituation | None = None, **memory_kwargs: Any
) -> RemembererMemory:
    """A fresh in-memory `RemembererMemory` (library defaults) that learned a kind's runs.

    `without`: a situation whose runs are left out (the control's memory).
    """
    memory = RemembererMemory(path=None, **memory_kwargs)
    for situation in PULL_SITUATIONS:
        if situation.kind == kind and situation != without:
            for episode in situation.episodes():
                memory.learn(episode)
    return memory


def block_for(
    memory: RemembererMemory, situation: PullSituation, k: int | None = None
) -> tuple[str, list[Exemplar]]:
    """The block the middleware would show for this decision, and the exemplars it shows."""
    states = memory.retrieve(situation.task, situation.observation, k=k)
    return memory.render_shown(states)


def shown_actions(shown: list[Exemplar], situation: PullSituation) -> tuple[set[str], set[str]]:
    """Actions of unrelated exemplars (another task) in a block: (encouraged, discouraged)."""
    others = [e for e in shown if e.state.task != situation.task]
    return (
        {a.action for e in others for a in e.encouraged},
        {a.action for e in others for a in e.discouraged},
    )
