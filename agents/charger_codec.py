"""A charger's stage-1 state <-> bytes, as packed columns instead of JSON.

The state is mostly readings (~47 per EVSE once filled at 10-second samples), and as JSON
each was a list of nine values: 6.4 KB per connector, held in the table beside the decoded
state. Here each EVSE's readings are columns of 64-bit little-endian numbers (timestamps and
receive times as ints, the six optional quantities as doubles, each present only if any
reading has it, with a byte per reading saying which are set when some are not) and one
byte per reading naming its context in a table of the state's contexts. What is not a
column (transactions, contexts, the column layout) is a short JSON head; the seen-message
digests and times follow, packed already. A filled charger: 4,961 bytes instead of 9,458,
decoded in 33 instead of 55 us, encoded in 34 instead of 25 us (gathering columns is
Python); a charger with a few readings costs ~2-3 us more either way (bench/RESULTS.md).

Layout: version byte (2), head length (uint32 LE), head JSON, then per EVSE: timestamps,
receive times, context indexes, and for each present quantity in ``FLOATS`` order its
set-flags (if mixed) and values; then the digests and the receive times of the ids
(SeenMessages.packed: 32-bit seconds in version 2, 64-bit milliseconds in version 1, which
is still read; a worker of version 1 refuses version 2 rather than misread it).

Values written before (JSON, first byte ``{``) are still read: codec.decode_charger.
A state that cannot be packed (more than 256 contexts, a timestamp that is not an int) is
written as JSON: correct, only larger.
"""

from __future__ import annotations

import sys
from itertools import repeat
from operator import attrgetter
from struct import Struct, error, pack, unpack_from
from typing import Any

import orjson

from .domain.charger import ChargerState
from .domain.power import EvseSeries, Point
from .domain.seen_messages import SeenMessages

VERSION = 2
READS = frozenset({1, VERSION})  # 1: the ids' receive times as 64-bit milliseconds
_HEAD = Struct("<BI")  # version, length of the JSON head
FLOATS = ("energy_wh", "power_w", "vi_power_w", "interval_wh", "export_wh", "export_w")
_GETTERS = [attrgetter(name) for name in FLOATS]
_CONTEXT = attrgetter("context")
_RARE = attrgetter(*FLOATS[2:])  # V x I, interval energy, V2G export: most meters send none
_NO_RARE: Any = (None,) * len(FLOATS[2:])


class NotPackable(ValueError):
    """The state has a value no column takes: write it as JSON."""


def encode(state: ChargerState) -> bytes:
    contexts: dict[str, int] = {}
    evses: list[list[int]] = []
    body: list[bytes] = []
    try:
        for evse, series in state.evses.items():
            points = series.ordered()
            n = len(points)
            body.append(pack(f"<{2 * n}q", *[p.ts_ms for p in points], *[p.received_at_ms for p in points]))
            names = list(map(_CONTEXT, points))
            for name in dict.fromkeys(names):
                contexts.setdefault(name, len(contexts))
            body.append(bytes(map(contexts.__getitem__, names)))
            present = mixed = 0
            # One pass to skip the four quantities most meters never send.
            rare = list(map(_RARE, points)).count(_NO_RARE) != n
            for bit, getter in enumerate(_GETTERS if rare else _GETTERS[:2]):
                values = list(map(getter, points))
                missing = values.count(None)
                if missing == n:
                    continue
                present |= 1 << bit
                if missing:
                    mixed |= 1 << bit
                    body.append(bytes([v is not None for v in values]))
                    values = [0.0 if v is None else v for v in values]
                body.append(pack(f"<{n}d", *values))
            evses.append([evse, n, present, mixed])
    except (error, ValueError, TypeError) as exc:  # bytes() of an index > 255 is a ValueError
        raise NotPackable(str(exc)) from exc
    digests, times = state.messages.packed()
    head = orjson.dumps({"e": evses, "t": state.tx_evse, "c": list(contexts), "s": len(digests)})
    return b"".join([_HEAD.pack(VERSION, len(head)), head, *body, digests, times])


def decode(raw: bytes) -> ChargerState:
    version, head_len = _HEAD.unpack_from(raw)
    if version not in READS:
        raise ValueError(f"charger state version {version}, not one of {sorted(READS)}")
    pos = _HEAD.size + head_len
    head = orjson.loads(memoryview(raw)[_HEAD.size : pos])
    contexts = [sys.intern(c) for c in head["c"]]  # one string per context in the worker
    evses: dict[int, EvseSeries] = {}
    for evse, n, present, mixed in head["e"]:
        times = unpack_from(f"<{2 * n}q", raw, pos)
        ts, received = times[:n], times[n:]
        pos += 16 * n
        context = [contexts[i] for i in raw[pos : pos + n]]
        pos += n
        columns: list[Any] = []
        for bit in range(len(FLOATS)):
            if not present >> bit & 1:
                columns.append(repeat(None))
                continue
            flags = None
            if mixed >> bit & 1:
                flags, pos = raw[pos : pos + n], pos + n
            values = unpack_from(f"<{n}d", raw, pos)
            pos += 8 * n
            columns.append(
                values if flags is None else [v if f else None for v, f in zip(values, flags, strict=True)]
            )
        energy, power, vi, interval, export, export_w = columns
        points = map(Point, ts, energy, power, vi, interval, context, export, export_w, received)
        evses[evse] = EvseSeries(dict(zip(ts, points, strict=True)))
    digests_end = pos + head["s"]
    messages = SeenMessages.from_packed(raw[pos:digests_end], raw[digests_end:])
    return ChargerState(evses=evses, tx_evse=head["t"], messages=messages)
