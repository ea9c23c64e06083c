"""Binder gives the bytes the driver's own bind gives (no server: a prepared statement is
built from its column types, as the driver builds it from Cassandra's answer)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from cassandra.cqltypes import (
    BooleanType,
    DateType,
    DoubleType,
    Int32Type,
    SetType,
    SimpleDateType,
    UTF8Type,
)
from cassandra.protocol import ColumnMetadata
from cassandra.query import PreparedStatement

from agents.sinks.cql_bind import Binder, serialize_date, serialize_timestamp

TYPES = [
    ("charger_id", UTF8Type),
    ("evse_id", Int32Type),
    ("day", SimpleDateType),
    ("ts", DateType),
    ("power_w", DoubleType),
    ("late", BooleanType),
    ("quirks", SetType.apply_parameters([UTF8Type])),
]


def prepared() -> PreparedStatement:
    columns = [ColumnMetadata("ks", "t", name, t) for name, t in TYPES]
    return PreparedStatement(columns, b"id", [0, 1, 2], "INSERT ...", "ks", 4, [], None)


def random_datetime(rng: random.Random) -> datetime:
    ts = datetime(1900, 1, 1) + timedelta(microseconds=rng.randrange(0, 6_000_000_000_000_000))
    zone = rng.choice([None, UTC, timezone(timedelta(hours=rng.randrange(-12, 14)))])
    return ts.replace(tzinfo=zone)


def test_timestamps_and_dates_serialise_as_the_driver_does() -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        ts = random_datetime(rng)
        assert serialize_timestamp(ts, 4) == DateType.serialize(ts, 4), ts
        assert serialize_date(ts.date(), 4) == SimpleDateType.serialize(ts.date(), 4), ts
    just_before = datetime(1969, 12, 31, 23, 59, 59, 999_500)  # truncated towards the epoch
    assert serialize_timestamp(just_before, 4) == DateType.serialize(just_before, 4)
    # What is not a datetime or a date goes to the driver's serialiser.
    assert serialize_timestamp(1_764_892_800_000, 4) == DateType.serialize(1_764_892_800_000, 4)
    assert serialize_date(2**31 + 5, 4) == SimpleDateType.serialize(2**31 + 5, 4)
    assert serialize_timestamp(date(2026, 12, 5), 4) == DateType.serialize(date(2026, 12, 5), 4)


@pytest.mark.parametrize(
    "values",
    [
        ("CP-1", 1, date(2026, 12, 5), datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=UTC), 7.5, False, {"a"}),
        ("CP-1", 2, date(2026, 12, 5), datetime(2026, 12, 5, 1, 2, 3), None, None, None),
        ("CP-1", 3, date(2026, 12, 5), datetime(2026, 12, 5, 1, 2, 3)),  # short: the rest unset
    ],
)
def test_a_bound_statement_is_the_drivers(values: tuple[Any, ...]) -> None:
    p = prepared()
    ours, theirs = Binder(p).bind(values), p.bind(values)
    assert ours.values == theirs.values
    assert ours.raw_values == theirs.raw_values
    assert ours.routing_key == theirs.routing_key
    assert ours.prepared_statement is p


def test_a_value_the_column_cannot_take_fails_as_in_the_driver() -> None:
    values = ("CP-1", "one", date(2026, 12, 5), datetime(2026, 12, 5), 1.0, True, None)
    with pytest.raises(TypeError, match='column "evse_id"'):
        Binder(prepared()).bind(values)
