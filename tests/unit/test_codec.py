"""Stage state survives its trip through the changelog's bytes unchanged, in bytes of its size."""

from __future__ import annotations

import dataclasses
import random
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from agents import codec
from agents.domain.buckets import BucketRules, Contribution, SiteState
from agents.domain.site_timeline import (
    Change,
    FoldRules,
    SiteTimeline,
    apply_change,
    fold,
    record_liveness,
    record_status,
)
from agents.domain.status import StatusClass

CLASSES = [c for c in StatusClass if c is not StatusClass.UNKNOWN]
FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_a_site_entry_round_trips() -> None:
    a = Contribution("S", 60_000, "C/1", 3, 12.5, ((61_000, 7200.0), (90_000, 7100.5)), None, True)
    b = Contribution("S", 60_000, "C/2", 2, 0.0, (), 11.0, False)
    entry = codec.SiteEntry(
        SiteState(open={60_000: {"C/1": a, "C/2": b}}, revisions={60_000: 4}, closed={0: (1.5, 300.0)}),
        partition=3,
        dirty={60_000},
    )
    back = codec.decode_site(codec.encode_site(entry), "S")
    assert back.state == entry.state
    assert (back.partition, back.dirty) == (3, {60_000})


def test_a_site_entry_written_before_compact_buckets_is_still_read() -> None:
    a = Contribution("S", 60_000, "C/1", 3, 12.5, ((61_000, 7200.0), (90_000, 7100.5)), None, True)
    fields = {f.name: getattr(a, f.name) for f in dataclasses.fields(a)}
    old = {
        "open": {"60000": [fields]},
        "rev": {"60000": 3},
        "closed": {},
        "final_up_to": 0,
        "partition": 1,
        "dirty": [],
    }
    assert codec.decode_site(orjson.dumps(old), "S").state.open == {60_000: {"C/1": a}}


def test_a_bundle_round_trips_through_the_stage_2_topic() -> None:
    c = Contribution("S", 60_000, "C/1", 3, 12.5, ((61_000, 7200.0),), None, True)
    change = Change("S", "CP1", 61_000, "1/1", CLASSES[0])
    offline = Change("S", "CP2", 62_000, offline=True)
    assert codec.decode_stage2(codec.encode_bundle([c, change, offline])) == [c, change, offline]


def test_items_of_different_bundles_share_their_ids() -> None:
    """A site's state keeps them: one copy each, not one per item decoded."""
    site, evse = "site-" + "0042", "charger-0042-01/" + "1"
    first, second = (
        codec.decode_stage2(
            codec.encode_bundle(
                [
                    Contribution(site, start, evse, 3, 12.5, ((start + 1_000, 7200.0),), None, True),
                    Change(site, "charger-0042-01", start, "1/1", CLASSES[0]),
                ]
            )
        )
        for start in (60_000, 120_000)
    )
    c1, c2 = first[0], second[0]
    assert isinstance(c1, Contribution) and isinstance(c2, Contribution)
    assert c1.site_id is c2.site_id and c1.evse_key is c2.evse_key
    ch1, ch2 = first[1], second[1]
    assert isinstance(ch1, Change) and isinstance(ch2, Change)
    assert ch1.charger_id is ch2.charger_id and ch1.connector is ch2.connector


CONTRIBUTION = Contribution("S", 60_000, "C/1", 3, 12.5, ((61_000, 7200.0),), None, True)
# The same as the stage-2 topic held it in layout 1 (and before bundles, one per record).
LAYOUT_1_CONTRIBUTION = {
    "type": "contribution",
    "site_id": "S",
    "bucket_start": 60_000,
    "evse_key": "C/1",
    "readings": 3,
    "energy_wh": 12.5,
    "powers": [[61_000, 7200.0]],
    "carried_power_w": None,
    "reported": True,
}


def test_a_bundle_of_the_first_layout_is_still_read() -> None:
    """Bundles of dicts (layout 1, earlier versions) may wait in the topic when a worker is upgraded."""
    raw = orjson.dumps(
        {
            "type": "bundle",
            "items": [
                LAYOUT_1_CONTRIBUTION,
                {
                    "type": "change",
                    "site_id": "S",
                    "charger_id": "CP1",
                    "ts": 61_000,
                    "connector": "1/1",
                    "class": CLASSES[0].value,
                    "offline": None,
                },
                {
                    "type": "change",
                    "site_id": "S",
                    "charger_id": "CP2",
                    "ts": 62_000,
                    "connector": None,
                    "class": None,
                    "offline": True,
                },
            ],
        }
    )
    assert codec.decode_stage2(raw) == [
        CONTRIBUTION,
        Change("S", "CP1", 61_000, "1/1", CLASSES[0]),
        Change("S", "CP2", 62_000, offline=True),
    ]


def test_a_record_of_one_item_from_before_bundles_is_still_read() -> None:
    assert codec.decode_stage2(orjson.dumps(LAYOUT_1_CONTRIBUTION)) == [CONTRIBUTION]


@pytest.mark.parametrize("seed", range(10))
def test_a_site_encodes_as_if_afresh_though_its_kept_json_is_reused(seed: int) -> None:
    """encode_site reuses the JSON of the timeline and of each open bucket while they have not
    changed: after any mix of contributions, status and liveness changes, folds and
    finalised buckets, the bytes are those of an encoding from scratch."""
    rnd = random.Random(seed)
    entry = codec.SiteEntry()
    rules = FoldRules(windows_ms=(60_000, 3_600_000))
    t = 1_795_521_600_000
    for step in range(200):
        t += rnd.randrange(0, 20_000)
        kind = rnd.choice(("contribution", "contribution", "status", "liveness", "fold", "final"))
        if kind == "contribution":
            start = t // 60_000 * 60_000 - rnd.choice((0, 0, 60_000))
            powers = ((t, rnd.uniform(0, 7400)),) if rnd.random() < 0.5 else ()
            c = Contribution("S", start, f"C/{rnd.randrange(3)}", step, 1.0, powers, None, True)
            entry.state.add(c)
        elif kind == "final":
            entry.state.finalise(t - 60_000, BucketRules(grace_ms=0))
            for start in [s for s in entry.state.open if s < entry.state.final_up_to]:
                del entry.state.open[start]
        elif kind == "status":
            connector = f"{rnd.randrange(1, 3)}/1"
            apply_change(
                entry.timeline, Change("S", f"CP{rnd.randrange(2)}", t, connector, rnd.choice(CLASSES))
            )
        elif kind == "liveness":
            apply_change(entry.timeline, Change("S", f"CP{rnd.randrange(2)}", t, offline=rnd.random() < 0.5))
        else:
            fold(entry.timeline, t - 30_000, rules)
        afresh = dataclasses.replace(entry, timeline_json=None, open_json={})
        assert codec.encode_site(entry) == codec.encode_site(afresh), (seed, step, kind)
    back = codec.decode_site(codec.encode_site(entry), "S")
    assert (back.timeline, back.state) == (entry.timeline, entry.state)


def test_table_values_hold_just_their_json() -> None:
    """Table values stay in memory for as long as their key is held (bench/RESULTS.md): each
    must take about its JSON's length, not the encoder's output buffer (4 KiB with orjson)."""
    from agents.domain.charger import ChargerState
    from agents.domain.charger_status import ChargerStatus
    from agents.domain.liveness import Liveness

    entry = codec.SiteEntry(SiteState(), partition=0)
    encoders: list[Callable[[], bytes]] = [
        lambda: codec.encode_charger(ChargerState()),
        lambda: codec.encode_status(ChargerStatus("S", Liveness(1_000))),
        lambda: codec.encode_site(entry),
    ]
    for encode in encoders:
        length = len(encode())
        tracemalloc.start()
        try:
            values = [encode() for _ in range(100)]
            held, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert held < len(values) * (length + 256), (length, held)


def _fixture_timeline() -> SiteTimeline:
    """The timeline tests/fixtures/tables/site_timeline_v1.json was encoded from (layout 1,
    by the codec of 2026-12-05): three chargers, two folds, an offline charger, a change
    still pending."""
    t0, m = 1_795_521_600_000, 60_000
    tl = SiteTimeline()
    rnd = random.Random(1)
    for i in range(3):
        for c in ("0/0", "1/1", "2/1"):
            record_status(tl, f"CP{i}", c, t0 + rnd.randrange(m), rnd.choice(list(StatusClass)))
    fold(tl, t0 + 5 * m, FoldRules())
    record_liveness(tl, "CP2", t0 + 5 * m + 10, True)
    record_status(tl, "CP1", "1/1", t0 + 6 * m, StatusClass.OCCUPIED)
    fold(tl, t0 + 7 * m, FoldRules())
    record_status(tl, "CP0", "2/1", t0 + 7 * m + 5, StatusClass.FAULTED)
    return tl


def test_a_timeline_in_the_first_layout_is_read() -> None:
    raw = (FIXTURES / "tables" / "site_timeline_v1.json").read_bytes()
    assert codec._timeline(orjson.loads(raw)) == _fixture_timeline()


def test_a_timeline_reads_back_in_the_current_layout_and_with_classes_reordered() -> None:
    tl = _fixture_timeline()
    doc = orjson.loads(codec._held(codec._timeline_doc(tl)))
    assert doc["v"] == 2 and codec._timeline(doc) == tl
    # Written by a version whose StatusClass listed its members in another order.
    order = list(reversed(range(len(doc["k"]))))
    doc["k"] = [doc["k"][i] for i in order]
    for charger in doc["c"].values():
        for line in charger[3].values():
            for w in line[3]:
                w[3:] = [w[3 + i] for i in order]
    assert codec._timeline(doc) == tl


def test_a_charger_state_with_float_evse_ids_decodes_with_ints() -> None:
    # Written before 2.0.1 ids of 1.0 were made ints: the compiled domain takes ints only.
    state = codec.decode_charger(orjson.dumps({"e": {"1.0": []}, "t": {"tx-1": 1.0}, "m": {}}))
    assert list(state.evses) == [1] and type(next(iter(state.evses))) is int
    assert state.tx_evse == {"tx-1": 1} and type(state.tx_evse["tx-1"]) is int
