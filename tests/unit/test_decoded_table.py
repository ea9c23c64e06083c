"""DecodedTable: decoded once, never ahead of the table's bytes."""

from __future__ import annotations

import orjson

from agents.decoded_table import DecodedTable


class Counted:
    """A JSON list codec that counts its decodes."""

    def __init__(self) -> None:
        self.decodes = 0

    def decode(self, key: bytes, raw: bytes | None) -> list[int]:
        self.decodes += 1
        return orjson.loads(raw) if raw else []

    def encode(self, value: list[int]) -> bytes:
        return orjson.dumps(value)


def make() -> tuple[DecodedTable[list[int]], dict[bytes, bytes], Counted]:
    table: dict[bytes, bytes] = {}
    codec = Counted()
    return DecodedTable(table, codec.decode, codec.encode), table, codec


def test_a_value_set_is_encoded_into_the_table_and_not_decoded_again() -> None:
    view, table, codec = make()
    for n in range(3):  # three events
        value = view.get(b"k")
        value.append(n)
        view.set(b"k", value)
        view.settle()
    assert table[b"k"] == b"[0,1,2]"
    assert view.peek(b"k") == [0, 1, 2]
    assert codec.decodes == 1


def test_a_change_not_set_in_its_event_is_dropped_when_it_settles() -> None:
    view, table, _ = make()
    view.set(b"k", [1])
    view.settle()
    view.get(b"k").append(2)  # the event fails before it sets the value
    view.settle()
    assert view.peek(b"k") == [1]
    assert table[b"k"] == b"[1]"


def test_a_value_peeked_is_kept_and_not_dropped() -> None:
    view, table, codec = make()
    table[b"k"] = b"[5]"
    assert view.peek(b"k") == [5]
    view.settle()
    assert view.peek(b"k") == [5]
    assert codec.decodes == 1


def test_bytes_changed_under_it_are_decoded_again() -> None:
    view, table, codec = make()
    view.set(b"k", [1])
    view.settle()
    table[b"k"] = b"[9]"  # recovered from the changelog, written by another worker
    assert view.get(b"k") == [9]
    assert codec.decodes == 1  # the set value was kept without a decode; this is the first


def test_forget_drops_every_value() -> None:
    view, _, codec = make()
    view.set(b"k", [1])
    view.settle()
    view.forget()
    assert view.peek(b"k") == [1]
    assert codec.decodes == 1


def test_a_value_set_many_times_in_an_event_is_encoded_once_when_it_settles() -> None:
    view, table, codec = make()
    encodes = []
    view._encode = lambda v: encodes.append(v) or codec.encode(v)  # type: ignore[func-returns-value]
    value = view.get(b"k")
    for n in range(3):
        value.append(n)
        view.set(b"k", value)
        assert view.peek(b"k") == value  # read back within the event
    assert b"k" not in table and view.known_keys() == [b"k"]
    view.settle()
    assert table[b"k"] == b"[0,1,2]" and len(encodes) == 1


def test_a_value_set_then_read_again_for_change_is_still_written() -> None:
    view, table, _ = make()
    view.set(b"k", [1])
    view.get(b"k").append(2)
    view.settle()
    assert table[b"k"] == b"[1,2]"
