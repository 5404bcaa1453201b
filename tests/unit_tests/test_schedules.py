"""The storage protocol (DESIGN §6) under every schedule: a deterministic simulation.

Several actors — learn (two of the same run id: a duplicate or a retry), forget_run, evict,
compact, rebuild, import — run in threads on `SimStore` (`tests/sim_store.py`), a dict store
with Chroma's add-if-absent; a hypothesis-driven scheduler picks which actor makes the next
store call, and may kill an actor at any of its calls. Before the actors, a history: runs
learned alone, optionally a learn killed half-way (a prepared run, uncommitted) and 6 to 8
learns after it on the shared state, so that a later settle completes it (helping, counted:
`CountingLedger` marks the done records a `Ledger._help` writes).

After each schedule, and after each recovery step (rerun a killed forget, `compact`,
`rebuild`, learn every run again), every reader must tell the same story:

- each run counted once or not at all: a learned run's done record lists one slot per state
  of its run record, each holding that run's updates (with evictions: or gone, or an evicted
  position a writer of the old row took again); learning every run again learns each
  exactly once (the visits are exactly the steps of the runs);
- every reader agrees: `is_learned`, each row's view (what retrieve shows), `retrieve`,
  `stats()` and the export say the same runs and the same (Q, N) per state;
- the folded table of every state equals a pure replay: `rlem.fold_table`, in slot order, of
  the updates of the valid slots read straight from the store's log dict, from the state's
  live incarnation on (its eviction markers followed from position 0: `log_truth`).

What must hold when (DESIGN §6 "residual" and "Forget"): every actor alive, right away and
after each step; one actor killed, after `compact()` (a writer killed between its row write
and its probe may leave that row behind another writer's committed slot until the state's
next writer or `compact()`, which reads past every row's `known`: issue 26 D; an eviction
killed before deleting the row, or its racing writer killed before its read, leaves a row of
an evicted incarnation until `compact()` reads its marker); more, after `rebuild()`.

The first property test mixes learns, duplicate learns, forgets of any run (one being learned
meanwhile too: issue 26 A), compact, rebuild and import; the second holds one death to the
claim above; the third races one or two evictions with up to two of those, kills included,
held to the same claims (issue 26 B). Written-out schedules pin a state evicted and learned
again, an evict killed half-way, and an evict racing a learn of the evicted state (a state
learned again numbers its positions on, never from 0: DESIGN §6, "Evict").
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from langchain_rememberer import Episode, RemembererMemory, RLEMConfig, Step, transfer
from langchain_rememberer._capacity import evict
from langchain_rememberer._ledger import HELP_AFTER
from langchain_rememberer._records import Done, LogRecord, RunRecord, Slot
from langchain_rememberer._rows import Status
from langchain_rememberer.errors import StorageError
from langchain_rememberer.rlem import fold_table
from tests.sim_store import (
    Actor,
    BudgetExceededError,
    CountingLedger,
    NoClient,
    HashEmbeddings,
    Scheduler,
    SimStore,
)

TASK = "Walk the maze."
ROOMS = ["hall", "kitchen", "pantry", "attic"]
RUNS = 5
FILLERS = 10
EMBEDDINGS = HashEmbeddings()
HELPS: Counter[str] = Counter()
"""Across the green property test: its schedules, those in which a help completed a run, and
those in which it did while the actors interleaved."""


def episode(n: int) -> Episode:
    """Run n: the shared hall, then another room; the final reward decides both targets."""
    return Episode(
        task=TASK,
        run_id=f"run-{n}",
        steps=[
            Step(observation="hall", action=f"door {n % 3}"),
            Step(observation=ROOMS[1 + n % 3], action="take coin", reward=float(n % 3) - 1.0),
        ],
    )


def filler(k: int) -> Episode:
    """A one-step run on the hall: piles slots on the shared state."""
    return Episode(
        task=TASK,
        run_id=f"fill-{k}",
        steps=[Step(observation="hall", action="wait", reward=1.0)],
    )


UNIVERSE = {e.run_id: e for e in [*map(episode, range(RUNS)), *map(filler, range(FILLERS))]}


def make_memory(store: SimStore) -> RemembererMemory:
    memory = RemembererMemory(client=NoClient(), embeddings=EMBEDDINGS, rlem=RLEMConfig(gamma=1.0))
    memory.ledger = CountingLedger(store, memory.encoder, memory.rlem)
    return memory


@functools.cache
def exported(n: int) -> tuple[LogRecord, ...]:
    """Run n as another memory exports it (what an import reads)."""
    memory = make_memory(SimStore())
    memory.learn(episode(n))
    return tuple(transfer.export_records(memory, memory._open(None)))


# -- running actors ----------------------------------------------------------------------------


def body(memory: RemembererMemory, op: tuple[str, int]) -> Any:
    """What an actor does."""
    kind, n = op
    if kind == "learn":
        return memory.learn(episode(n))
    if kind == "fill":
        return memory.learn(filler(n))
    if kind == "forget":
        return memory.forget_run(f"run-{n}")
    if kind == "evict":
        return evict(memory, memory._open(None), n)
    if kind == "compact":
        return memory.compact()
    if kind == "rebuild":
        return memory.rebuild()
    if kind == "import":
        return transfer.import_records(memory, memory._open(None), exported(n))
    raise AssertionError(kind)


def run_actors(
    memory: RemembererMemory,
    actors: Sequence[tuple[tuple[str, int], int | None]],
    choose: Any,
    budget: int = 3000,
) -> Scheduler:
    """Run `actors` ((operation, kill point)) under one scheduler; raise what went wrong."""
    sched = Scheduler(choose, budget)
    store = memory.store
    assert isinstance(store, SimStore)
    store.scheduler = sched
    try:
        for op, kill_at in actors:
            name = f"{len(sched.actors)}:{op[0]}({op[1]})"
            actor = sched.add(name, functools.partial(body, memory, op), kill_at)
            actor.op = op
        sched.run()
    finally:
        store.scheduler = None
    for actor in sched.actors:
        _raise_unexpected(actor)
    return sched


def _raise_unexpected(actor: Actor) -> None:
    error = actor.error
    if error is None:
        return
    raced = ("was deleted while it was being learned", "was forgotten while it was being learned")
    if isinstance(error, StorageError) and any(m in str(error) for m in raced):
        return  # documented: a learn racing a forget of its run id
    msg = f"{actor.name} raised {type(error).__name__}: {error}"
    raise AssertionError(msg) from error


STUCK_AT = (9, 7, 8, 3, 4, 6)
"""Where a learn that lost a claim to a racing filler dies (`stuck_learn`): just before its
done record (9: rows written, its slots pending), after claiming the hall again (7, 8: that
slot in no row yet), after writing its rows with its intent (3: no run record, nothing to
complete), after its first add (4: its tentative done void, with a slot in its room), after
deleting it (6). From 7 on, the hall's later writers complete it (helping)."""


def stuck_learn(memory: RemembererMemory, n: int, kill_at: int) -> None:
    """A learn of run n that reads its rows, then a filler claims the hall position it will
    try, then it goes on and dies at its store call `kill_at`: a run left uncommitted.

    Alone, a new run commits in its first add (DESIGN §6, "Commit"); a lost claim makes that
    add's tentative done void, and the run goes the long way (claim again, rows, done)."""
    race = [(("learn", n), kill_at), (("fill", FILLERS - 1), None)]
    run_actors(memory, race, replay([0, 0, 0] + [1] * 40))


def first_waiting(waiting: list[Actor]) -> Actor:
    return waiting[0]


def replay(schedule: Sequence[int]) -> Any:
    """A `choose` following a written-out schedule (actor indices), then the first waiting."""
    order = list(schedule)

    def choose(waiting: list[Actor]) -> Actor:
        while order:
            wanted = order.pop(0)
            for actor in waiting:
                if actor.index == wanted:
                    return actor
        return waiting[0]

    return choose


# -- the truth, read straight from the log -------------------------------------------------------


def log_truth(memory: RemembererMemory) -> tuple[Status, list[Slot]]:
    """Every run and done record, and every slot, from the store's log dict (on Chroma: by kind).

    The status's `starts`: where each state's live incarnation starts, by following its
    eviction markers from position 0 (DESIGN §6, "Evict"); a slot below it counts nothing.
    """
    if isinstance(memory.store, SimStore):
        records = [(i, m, d) for i, (m, d) in memory.store.space("default").log.items()]
    else:
        ns = memory._open(None)
        kinds = ("run", "done", "slot", "evicted")
        records = [r for kind in kinds for r in memory.store.log_of_kind(ns, kind)]
    runs, dones, slots, ends = {}, {}, [], {}
    for record_id, meta, doc in records:
        if record_id.startswith("run:"):
            runs[meta["run_id"]] = RunRecord.from_chroma(record_id, meta, doc)
        elif record_id.startswith("done:"):
            dones[meta["run_id"]] = Done.from_chroma(record_id, meta, doc)
        elif record_id.startswith("slot:"):
            slots.append(Slot.from_chroma(record_id, meta, doc))
        elif record_id.startswith("evicted:"):
            ends[meta["state_id"], meta["start"]] = meta["next"]
    starts: dict[str, int] = {}
    for state_id in {s for s, _start in ends}:
        at = 0
        while (state_id, at) in ends:
            at = ends[state_id, at]
        starts[state_id] = at
    held = {slot.id: (slot.run_id, slot.nonce) for slot in slots}  # a tentative done's test
    return Status(runs, dones, starts, held), slots


def counts(status: Status, slot: Slot) -> bool:
    """table(s) folds this slot: valid, and in its state's live incarnation."""
    live = slot.index >= status.starts.get(slot.state_id, 0)
    return live and status.verdict(slot) == "valid"


def replayed(memory: RemembererMemory, status: Status, slots: list[Slot]) -> dict[str, dict]:
    """table(s) = fold, in slot order, of the updates of the valid slots of s (DESIGN §6)."""
    by_state: dict[str, list[Slot]] = defaultdict(list)
    for slot in sorted(slots, key=lambda s: (s.state_id, s.index)):
        if counts(status, slot):
            by_state[slot.state_id].append(slot)
    rlem = memory.rlem
    return {
        s: fold_table(
            [(u.action, u.target, u.reward, u.answer) for slot in got for u in slot.updates],
            learning_rate=rlem.learning_rate,
            alpha=rlem.alpha,
        )
        for s, got in by_state.items()
    }


def _qn(table: Any) -> dict[str, tuple[float, int]]:
    return {a: (round(s.q, 9), s.visits) for a, s in table.items()}


def disagreements(memory: RemembererMemory, *, evicted: bool, settled: bool = False) -> list[str]:
    """Everything that breaks "counted once, every reader agrees, the table is the replay"."""
    problems: list[str] = []
    ns = memory._open(None)
    status, slots = log_truth(memory)
    learned = {r for r in status.runs if status.learned(r)}
    present = {(s.state_id, s.index): s for s in slots}
    # (1) counted once or not at all
    for r in sorted(learned):
        run, done = status.runs[r], status.dones[r]
        states = [s for s, _ in done.slots]
        if sorted(states) != sorted(set(run.state_ids())):
            problems.append(f"done:{r} lists states {states}, its run {run.state_ids()}")
        for s, i in done.slots:
            slot = present.get((s, i))
            if slot is None:
                if not evicted:
                    problems.append(f"done:{r} lists slot {s[:6]}:{i}, which is gone")
            elif (slot.run_id, slot.nonce) != (r, run.nonce) or slot.updates != run.slots(s):
                if evicted and i < status.starts.get(s, 0):
                    continue  # an evicted position, taken again by a writer of the old row
                problems.append(f"done:{r} lists slot {s[:6]}:{i}, which holds run {slot.run_id}")
    # (2) every reader agrees, (3) with the replay
    is_learned = {r for r in UNIVERSE if memory.is_learned(r)}
    if is_learned != learned:
        problems.append(f"is_learned says {sorted(is_learned)}, the log {sorted(learned)}")
    rows = {row.id: row for page in memory.store.row_pages(ns) for row in page}
    # A state without a row was evicted: its slots count nothing (DESIGN §6, table(s)).
    truth = {s: _qn(t) for s, t in replayed(memory, status, slots).items() if s in rows}
    views = dict(zip(rows, memory.ledger.view(ns, list(rows.values())), strict=True))
    for s, row in rows.items():
        if _qn(views[s]) != truth.get(s, {}):
            problems.append(
                f"state {row.key}: readers see {_qn(views[s])}, the log folds to {truth.get(s, {})}"
            )
        # Settled: the base folds every slot up to the first undecided one.
        if settled and row.pending and status.verdict(row.pending[0]) != "undecided":
            problems.append(f"state {row.key}: not settled after rebuild: {row}")
    for room in ROOMS:
        for got in memory.retrieve(TASK, room, k=len(ROOMS) + 1):
            if got.observation == room:
                seen = {a.action: (round(a.q, 9), a.visits) for a in got.actions}
                if seen != truth.get(got.id, {}):
                    problems.append(
                        f"retrieve {room}: {seen}, the log folds to {truth.get(got.id)}"
                    )
    stats = memory.stats()
    visible = [truth.get(s, {}) for s in rows]
    updates = sum(n for t in visible for _q, n in t.values())
    if (stats.updates, stats.states) != (updates, sum(1 for t in visible if t)):
        problems.append(f"stats {stats.updates} updates in {stats.states} states, rows {updates}")
    expect = sorted(
        (s.run_id, u.step)
        for s in slots
        if counts(status, s) and s.state_id in rows
        for u in s.updates
    )
    got = sorted((r.run_id, r.step) for r in transfer.export_records(memory, ns))
    if got != expect:
        extra = sorted((Counter(got) - Counter(expect)).elements())
        missing = sorted((Counter(expect) - Counter(got)).elements())
        problems.append(f"export: extra {extra}, missing {missing}")
    return problems


def assert_agree(memory: RemembererMemory, phase: str, **kwargs: Any) -> None:
    problems = disagreements(memory, **kwargs)
    assert not problems, f"{phase}: " + "; ".join(problems)


# -- one simulation ----------------------------------------------------------------------------


def simulate(
    *,
    history: Sequence[int] = (),
    stuck: tuple[int, int] | None = None,
    fillers: int = 0,
    actors: Sequence[tuple[tuple[str, int], int | None]] = (),
    choose: Any = first_waiting,
    relearn: bool = True,
    one_death: bool = False,
) -> tuple[RemembererMemory, Scheduler]:
    """History, then the actors under `choose`, then recovery, checking after each phase."""
    store = SimStore()
    memory = make_memory(store)
    for n in history:
        memory.learn(episode(n))
    if stuck is not None:  # a learn of run `stuck[0]` dies at its store call `stuck[1]`
        stuck_learn(memory, *stuck)
    for k in range(fillers):
        memory.learn(filler(k))
    evicted = any(op[0] == "evict" for op, _ in actors)
    before = len(memory.store.helped)  # type: ignore[attr-defined]
    sched = run_actors(memory, actors, choose)
    sched.helped = memory.store.helped[before:]
    try:
        _recover(memory, sched, stuck=stuck, evicted=evicted, relearn=relearn, one_death=one_death)
    except AssertionError as e:
        trace = " ".join(f"{name}.{what}" for name, what in sched.trace)
        e.add_note(f"schedule {sched.schedule()}; store calls: {trace}")
        raise
    return memory, sched


def _recover(
    memory: RemembererMemory,
    sched: Scheduler,
    *,
    stuck: tuple[int, int] | None,
    evicted: bool,
    relearn: bool,
    one_death: bool,
) -> None:
    killed = [a for a in sched.actors if a.killed]
    forgets = [a for a in killed if a.op[0] == "forget"]
    # Every actor lived: readers agree at once. One death anywhere (`one_death`): once
    # compact() ran (DESIGN §6; issue 26 D: a writer killed between its row write and its
    # probe leaves that row behind another's slot until the state's next writer or compact).
    stuck_dead = stuck is not None and not memory.is_learned(f"run-{stuck[0]}")
    quiet = not killed and not stuck_dead
    if quiet and not forgets:
        assert_agree(memory, "right after the schedule", evicted=evicted)
    for actor in forgets:  # a killed forget is completed by running it again
        memory.forget_run(f"run-{actor.op[1]}")
    if quiet:
        assert_agree(memory, "after rerunning killed forgets", evicted=evicted)
    memory.compact()
    if quiet or (one_death and len(killed) + stuck_dead <= 1):
        assert_agree(memory, "after compact()", evicted=evicted)
    memory.rebuild()
    assert_agree(memory, "after rebuild()", evicted=evicted, settled=True)
    if relearn:
        for run_id, ep in UNIVERSE.items():
            before = memory.is_learned(run_id)
            report = memory.learn(ep)
            assert memory.is_learned(run_id), (
                f"{run_id}: learn reported {report.updates_written} updates written "
                f"(already_learned={report.already_learned}), but is_learned is False"
            )
            assert report.already_learned == before, (run_id, report)
        assert_agree(memory, "after learning every run again", evicted=evicted)
        if not evicted:  # every run learned: the visits are exactly their steps, once each
            visits = Counter(
                (s.observation, s.action) for ep in UNIVERSE.values() for s in ep.steps
            )
            ns = memory._open(None)
            rows = [row for page in memory.store.row_pages(ns) for row in page]
            tables = memory.ledger.view(ns, rows)  # a learn leaves its slots pending
            seen = Counter(
                {(row.key, a): s.visits for row, t in zip(rows, tables) for a, s in t.items()}
            )
            assert seen == visits, "each run counted once"


# -- the property test -----------------------------------------------------------------------

OPERATION = st.one_of(
    st.tuples(st.just("learn"), st.integers(0, RUNS - 1)),
    st.tuples(st.just("forget"), st.integers(0, RUNS - 1)),
    st.tuples(st.just("compact"), st.just(0)),
    st.tuples(st.just("import"), st.integers(0, RUNS - 1)),
    st.tuples(st.just("rebuild"), st.just(0)),
    st.tuples(st.just("fill"), st.integers(0, FILLERS - 1)),
)
EVICT = st.tuples(st.just("evict"), st.integers(0, 3))
KILL = st.none() | st.integers(0, 14)
"""Store calls an actor makes before it dies (None: it lives); a learn makes about 9."""


def _draw_simulation(data: Any, operation: Any, *, evictions: bool = False) -> dict[str, Any]:
    history = data.draw(st.lists(st.integers(0, RUNS - 1), max_size=3), label="history")
    stuck = data.draw(
        st.none() | st.tuples(st.integers(0, RUNS - 1), st.sampled_from(STUCK_AT)),
        label="stuck",
    )
    # Enough slots after the stuck one that the history or an actor completes it (helping).
    fillers = data.draw(st.integers(HELP_AFTER - 1, HELP_AFTER), label="fillers") if stuck else 0
    actors = data.draw(st.lists(st.tuples(operation, KILL), min_size=1, max_size=3), label="actors")
    if evictions:  # one or two, racing up to two other actors, in any order
        evicts = data.draw(st.lists(st.tuples(EVICT, KILL), min_size=1, max_size=2), label="evicts")
        actors = data.draw(st.permutations([*evicts, *actors[:2]]), label="order")

    def choose(waiting: list[Actor]) -> Actor:
        if len(waiting) == 1:
            return waiting[0]
        return waiting[data.draw(st.integers(0, len(waiting) - 1))]

    return {
        "history": history,
        "stuck": stuck,
        "fillers": fillers,
        "actors": actors,
        "choose": choose,
    }


def _count_helps(memory: RemembererMemory, sched: Scheduler, *, count: bool = True) -> None:
    helped = bool(memory.store.helped)  # type: ignore[attr-defined]
    if count:
        HELPS["schedules"] += 1
        HELPS["helped"] += helped
        HELPS["helped by an actor"] += bool(sched.helped)
    event(f"a help completed a run: {helped}")
    event(f"... while the actors interleaved: {bool(sched.helped)}")


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_schedule_counts_each_run_once_and_readers_agree(data) -> None:
    """Learn, duplicate learns, forget (of any run, one being learned too: issue 26 A),
    compact, rebuild, import, kills; every check after the recovery the design states."""
    memory, sched = simulate(**_draw_simulation(data, OPERATION))
    _count_helps(memory, sched)


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_schedule_with_one_death_agrees_after_compact(data) -> None:
    """The same, held to DESIGN §6's claim for one killed writer: every reader agrees once
    compact() ran (it completes prepared runs and reads past every row's `known`)."""
    draw = _draw_simulation(data, OPERATION)
    memory, sched = simulate(**draw, one_death=True)
    _count_helps(memory, sched, count=False)


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_schedule_with_evictions_agrees(data) -> None:
    """One or two evictions racing learns, forgets, compact, rebuild, import, kills (issue 26
    B): held to the same claims (every actor alive: right away; one death: after compact())."""
    draw = _draw_simulation(data, OPERATION, evictions=True)
    memory, sched = simulate(**draw, one_death=True)
    _count_helps(memory, sched, count=False)


def test_the_schedules_exercised_helping() -> None:
    """Some schedule of the green property test completed a run by helping while its actors
    interleaved (pytest runs this after it)."""
    if not HELPS["schedules"]:
        pytest.skip("the property test did not run in this session")
    assert HELPS["helped by an actor"] > 0, HELPS


# -- written-out schedules -------------------------------------------------------------------


def test_a_learn_killed_after_its_claim_is_completed_by_the_eighth_learn_after_it() -> None:
    """Helping: run-0 dies after claiming its slots; the 8th later slot's writer completes it."""
    memory, _sched = simulate(stuck=(0, 9), fillers=HELP_AFTER, actors=[], relearn=False)
    assert memory.store.helped == ["run-0"]  # type: ignore[attr-defined]
    assert memory.is_learned("run-0")
    assert_agree(memory, "after the help", evicted=False)


def test_a_help_inside_a_schedule_completes_the_run_once() -> None:
    """Two learns interleaved call by call; whichever settles past the 8th slot helps."""
    store = SimStore()
    memory = make_memory(store)
    stuck_learn(memory, 0, 9)  # claimed, rows written, no done
    for k in range(HELP_AFTER - 2):
        memory.learn(filler(k))
    assert not store.helped
    sched = run_actors(memory, [(("learn", 1), None), (("learn", 2), None)], replay([0, 1] * 40))
    assert store.helped == ["run-0"], sched.trace
    assert all(memory.is_learned(f"run-{n}") for n in range(3))
    assert_agree(memory, "after the schedule", evicted=False)
    assert memory.learn(episode(0)).already_learned  # the helped run counts once


def test_two_learns_of_one_run_id_interleaved_count_it_once() -> None:
    """A duplicate (or a retry while the first attempt still runs), call by call."""
    for schedule in ([0, 1] * 30, [1, 0] * 30, [0] * 6 + [1] * 30, [1] * 7 + [0] * 30):
        memory = make_memory(SimStore())
        sched = run_actors(memory, [(("learn", 0), None), (("learn", 0), None)], replay(schedule))
        written = sorted(a.result.updates_written for a in sched.actors)
        assert written == [0, 2], (schedule, written)
        assert_agree(memory, f"schedule {schedule}", evicted=False)


def test_a_forget_between_a_learns_row_write_and_its_commit_leaves_the_run_learnable() -> None:
    """Issue 26 A, minimal schedule: learn(run-3) runs 5 store calls (up to writing its rows),
    forget(run-3) reads the run's status (run record, no done record), learn commits, forget
    finishes (deletes run:3 but not done:3, which it never saw); learn(run-3) again. Before
    the fix, it reported already_learned while is_learned was False."""
    memory = make_memory(SimStore())
    schedule = [0] * 6 + [1, 1]  # "start" + 5 calls of learn, "start" + 1 call of forget
    run_actors(memory, [(("learn", 3), None), (("forget", 3), None)], replay(schedule))
    assert_agree(memory, "after the race", evicted=False)  # holds: all say not learned
    report = memory.learn(episode(3))
    assert memory.is_learned("run-3"), report
    assert not report.already_learned


def test_after_the_forget_race_eight_more_learns_on_the_state_do_not_recurse() -> None:
    """Issue 26 A: before the fix, finish -> settle -> help -> finish recursed here."""
    memory = make_memory(SimStore())
    schedule = [0] * 6 + [1, 1]
    run_actors(memory, [(("learn", 3), None), (("forget", 3), None)], replay(schedule))
    memory.learn(episode(3))  # prepares a new run:3; its done record is refused
    for k in range(HELP_AFTER + 1):
        memory.learn(filler(k))  # the hall's slot of run-3 is never decided
    memory.compact()
    assert_agree(memory, "after eight more learns", evicted=False)


def test_a_state_evicted_and_learned_again_is_exported_once() -> None:
    """Minimal: learn run-0, evict every state, learn run-3 on the same states; export."""
    memory = make_memory(SimStore())
    memory.learn(episode(0))
    assert evict(memory, memory._open(None), 0) == 2
    memory.learn(episode(3))  # claims slot 0 of the hall and the kitchen again
    records = transfer.export_records(memory, memory._open(None))
    assert sorted((r.run_id, r.step) for r in records) == [("run-3", 0), ("run-3", 1)]
    other = make_memory(SimStore())
    transfer.import_records(other, other._open(None), records)  # refused: step 0 twice


def test_compact_and_rebuild_complete_a_run_killed_before_its_rows() -> None:
    """Issue 26 C, minimal: learn run-1; learn run-0 dies at its 5th store call (its slots
    claimed, its rows not written); compact(); rebuild(). No row names run-0's slots: compact
    finds the prepared run from the log's run records and completes it."""
    memory = make_memory(SimStore())
    memory.learn(episode(1))
    run_actors(memory, [(("learn", 0), 4)], first_waiting)
    memory.compact()
    memory.rebuild()
    status, slots = log_truth(memory)
    assert all(status.verdict(s) != "undecided" for s in slots), "run-0 is still prepared"


def test_one_killed_writer_leaves_no_row_lagging() -> None:
    """Minimal: learn(run-0) reads the hall (no row yet; "start" + 2 store calls); learn(run-1)
    runs whole (the hall's slot 0, named by its intent); learn(run-2) runs whole (its row
    knows slot 0, drops run-1's intent and names its own at 1); learn(run-0) writes the row
    it read (a new one: nothing known) with its intent at 0, adds its claims (the hall's lost:
    its tentative done is void) and dies. run-1 is learned and exported, but retrieve and
    stats miss its hall update until the next writer of the hall or compact(), which reads
    past every row's `known`."""
    memory = make_memory(SimStore())
    schedule = [0] * 3 + [1] * 20 + [2] * 20
    actors = [(("learn", 0), 4), (("learn", 1), None), (("learn", 2), None)]
    sched = run_actors(memory, actors, replay(schedule))
    assert [a.killed for a in sched.actors] == [True, False, False]
    assert disagreements(memory, evicted=False)  # the window: the hall lags run-1's slot
    memory.compact()  # probes every row past its `known`: settles the hall with it
    assert_agree(memory, "one writer killed, after compact()", evicted=False)


def test_a_killed_evict_leaves_readers_agreeing() -> None:
    """Minimal: learn run-0 (hall, kitchen); evict every state, dying at its 4th store call
    (rows deleted, the first state's slots not yet); compact(); rebuild()."""
    memory = make_memory(SimStore())
    memory.learn(episode(0))
    run_actors(memory, [(("evict", 0), 3)], first_waiting)
    memory.compact()
    memory.rebuild()
    assert_agree(memory, "after a killed evict, compact() and rebuild()", evicted=True)


def test_an_evict_racing_a_learn_of_the_state_leaves_readers_agreeing() -> None:
    """Issue 26 B: learn run-3, run-2 (hall slots 0, 1); evict every state (it settles the
    rows the learns left pending, adds each incarnation's marker, then its pointer, deletes the
    rows, then the slots) while fill-8 learns the hall. Before the markers, with the first
    schedule, fill-8 found no row, claimed position 0, found it taken (run-3's slot, deleted
    right after) and walked past it, keeping that slot in its row's pending copy: the hall's
    row showed run-3's evicted update. Now positions never restart (DESIGN §6, "Evict"):

    - fill-8 read the row before the eviction deleted it, claims after the marker: its
      read-back finds the marker, so the claim moves to the next incarnation (position 2) and
      its row is written there (an update of a deleted row: nothing);
    - fill-8 finds no row: it reads the pointer with its status and claims from position 2,
      before the dead slots are deleted, and writes the hall's new row starting there;
    - the same, the row read just before the eviction deletes it and the claim made before
      the dead slots are deleted.

    In each, every reader agrees, and the hall learned again later numbers on past 1.
    """
    schedules = (
        [0] * 6 + [1] * 5,
        [0] * 9 + [1] * 5 + [0] + [1] * 9,
        [0] * 6 + [1] * 2 + [0] * 3 + [1] * 9,
    )
    for schedule in schedules:
        memory = make_memory(SimStore())
        for n in [3, 2]:
            memory.learn(episode(n))
        run_actors(memory, [(("evict", 0), None), (("fill", 8), None)], replay(schedule))
        assert_agree(memory, f"evict racing a learn, schedule {schedule}", evicted=True)
        memory.learn(filler(9))
        _status, slots = log_truth(memory)
        assert [s.index for s in slots if s.run_id == "fill-9"] == [3], schedule
        assert_agree(memory, f"the hall learned again after schedule {schedule}", evicted=True)


def test_the_scheduler_stops_a_livelock_and_a_hypothesis_abort_cleanly() -> None:
    """A schedule past its budget fails with a clear message; every thread ends either way."""
    store = SimStore()
    memory = make_memory(store)
    ns = memory._open(None)

    def spin() -> None:
        while True:
            store.get_log(ns, ["slot:x:0"])

    sched = Scheduler(first_waiting, budget=50)
    store.scheduler = sched
    sched.add("spin", spin)
    with pytest.raises(BudgetExceededError, match="budget of 50 store calls"):
        sched.run()

    class Stop(BaseException):
        pass

    def stop(waiting: list[Actor]) -> Actor:
        raise Stop

    sched = Scheduler(stop)
    store.scheduler = sched
    sched.add("a", spin)
    sched.add("b", spin)
    with pytest.raises(Stop):
        sched.run()
    assert all(a.finished and a.killed for a in sched.actors)
    assert not any(a.thread.is_alive() for a in sched.actors if a.thread)
