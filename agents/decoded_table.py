"""Table values kept decoded between events, and encoded once per commit.

A site's whole state (open buckets, availability timeline, alert) is one JSON value, and
decoding it for every contribution was the largest single cost of stage 2 (py-spy,
bench/RESULTS.md). Here a value is decoded when first read and kept; later reads return
the same object without reading the table, until the table says it recovered other bytes
for the key from its changelog (``on_recovered``: a restore, a standby copy, a partition
coming back) or the view is told to ``forget``. The table's bytes live in its store (off
the Python heap with agents/spill_store.py): a kept value does not hold them too.

The domain code changes values in place. A value read with ``get`` must be written back
with ``set`` in the same event; one that was not (the event failed half-way, or changed
nothing worth keeping) is dropped when the event settles, and decoded again from the
table's bytes when next read. ``peek`` is for reads that change nothing.

A value ``set`` is encoded into the table once per commit, however often events set it
meanwhile: under live traffic a batch holds a few records, and encoding every site a batch
touched, at the end of every batch, was 15 % of the worker (py-spy, bench/RESULTS.md).
When an event settles, its values become pending (with the changelog partition of its
event). A commit ``take``s them while no event is half-way (agents/held_state.py) and
encodes them afterwards, events going on meanwhile (``encode_taken``): encoding them with
events stopped was most of the commit's pause, a quarter of a second every commit under
live traffic (bench/RESULTS.md). A taken value is encoded before an event may change it:
``get`` encodes it first if the commit has not got to it yet. Until encoded, reads return
the object. Read keys through ``known_keys``.

Two consequences of sharing the pending object with the events that change it:
- an event that fails half-way after ``get`` of a pending value leaves what it changed in
  it (the bytes to go back to do not exist yet); that is a bug of ours, and its input is
  dead-lettered. A value not pending is dropped as before;
- an event cancelled half-way (the worker stopping) may leave a pending value half-changed:
  the view is then ``spoiled`` and nothing more of it may be committed (the input since the
  last commit is processed again after the restart).

With ``keep`` set, at most that many values stay decoded between events (the least
recently read go first, when an event settles; the table's bytes stay): a filled charger
state is ~4x larger decoded than encoded (bench/RESULTS.md), too much to hold for every
charger of a large fleet. A value read again after it went is decoded again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, Generic, TypeVar

V = TypeVar("V")


Records = dict[bytes, tuple[int | None, bytes]]  # key -> (changelog partition, encoded value)


class DecodedTable(Generic[V]):
    def __init__(
        self,
        table: Any,  # a HeldTable of bytes -> bytes (or any mapping with get, item assignment,
        # partition_for_key, put_encoded and an on_recovered list of callbacks)
        decode: Callable[[bytes, bytes | None], V],
        encode: Callable[[V], bytes],
        *,
        keep: int | None = None,  # values kept decoded between events; None: all
    ) -> None:
        self.table = table
        self._decode, self._encode = decode, encode
        self._keep = keep
        # key -> decoded, least recently read first when bounded
        self._kept: OrderedDict[bytes, V] = OrderedDict()
        table.on_recovered.append(self._recovered)
        self._unsaved: set[bytes] = set()  # read with get in this event and not set since
        self._dirty: dict[bytes, V] = {}  # set in this event
        self._pending: dict[bytes, tuple[int | None, V]] = {}  # settled: taken at the next commit
        self._taken: dict[bytes, tuple[int | None, V]] = {}  # taken by a commit, not encoded yet
        self._encoded: Records = {}  # taken and encoded: the commit's changelog records
        self.spoiled = False

    def peek(self, key: bytes) -> V:
        """The value, to read only."""
        if key in self._dirty:
            return self._dirty[key]
        if key in self._pending:
            return self._pending[key][1]
        if key in self._taken:
            return self._taken[key][1]
        if key in self._kept:
            if self._keep is not None:
                self._kept.move_to_end(key)
            return self._kept[key]
        value = self._decode(key, self.table.get(key))
        self._kept[key] = value
        return value

    def get(self, key: bytes) -> V:
        """The value, to change in place and ``set`` before the event ends."""
        if key in self._taken:  # the commit's bytes first, before this event changes it
            self._encode_one(key)
        if key not in self._dirty:
            self._unsaved.add(key)
        return self.peek(key)

    def set(self, key: bytes, value: V) -> None:
        if key in self._taken:
            self._encode_one(key)
        self._dirty[key] = value
        self._unsaved.discard(key)

    def known_keys(self) -> list[bytes]:
        """The table's keys and those set since the last commit."""
        return list(dict.fromkeys([*self.table.keys(), *self._taken, *self._pending, *self._dirty]))

    def settle(self) -> None:
        """The event has ended: the values it set become pending (for the changelog
        partition of this event); values it read for change and did not set are dropped."""
        for key, value in self._dirty.items():
            self._pending[key] = (self.table.partition_for_key(key), value)
        self._dirty.clear()
        for key in self._unsaved:
            self._kept.pop(key, None)
        self._unsaved.clear()
        if self._keep is not None:  # between events: none is in an event's hands
            while len(self._kept) > self._keep:
                self._kept.popitem(last=False)

    def take(self) -> None:
        """At a commit, with no event half-way: the pending values are the commit's now
        (with any a failed commit left taken or encoded: this one sends them)."""
        self._taken.update(self._pending)  # no key is in both: get and set encode a taken one
        self._pending = {}

    def encode_taken(self, limit: int | None = None) -> int:
        """Encode up to ``limit`` of the taken values (all by default) into the table; how
        many are left. Events may go on between two calls: they encode what they touch."""
        count = len(self._taken) if limit is None else min(limit, len(self._taken))
        for key in list(islice(self._taken, count)):
            self._encode_one(key)
        return len(self._taken)

    def _encode_one(self, key: bytes) -> None:
        partition, value = self._taken[key]
        raw = self._encode(value)  # taken until encoded: an encoder that raises loses nothing
        del self._taken[key]
        self.table.put_encoded(key, raw)  # the table's value now; sent with the commit's records
        self._kept[key] = value
        self._encoded[key] = (partition, raw)

    def take_encoded(self) -> Records:
        """Once every taken value is encoded: the commit's changelog records."""
        assert not self._taken, "encode_taken first"
        encoded, self._encoded = self._encoded, {}
        return encoded

    def abandon(self) -> None:
        """The event was cancelled half-way: what it read or set is decoded afresh next
        time, and if it had a pending value in hand, nothing more is committed from here."""
        touched = self._unsaved | self._dirty.keys()
        if touched & self._pending.keys():
            self.spoiled = True
        for key in touched:
            self._kept.pop(key, None)
        self._unsaved.clear()
        self._dirty.clear()

    def _recovered(self, keys: Iterable[bytes]) -> None:
        """The table holds bytes from its changelog for these keys now: decode them anew.
        (Recovery runs between events; the keys of a standby copy are never kept.)"""
        for key in keys:
            self._kept.pop(key, None)

    def forget(self) -> None:
        """Drop every kept value (partitions revoked: what comes back is read again). The
        pending and taken ones stay: called after the hand-over's commit, there are some only
        if it failed, and the next commit sends them."""
        self._kept.clear()
        self._unsaved.clear()
        self._dirty.clear()
