"""Stage state survives its trip through the changelog's bytes unchanged."""

from __future__ import annotations

from agents import codec
from agents.domain.buckets import Contribution, SiteState


def test_a_site_entry_round_trips() -> None:
    a = Contribution("S", 60_000, "C/1", 3, 12.5, ((61_000, 7200.0), (90_000, 7100.5)), None, True)
    b = Contribution("S", 60_000, "C/2", 2, 0.0, (), 11.0, False)
    entry = codec.SiteEntry(
        SiteState(open={60_000: {"C/1": a, "C/2": b}}, revisions={60_000: 4}, closed={0: (1.5, 300.0)}),
        partition=3,
        dirty={60_000},
    )
    back = codec.decode_site(codec.encode_site(entry))
    assert back.state == entry.state
    assert (back.partition, back.dirty) == (3, {60_000})


def test_a_contribution_round_trips_through_the_stage_2_topic() -> None:
    c = Contribution("S", 60_000, "C/1", 3, 12.5, ((61_000, 7200.0),), None, True)
    assert codec.decode_stage2(codec.encode_contribution(c)) == c
