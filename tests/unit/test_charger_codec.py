"""A charger's state as packed columns: round trips, the JSON it replaced, what cannot be
packed (written as JSON)."""

from __future__ import annotations

import pytest

from agents import charger_codec, codec
from agents.domain.charger import ChargerState
from agents.domain.power import EvseSeries, Point

T0 = 1_795_521_600_000


def state() -> ChargerState:
    s = ChargerState(tx_evse={"tx-1": 1, "tx-2": 2})
    s.evses[1] = EvseSeries(
        {
            T0 + i * 10_000: Point(T0 + i * 10_000, 1000.0 + i, 7400.0, received_at_ms=T0 + i * 10_000 + 300)
            for i in range(40)
        }
    )
    # Every optional quantity, some readings with and some without, three contexts.
    s.evses[2] = EvseSeries(
        {
            T0: Point(T0, 0.0, None, None, None, "Transaction.Begin", None, None, T0 + 5),
            T0 + 60_000: Point(
                T0 + 60_000, 120.5, 7100.0, 7150.2, 120.5, "Sample.Periodic", 3.0, 0.0, T0 + 60_099
            ),
            T0 + 90_000: Point(
                T0 + 90_000, 180.0, None, 7000.0, None, "Transaction.End", None, -5.0, T0 + 90_099
            ),
        }
    )
    s.evses[0] = EvseSeries()  # a main meter with nothing held now
    for i in range(30):
        s.messages.add(f"CP-1-{i}", T0 + i)
    return s


def test_a_state_round_trips_packed_and_is_smaller_than_as_json() -> None:
    original = state()
    raw = codec.encode_charger(original)
    assert raw[0] == charger_codec.VERSION
    back = codec.decode_charger(raw)
    assert back == original and list(back.evses) == list(original.evses)
    assert [p.context for p in back.evses[2].points.values()] == [
        "Transaction.Begin",
        "Sample.Periodic",
        "Transaction.End",
    ]
    assert back.evses[2].points[T0 + 60_000].export_w == 0.0  # a zero is a value, not an absence
    assert back.evses[1].points[T0].vi_power_w is None
    assert len(raw) < 0.6 * len(codec.charger_json(original))


def test_decoded_contexts_are_one_string_each() -> None:
    a = codec.decode_charger(codec.encode_charger(state()))
    b = codec.decode_charger(codec.encode_charger(state()))
    ctx = {id(p.context) for s in (a, b) for e in s.evses.values() for p in e.points.values()}
    assert len(ctx) == 3


def test_the_empty_state_round_trips() -> None:
    assert codec.decode_charger(codec.encode_charger(ChargerState())) == ChargerState()
    assert codec.decode_charger(None) == ChargerState()


def test_values_written_as_json_are_still_read() -> None:
    original = state()
    assert codec.decode_charger(codec.charger_json(original)) == original


def test_a_state_that_cannot_be_packed_is_written_as_json() -> None:
    s = ChargerState()
    s.evses[1] = EvseSeries({T0 + i: Point(T0 + i, float(i), context=f"Vendor.{i}") for i in range(300)})
    raw = codec.encode_charger(s)  # 300 contexts: more than a byte names
    assert raw[:1] == b"{" and codec.decode_charger(raw) == s


def test_version_1_with_the_ids_receive_times_in_milliseconds_is_still_read() -> None:
    original = state()
    raw = codec.encode_charger(original)
    ids = len(original.messages)
    digests_end = len(raw) - 4 * ids
    times_ms = b"".join((T0 + i).to_bytes(8, "little") for i in range(ids))  # as add() got them
    old = bytes([1]) + raw[1:digests_end] + times_ms
    assert codec.decode_charger(old) == original
    with pytest.raises(ValueError, match="version 3"):
        charger_codec.decode(bytes([3]) + raw[1:])
