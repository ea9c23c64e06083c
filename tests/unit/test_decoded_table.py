"""DecodedTable: decoded once, encoded once per commit (flush), never ahead of what its
events settled."""

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


class Table(dict[bytes, bytes]):
    """The part of a HeldTable a view uses: a mapping, the changelog partition of the
    current event's key, and values put in at a commit (with their partition)."""

    def __init__(self) -> None:
        super().__init__()
        self.ready: dict[bytes, tuple[int | None, bytes]] = {}

    def partition_for_key(self, key: bytes) -> int | None:
        return 3

    def put_settled(self, key: bytes, value: bytes, partition: int | None) -> None:
        self[key] = value
        self.ready[key] = (partition, value)


def make() -> tuple[DecodedTable[list[int]], Table, Counted]:
    table = Table()
    codec = Counted()
    return DecodedTable(table, codec.decode, codec.encode), table, codec


def test_values_set_are_encoded_into_the_table_once_per_flush_and_not_decoded_again() -> None:
    view, table, codec = make()
    encodes = []
    view._encode = lambda v: encodes.append(v) or codec.encode(v)  # type: ignore[func-returns-value]
    for n in range(3):  # three events
        value = view.get(b"k")
        value.append(n)
        view.set(b"k", value)
        view.settle()
    assert b"k" not in table and view.known_keys() == [b"k"]  # pending: read back, not encoded
    assert view.peek(b"k") == [0, 1, 2] and not encodes
    view.flush()  # a commit
    assert table[b"k"] == b"[0,1,2]" and table.ready == {b"k": (3, b"[0,1,2]")}
    assert view.peek(b"k") == [0, 1, 2]
    assert codec.decodes == 1 and len(encodes) == 1


def test_a_change_not_set_in_its_event_is_dropped_when_it_settles() -> None:
    view, table, _ = make()
    view.set(b"k", [1])
    view.settle()
    view.flush()
    view.get(b"k").append(2)  # the event fails before it sets the value
    view.settle()
    assert view.peek(b"k") == [1]
    assert table[b"k"] == b"[1]"


def test_a_change_not_set_to_a_pending_value_stays_in_it() -> None:
    """The documented exception: no bytes to go back to before the flush."""
    view, table, _ = make()
    view.set(b"k", [1])
    view.settle()
    view.get(b"k").append(2)  # a bug of ours fails the event half-way
    view.settle()
    view.flush()
    assert table[b"k"] == b"[1,2]" and not view.spoiled


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
    view.flush()
    table[b"k"] = b"[9]"  # recovered from the changelog, written by another worker
    assert view.get(b"k") == [9]
    assert codec.decodes == 1  # the set value was kept without a decode; this is the first


def test_forget_drops_every_value_but_the_pending_ones() -> None:
    view, table, codec = make()
    view.set(b"k", [1])
    view.settle()
    view.flush()
    view.set(b"p", [2])
    view.settle()
    view.forget()  # partitions revoked: the hand-over flushes what is pending
    assert view.peek(b"k") == [1]
    assert codec.decodes == 1
    view.flush()
    assert table[b"p"] == b"[2]"


def test_an_event_cancelled_with_a_pending_value_in_hand_spoils_the_view() -> None:
    view, _, _ = make()
    view.set(b"p", [1])
    view.settle()
    view.set(b"k", [5])
    view.settle()
    view.flush()
    view.get(b"k").append(6)  # not pending: dropped, decoded again from the table
    view.abandon()
    assert view.peek(b"k") == [5] and not view.spoiled
    view.set(b"p", [1])
    view.settle()
    view.get(b"p").append(2)  # pending: half-changed, and no bytes to go back to
    view.abandon()
    assert view.spoiled


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
    view.flush()
    assert table[b"k"] == b"[0,1,2]" and len(encodes) == 1


def test_a_value_set_then_read_again_for_change_is_still_written() -> None:
    view, table, _ = make()
    view.set(b"k", [1])
    view.get(b"k").append(2)
    view.settle()
    view.flush()
    assert table[b"k"] == b"[1,2]"
