"""Group commit (`_batching.Combiner`): requests waiting while a batch runs share the next one.

Threads are synchronised by events and the combiner's own condition, never by sleeping.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from langchain_rememberer._batching import Combiner

WAIT = 60  # seconds: only a deadlock would reach it


class _Gate:
    """A batch runner whose first batch blocks until released; it records every batch."""

    def __init__(self, fail_on: object = None) -> None:
        self.batches: list[list[object]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, batch):
        self.batches.append(list(batch))
        if len(self.batches) == 1:
            self.entered.set()
            assert self.release.wait(WAIT)
        if self.fail_on in batch:
            raise RuntimeError("the store failed")
        return [f"done {x}" for x in batch]


def _queued(combiner: Combiner, n: int) -> None:
    with combiner._cond:
        assert combiner._cond.wait_for(lambda: len(combiner._queue) == n, timeout=WAIT)


def _submit_in_threads(combiner: Combiner, payloads: list[object]) -> tuple[dict, list]:
    results: dict[object, object] = {}
    threads = []

    def one(p: object) -> None:
        try:
            results[p] = combiner.submit(p)
        except RuntimeError as e:
            results[p] = e

    for p in payloads:
        threads.append(threading.Thread(target=one, args=(p,)))
        threads[-1].start()
    return results, threads


def test_requests_waiting_on_a_batch_share_the_next_one() -> None:
    gate = _Gate()
    combiner = Combiner(gate)
    results, threads = _submit_in_threads(combiner, ["first"])
    assert gate.entered.wait(WAIT)
    more, others = _submit_in_threads(combiner, ["a", "b", "c"])
    _queued(combiner, 3)
    gate.release.set()
    for t in threads + others:
        t.join(WAIT)
    assert gate.batches[0] == ["first"]
    assert sorted(gate.batches[1]) == ["a", "b", "c"]  # one call for the three
    assert len(gate.batches) == 2
    assert results == {"first": "done first"}
    assert more == {"a": "done a", "b": "done b", "c": "done c"}
    assert combiner.batches == 2


def test_a_failed_batch_fails_each_of_its_requests_and_not_the_next() -> None:
    gate = _Gate(fail_on="bad")
    combiner = Combiner(gate)
    results, threads = _submit_in_threads(combiner, ["first"])
    assert gate.entered.wait(WAIT)
    more, others = _submit_in_threads(combiner, ["bad", "good"])
    _queued(combiner, 2)
    gate.release.set()
    for t in threads + others:
        t.join(WAIT)
    assert isinstance(more["bad"], RuntimeError)
    assert isinstance(more["good"], RuntimeError)  # in the same call: not written either
    assert combiner.submit("later") == "done later"


def test_alone_a_request_runs_at_once() -> None:
    combiner = Combiner(lambda batch: [x * 2 for x in batch])
    assert [combiner.submit(n) for n in range(3)] == [0, 2, 4]
    assert combiner.batches == 3


def test_an_error_reaches_the_caller() -> None:
    def broken(batch):
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        Combiner(broken).submit(1)


def test_the_leader_yields_until_a_yield_brings_nobody_new(monkeypatch) -> None:
    """`_gather`: a request arriving while the leader yields joins its batch; then it runs."""
    from langchain_rememberer import _batching

    calls: list[list[object]] = []
    combiner = Combiner(lambda batch: calls.append(list(batch)) or [f"done {x}" for x in batch])
    yields: list[int] = []
    late: dict = {}

    def yielding(seconds: float) -> None:  # stands in for the GIL yield, time.sleep(0)
        assert seconds == 0
        yields.append(len(combiner._queue))
        if len(yields) == 1:  # someone arrives during the first yield
            results, threads = _submit_in_threads(combiner, ["late"])
            late.update(results=results, threads=threads)
            _queued(combiner, 2)

    monkeypatch.setattr(_batching, "time", SimpleNamespace(sleep=yielding))
    assert combiner.submit("first") == "done first"
    for t in late["threads"]:
        t.join(WAIT)
    assert late["results"] == {"late": "done late"}
    assert calls == [["first", "late"]]  # one batch: the late request joined it
    assert yields == [1, 2]  # the second yield brought nobody new: the batch ran


def test_a_steady_stream_cannot_keep_a_batch_waiting(monkeypatch) -> None:
    from langchain_rememberer import _batching

    calls: list[list[object]] = []
    combiner = Combiner(lambda batch: calls.append(list(batch)) or list(batch))
    threads: list[threading.Thread] = []

    def yielding(seconds: float) -> None:  # a newcomer at every yield
        n = len(combiner._queue)
        threads.extend(_submit_in_threads(combiner, [f"r{n}"])[1])
        _queued(combiner, n + 1)

    monkeypatch.setattr(_batching, "_MAX_YIELDS", 4)
    monkeypatch.setattr(_batching, "time", SimpleNamespace(sleep=yielding))
    combiner.submit("r0")
    monkeypatch.undo()  # later leaders yield for real
    for t in threads:
        t.join(WAIT)
    assert calls[0] == ["r0", "r1", "r2", "r3", "r4"]  # 4 yields, then the batch ran
    assert sorted(x for batch in calls for x in batch) == ["r0", "r1", "r2", "r3", "r4"]
