"""The merge of a partition's topics by record timestamp (agents/time_order.py)."""

from __future__ import annotations

import pytest

from agents.time_order import FetchProgress, TimeOrder

Rec = tuple[str, int, float]  # (topic, offset, timestamp)


def _order() -> TimeOrder[str, Rec]:
    return TimeOrder(lambda r: r[2], lambda r: r[1], max_wait_s=1.0)


def _recs(topic: str, *stamps: float) -> list[Rec]:
    return [(topic, i, ts) for i, ts in enumerate(stamps)]


def test_merges_by_timestamp_keeping_each_topics_offset_order() -> None:
    o = _order()
    o.add("meter", _recs("meter", 1, 3, 2, 8))  # a producer's clock may step back: offsets rule
    o.add("status", _recs("status", 2, 7))
    got = o.take(0, ["meter", "status"], lambda k: False, now=0)
    assert got == [
        ("meter", 0, 1),
        ("status", 0, 2),
        ("meter", 1, 3),
        ("meter", 2, 2),
        ("status", 1, 7),
        ("meter", 3, 8),
    ]
    assert o.take(0, ["meter", "status"], lambda k: False, now=0) == []


def test_ties_go_to_the_topic_listed_first() -> None:
    o = _order()
    o.add("b", _recs("b", 5))
    o.add("a", _recs("a", 5))
    assert [r[0] for r in o.take(0, ["a", "b"], lambda k: False, now=0)] == ["a", "b"]


def test_stops_where_a_topic_with_records_left_on_the_broker_runs_dry() -> None:
    o = _order()
    o.add("meter", _recs("meter", 1, 2, 3, 4))
    o.add("stop", _recs("stop", 2))
    more = {"stop"}  # the stop topic's next fetch may hold a record at 2.5
    got = o.take(0, ["meter", "stop"], lambda k: k in more, now=0)
    assert got == [("meter", 0, 1), ("meter", 1, 2), ("stop", 0, 2)]
    assert o.held("meter") == 2
    o.add("stop", [("stop", 1, 2.5)])
    more.clear()
    assert o.take(0, ["meter", "stop"], lambda k: k in more, now=0) == [
        ("stop", 1, 2.5),
        ("meter", 2, 3),
        ("meter", 3, 4),
    ]


def test_waits_for_a_topic_that_has_records_on_the_broker_and_none_fetched() -> None:
    told: list[tuple[object, list[str]]] = []
    o: TimeOrder[str, Rec] = TimeOrder(lambda r: r[2], lambda r: r[1], 1.0, lambda g, k: told.append((g, k)))
    o.add("meter", _recs("meter", 10, 11))
    keys = ["meter", "status"]
    assert o.take(0, keys, lambda k: k == "status", now=100.0) == []
    assert o.take(0, keys, lambda k: k == "status", now=100.5) == []
    assert told == []
    # Waited max_wait_s: go on without it, and say so.
    assert o.take(0, keys, lambda k: k == "status", now=101.0) == _recs("meter", 10, 11)
    assert told == [(0, ["status"])]
    # Without it until it delivers again: no new wait for it.
    o.add("meter", [("meter", 2, 12)])
    assert o.take(0, keys, lambda k: k == "status", now=101.1) == [("meter", 2, 12)]
    # Once it delivers, it is merged (and waited for) again.
    o.add("status", [("status", 0, 5)])
    o.add("meter", [("meter", 3, 13)])
    assert o.take(0, keys, lambda k: k == "status", now=101.2) == [("status", 0, 5)]
    assert o.take(0, keys, lambda k: k == "status", now=101.3) == []
    assert told == [(0, ["status"])]


def test_going_on_without_a_topic_still_stops_where_another_runs_dry() -> None:
    # The rebalance fault test (2026-12-07): after the wait for a partition's statuses ran
    # out, its StopTransaction records went out ahead of the MeterValues fetched after them.
    o = _order()
    o.add("meter", _recs("meter", 1, 2, 3))
    o.add("stop", _recs("stop", 2.5, 9))
    keys = ["meter", "status", "stop"]
    more = {"meter", "status"}
    assert o.take(0, keys, lambda k: k in more, now=0) == []
    got = o.take(0, keys, lambda k: k in more, now=1.0)
    assert got == [("meter", 0, 1), ("meter", 1, 2), ("stop", 0, 2.5), ("meter", 2, 3)]
    assert o.held("stop") == 1  # at 9: the meter records up to 9 are still on the broker
    o.add("meter", [("meter", 3, 8), ("meter", 4, 10)])
    more.discard("meter")
    assert o.take(0, keys, lambda k: k in more, now=1.1) == [
        ("meter", 3, 8),
        ("stop", 1, 9),
        ("meter", 4, 10),
    ]


def test_drop_ends_giving_up_on_a_topic() -> None:
    o = _order()
    o.add("meter", _recs("meter", 1))
    assert o.take(0, ["meter", "status"], lambda k: k == "status", now=0) == []
    assert o.take(0, ["meter", "status"], lambda k: k == "status", now=1.0) == _recs("meter", 1)
    o.drop("status")  # sought or revoked: what comes next is waited for again
    o.add("meter", [("meter", 1, 2)])
    assert o.take(0, ["meter", "status"], lambda k: k == "status", now=1.1) == []


def test_a_topic_read_to_its_end_does_not_hold_the_others() -> None:
    o = _order()
    o.add("meter", _recs("meter", 1, 2))
    assert o.take(0, ["meter", "status", "boot"], lambda k: False, now=0) == _recs("meter", 1, 2)


def test_groups_wait_independently_and_drop_forgets_a_buffer() -> None:
    o: TimeOrder[tuple[str, int], Rec] = TimeOrder(lambda r: r[2], lambda r: r[1], max_wait_s=1.0)
    o.add(("m", 0), [("m", 0, 1.0)])
    o.add(("m", 1), [("m", 0, 1.0)])
    assert o.take(0, [("m", 0), ("s", 0)], lambda k: k == ("s", 0), now=0) == []
    assert o.take(1, [("m", 1), ("s", 1)], lambda k: False, now=0) == [("m", 0, 1.0)]
    assert o.drop(("m", 0))  # it held records: the consumer must read them again
    assert o.held(("m", 0)) == 0
    assert not o.drop(("m", 0))
    assert o.take(0, [("m", 0), ("s", 0)], lambda k: True, now=5) == []


def test_records_read_again_replace_those_buffered_from_their_offset_on() -> None:
    # The fetcher was sought back while the merge held records of its topic-partition:
    # each record once, in offset order (appended, 2-3 were held twice and 1 after 3).
    o = _order()
    o.add("meter", [("meter", 2, 2.0), ("meter", 3, 3.0)])
    o.add("meter", [("meter", 1, 1.0), ("meter", 2, 2.0), ("meter", 3, 3.0), ("meter", 4, 4.0)])
    assert [r[1] for r in o.take(0, ["meter"], lambda k: False, now=0)] == [1, 2, 3, 4]


def test_records_after_those_buffered_are_appended() -> None:
    o = _order()
    o.add("meter", [("meter", 2, 2.0)])
    o.add("meter", [("meter", 3, 3.0)])
    o.add("meter", [])
    assert [r[1] for r in o.take(0, ["meter"], lambda k: False, now=0)] == [2, 3]


def test_the_merges_clock_runs_while_fetches_bring_records() -> None:
    clock = FetchProgress(now=100.0, max_gap_s=1.0)
    assert clock.advance(100.05, fetched=True) == pytest.approx(0.05)
    assert clock.advance(100.5, fetched=True) == pytest.approx(0.5)  # steady fetches: wall time


def test_the_merges_clock_stands_while_nothing_is_fetched() -> None:
    """A broker restart: ~19 s without records counts as one gap, at most max_gap_s."""
    clock = FetchProgress(now=0.0, max_gap_s=1.0)
    clock.advance(0.1, fetched=True)
    for t in range(1, 20):
        assert clock.advance(float(t), fetched=False) == pytest.approx(0.1)
    assert clock.advance(20.0, fetched=True) == pytest.approx(1.1)


def test_a_topic_that_stalls_while_the_broker_is_down_is_waited_for() -> None:
    """The merge's wait, on that clock, outlasts an outage of every partition: the records
    buffered before it stay behind the stalled topic's until it delivers again."""
    o = _order()  # max_wait_s=1.0
    clock = FetchProgress(now=0.0, max_gap_s=0.5)
    o.add("status", _recs("status", 5))

    def stalled(key: str) -> bool:  # the broker has meter records not fetched
        return key == "meter"

    assert o.take(0, ["meter", "status"], stalled, now=clock.advance(0.1, fetched=True)) == []
    for t in range(1, 30):  # 30 s of outage
        assert o.take(0, ["meter", "status"], stalled, now=clock.advance(float(t), fetched=False)) == []
    o.add("meter", _recs("meter", 4))
    got = o.take(0, ["meter", "status"], lambda k: False, now=clock.advance(30.0, fetched=True))
    assert got == [("meter", 0, 4), ("status", 0, 5)]


def test_a_wait_begun_before_a_drop_does_not_count_after_it() -> None:
    """A topic-partition sought or revoked mid-wait: when its group waits again, the wait
    starts then (a start kept from before gave up at the first take after a resume)."""
    o = _order()  # max_wait_s=1.0

    def stalled(key: str) -> bool:
        return key == "meter"

    o.add("status", _recs("status", 5))
    assert o.take(0, ["meter", "status"], stalled, now=0.0) == []  # waits from 0
    o.drop("status")
    o.drop("meter")
    o.add("status", _recs("status", 6))
    assert o.take(0, ["meter", "status"], stalled, now=50.0) == []  # a new wait, from 50
    assert o.take(0, ["meter", "status"], stalled, now=50.5) == []
    assert o.take(0, ["meter", "status"], stalled, now=51.0) == [("status", 0, 6)]  # given up
