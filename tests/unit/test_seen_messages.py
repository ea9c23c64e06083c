"""Message ids seen recently: membership, forgetting by receive time, encodings."""

from __future__ import annotations

from array import array

import orjson

from agents import codec
from agents.domain.charger import ChargerState
from agents.domain.seen_messages import SeenMessages

T0 = 1_795_521_600_000


def test_an_id_is_forgotten_within_a_second_after_its_receive_time_never_before() -> None:
    seen = SeenMessages()
    seen.add("m-1", T0 + 1)  # kept as T0 + 1 s
    for before in (T0 - 5_000, T0, T0 + 1, T0 + 2, T0 + 1_000):
        seen.forget_received_before(before)
        assert "m-1" in seen, before
    seen.forget_received_before(T0 + 1_001)
    assert "m-1" not in seen


def test_receive_times_packed_as_64_bit_milliseconds_are_still_read() -> None:
    seen = SeenMessages()
    seen.add("m-1", T0 + 10)
    seen.add("m-2", T0 + 20_000)
    digests, times = seen.packed()
    assert len(times) == 4 * len(seen)
    old_times = array("q", [T0 + 10, T0 + 20_000]).tobytes()  # little-endian here
    assert SeenMessages.from_packed(digests, old_times) == seen
    assert SeenMessages.from_packed(digests, times) == seen


def test_ids_are_seen_until_forgotten_by_receive_time() -> None:
    seen = SeenMessages()
    for i in range(200):
        seen.add(f"CP-1-{i}", T0 + (i * 37) % 200 * 1_000)  # receive times not in order
    assert len(seen) == 200 and "CP-1-5" in seen and "CP-1-200" not in seen and 5 not in seen
    seen.forget_received_before(T0 + 100_000)
    kept = {f"CP-1-{i}" for i in range(200) if (i * 37) % 200 >= 100}
    assert len(seen) == len(kept) == 100
    assert all((f"CP-1-{i}" in seen) == (f"CP-1-{i}" in kept) for i in range(200))


def test_a_digest_found_off_its_boundary_is_not_a_match() -> None:
    seen = SeenMessages()
    seen.add("a", 1)
    seen.add("b", 2)
    raw = bytes(seen._digests)
    # Ids whose digest would straddle two stored ones are absent; search on from there.
    straddling = raw[4:12]
    assert seen._index(straddling) == -1
    assert seen._index(raw[8:16]) == 8


def test_the_charger_state_round_trips_and_reads_the_old_id_map() -> None:
    state = ChargerState()
    state.messages.add("m-1", 10)
    state.messages.add("m-2", 20)
    assert codec.decode_charger(codec.encode_charger(state)) == state
    old = orjson.dumps({"e": {}, "t": {}, "m": {"m-1": 10, "m-2": 20}})  # written before digests
    assert codec.decode_charger(old).messages == state.messages


def test_receive_times_written_as_a_list_of_numbers_are_still_read() -> None:
    seen = SeenMessages()
    seen.add("m-1", 1_795_521_600_000)
    seen.add("m-2", 1_795_521_610_000)
    digests, _ = seen.to_doc()
    assert SeenMessages.from_doc([digests, [1_795_521_600_000, 1_795_521_610_000]]) == seen
    assert SeenMessages.from_doc(orjson.loads(orjson.dumps(seen.to_doc()))) == seen
