"""Flow control of merged input: a partition's time-ordered topics stop and resume together."""

from __future__ import annotations

from faust.types import TP

from agents.consumer import merged_with

ORDERED = ("in.MeterValues", "in.StatusNotification", "in.Heartbeat")


def test_a_time_ordered_topic_brings_the_others_of_its_partition() -> None:
    assigned = {TP(t, p) for t in ORDERED for p in (0, 1)} | {TP("ticks", 0)}
    assert merged_with(TP("in.Heartbeat", 1), ORDERED, assigned) == [TP(t, 1) for t in ORDERED]


def test_only_assigned_partitions_come_along() -> None:
    assigned = {TP("in.MeterValues", 0), TP("in.Heartbeat", 0)}
    assert merged_with(TP("in.MeterValues", 0), ORDERED, assigned) == [
        TP("in.MeterValues", 0),
        TP("in.Heartbeat", 0),
    ]


def test_other_topics_stand_alone() -> None:
    assert merged_with(TP("ticks", 0), ORDERED, {TP("ticks", 0), TP("in.MeterValues", 0)}) == [TP("ticks", 0)]
    assert merged_with(TP("site-contributions", 3), (), set()) == [TP("site-contributions", 3)]
