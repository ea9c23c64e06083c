"""Binding values to prepared statements, the driver's way at about a quarter of its cost.

cassandra-driver's ``PreparedStatement.bind`` makes a ``ColDesc`` tuple for every value to
ask the column-encryption policy about it (even with no policy), and serialises timestamps
through ``calendar.timegm(v.utctimetuple())`` and dates through ``util.Date``. Binding was
~12 % of a worker's CPU with Cassandra on (bench/RESULTS.md), most of it those three. A
``Binder`` takes each column's serialiser once, serialises datetimes and dates from their
distance to the epoch (the same bytes: tests/unit/test_cql_bind.py), and hands anything
else it cannot take to the driver's own ``bind`` (an unexpected value, a short sequence,
an encryption policy), whose result or error is then the driver's.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cassandra.cqltypes import DateType, SimpleDateType
from cassandra.query import BoundStatement

_INT64 = struct.Struct(">q").pack
_UINT32 = struct.Struct(">I").pack
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # the driver takes a naive datetime as UTC
_US = timedelta(microseconds=1)
_EPOCH_DAY = date(1970, 1, 1).toordinal()

Serializer = Callable[[Any, int], bytes]


def serialize_timestamp(v: Any, protocol_version: int) -> bytes:
    """A CQL timestamp: milliseconds since the epoch, truncated towards it as the driver
    truncates (before 1970 too)."""
    if type(v) is not datetime:
        return bytes(DateType.serialize(v, protocol_version))
    us = (v - (_NAIVE_EPOCH if v.tzinfo is None else _EPOCH)) // _US
    return _INT64(us // 1000 if us >= 0 else -(-us // 1000))


def serialize_date(v: Any, protocol_version: int) -> bytes:
    """A CQL date: days since the epoch, offset by 2**31."""
    if type(v) is not date:
        return bytes(SimpleDateType.serialize(v, protocol_version))
    return _UINT32(v.toordinal() - _EPOCH_DAY + SimpleDateType.EPOCH_OFFSET_DAYS)


_FAST: dict[type, Serializer] = {DateType: serialize_timestamp, SimpleDateType: serialize_date}


class Binder:
    """``bind(values)`` as ``prepared.bind(values)`` for a full sequence of values."""

    __slots__ = ("_proto", "_serializers", "prepared")

    def __init__(self, prepared: Any) -> None:
        self.prepared = prepared
        self._proto: int = prepared.protocol_version
        columns = prepared.column_metadata or []
        self._serializers: list[Serializer] | None = (
            None
            if prepared.column_encryption_policy is not None
            else [_FAST.get(c.type, c.type.serialize) for c in columns]
        )

    def bind(self, values: Sequence[Any]) -> Any:
        serializers, proto = self._serializers, self._proto
        if serializers is None or len(values) != len(serializers):
            return self.prepared.bind(values)
        try:
            pairs = zip(serializers, values, strict=True)
            serialized = [None if v is None else f(v, proto) for f, v in pairs]
        except Exception:  # the driver's bind says which column and why
            return self.prepared.bind(values)
        statement = BoundStatement(self.prepared)
        statement.raw_values = values
        statement.values = serialized
        return statement
