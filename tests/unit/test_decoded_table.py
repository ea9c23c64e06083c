"""DecodedTable: decoded once, encoded once per commit (take, then encode_taken while
events go on), never ahead of what its events settled."""

from __future__ import annotations

from collections.abc import Callable

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
    current event's key, and values put in at a commit; ``ready``: the records sent."""

    def __init__(self) -> None:
        super().__init__()
        self.ready: dict[bytes, tuple[int | None, bytes]] = {}
        self.on_recovered: list[Callable[[list[bytes]], None]] = []

    def recover(self, key: bytes, value: bytes) -> None:
        """As HeldTable.apply_changelog_batch: a value read from the changelog."""
        self[key] = value
        for callback in self.on_recovered:
            callback([key])

    def partition_for_key(self, key: bytes) -> int | None:
        return 3

    def put_encoded(self, key: bytes, value: bytes) -> None:
        self[key] = value


def commit(view: DecodedTable[list[int]], table: Table) -> None:
    """What held_state.send_held_state does with a view, in one go."""
    view.take()
    assert view.encode_taken() == 0
    table.ready.update(view.take_encoded())


def make() -> tuple[DecodedTable[list[int]], Table, Counted]:
    table = Table()
    codec = Counted()
    return DecodedTable(table, codec.decode, codec.encode), table, codec


def test_values_set_are_encoded_into_the_table_once_per_commit_and_not_decoded_again() -> None:
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
    commit(view, table)  # a commit
    assert table[b"k"] == b"[0,1,2]" and table.ready == {b"k": (3, b"[0,1,2]")}
    assert view.peek(b"k") == [0, 1, 2]
    assert codec.decodes == 1 and len(encodes) == 1


def test_a_change_not_set_in_its_event_is_dropped_when_it_settles() -> None:
    view, table, _ = make()
    view.set(b"k", [1])
    view.settle()
    commit(view, table)
    view.get(b"k").append(2)  # the event fails before it sets the value
    view.settle()
    assert view.peek(b"k") == [1]
    assert table[b"k"] == b"[1]"


def test_a_change_not_set_to_a_pending_value_stays_in_it() -> None:
    """The documented exception: no bytes to go back to before the commit."""
    view, table, _ = make()
    view.set(b"k", [1])
    view.settle()
    view.get(b"k").append(2)  # a bug of ours fails the event half-way
    view.settle()
    commit(view, table)
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
    commit(view, table)
    table.recover(b"k", b"[9]")  # written by another worker
    assert view.get(b"k") == [9]
    assert codec.decodes == 1  # the set value was kept without a decode; this is the first


def test_forget_drops_every_value_but_the_pending_ones() -> None:
    view, table, codec = make()
    view.set(b"k", [1])
    view.settle()
    commit(view, table)
    view.set(b"p", [2])
    view.settle()
    view.forget()  # partitions revoked: the hand-over commits what is pending
    assert view.peek(b"k") == [1]
    assert codec.decodes == 1
    commit(view, table)
    assert table[b"p"] == b"[2]"


def test_an_event_cancelled_with_a_pending_value_in_hand_spoils_the_view() -> None:
    view, table, _ = make()
    view.set(b"p", [1])
    view.settle()
    view.set(b"k", [5])
    view.settle()
    commit(view, table)
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
    commit(view, table)
    assert table[b"k"] == b"[0,1,2]" and len(encodes) == 1


def test_a_value_set_then_read_again_for_change_is_still_written() -> None:
    view, table, _ = make()
    view.set(b"k", [1])
    view.get(b"k").append(2)
    view.settle()
    commit(view, table)
    assert table[b"k"] == b"[1,2]"


def test_a_taken_value_changed_before_it_is_encoded_goes_out_as_taken() -> None:
    """Events go on while a commit encodes what it took: one that changes a taken value
    first encodes it as the commit took it; its change goes to the next commit."""
    view, table, codec = make()
    view.set(b"k", [1])
    view.set(b"j", [7])
    view.settle()
    view.take()  # the commit, with no event half-way
    assert view.peek(b"k") == [1] and sorted(view.known_keys()) == [b"j", b"k"]
    view.get(b"k").append(2)  # an event meanwhile
    view.set(b"k", view.peek(b"k"))
    view.settle()
    assert view.encode_taken() == 0
    assert view.take_encoded() == {b"k": (3, b"[1]"), b"j": (3, b"[7]")}
    assert table[b"k"] == b"[1]" and view.peek(b"k") == [1, 2]
    commit(view, table)  # the next commit
    assert table.ready == {b"k": (3, b"[1,2]")}
    assert codec.decodes == 0


def test_taken_values_are_encoded_in_chunks() -> None:
    view, table, _ = make()
    for n in range(5):
        view.set(str(n).encode(), [n])
    view.settle()
    view.take()
    assert view.encode_taken(2) == 3 and len(table) == 2
    assert view.encode_taken(2) == 1
    assert view.encode_taken(2) == 0 and len(view.take_encoded()) == 5


def test_an_event_cancelled_with_a_taken_value_in_hand_does_not_spoil_the_commit() -> None:
    view, _, codec = make()
    view.set(b"k", [1])
    view.settle()
    view.take()
    view.get(b"k").append(2)  # encoded as taken first
    view.abandon()
    assert not view.spoiled and view.encode_taken() == 0
    assert view.take_encoded() == {b"k": (3, b"[1]")}
    assert view.peek(b"k") == [1] and codec.decodes == 1  # decoded again from the commit's bytes


def test_a_taken_value_set_anew_without_a_get_goes_out_as_taken() -> None:
    view, table, _ = make()
    view.set(b"k", [1])
    view.settle()
    view.take()
    view.set(b"k", [2])  # a new value, not the taken one changed
    view.settle()
    assert view.encode_taken() == 0 and view.take_encoded() == {b"k": (3, b"[1]")}
    commit(view, table)
    assert table.ready == {b"k": (3, b"[2]")}


def test_values_taken_stay_through_a_revoke_and_a_failed_commit_leaves_them_to_the_next() -> None:
    view, table, _ = make()
    view.set(b"k", [1])
    view.set(b"j", [2])
    view.settle()
    view.take()
    view.forget()  # partitions revoked while a commit encodes
    assert view.peek(b"k") == [1]
    assert view.encode_taken(1) == 1  # the commit fails here: one encoded, one still taken
    view.set(b"n", [3])
    view.settle()
    commit(view, table)  # the next commit sends all three
    assert table.ready == {b"k": (3, b"[1]"), b"j": (3, b"[2]"), b"n": (3, b"[3]")}


def bounded(keep: int) -> tuple[DecodedTable[list[int]], Table, Counted]:
    table = Table()
    codec = Counted()
    return DecodedTable(table, codec.decode, codec.encode, keep=keep), table, codec


def test_a_bounded_view_keeps_the_most_recently_read_values_decoded() -> None:
    view, table, codec = bounded(2)
    for key in (b"a", b"b", b"c"):
        table[key] = orjson.dumps([key[0]])
    a, _ = view.peek(b"a"), view.peek(b"b")
    view.peek(b"a")  # read again: now b is the least recent
    view.peek(b"c")
    view.settle()
    assert codec.decodes == 3
    assert view.peek(b"a") is a and codec.decodes == 3
    assert view.peek(b"b") == [ord("b")] and codec.decodes == 4  # it went: decoded again


def test_a_bounded_view_drops_nothing_an_event_has_in_hand() -> None:
    # An event may touch more keys than the view keeps (a batch of many chargers): each key
    # it reads twice must give the same object, and every value it set is committed.
    view, table, codec = bounded(2)
    first = {key: view.get(key) for key in (b"a", b"b", b"c", b"d")}
    for key, value in first.items():
        assert view.get(key) is value
        value.append(1)
        view.set(key, value)
    view.settle()
    commit(view, table)
    assert {k: orjson.loads(v) for k, (_, v) in table.ready.items()} == {k: [1] for k in first}
    assert len(view._kept) <= 4  # encoded at the commit; trimmed when the next event settles
    view.settle()
    assert len(view._kept) == 2
    decodes = codec.decodes
    assert view.peek(b"a") == [1] and codec.decodes == decodes  # encoded last: still kept
    assert view.peek(b"c") == [1] and codec.decodes == decodes + 1  # went: from the table's bytes
