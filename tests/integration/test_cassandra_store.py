"""CassandraStore against the real local Cassandra: what an evse_samples row ends with
when its reading and its power are written, revised and re-sent in awkward orders."""

from __future__ import annotations

import asyncio
import gc
import time
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY

from agents.domain.charger import PowerRevision, SampleRow
from agents.domain.meter import MeterReading
from agents.domain.power import ENERGY_DELTA, MEASURED, Power
from agents.migrate import apply_migrations
from agents.sinks.timeseries import GROUP_MAX, CassandraStore, _Request, write_owner

REPLICATION = "{'class': 'SimpleStrategy', 'replication_factor': 1}"


def migrated_store(session: Any, keyspace: str, *, max_in_flight: int = 8) -> CassandraStore:
    """A store on a fresh keyspace with the project's tables."""
    apply_migrations(session, keyspace, REPLICATION)
    return CassandraStore(session, keyspace, max_in_flight=max_in_flight, backoff_max_s=1, timeout_s=10)


def requests_so_far() -> tuple[float, float]:
    """Requests the stores have sent to Cassandra, and the statements in them (the metric)."""

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(f"chargestream_cassandra_request_statements_{name}") or 0.0

    return sample("count"), sample("sum")


def since(before: tuple[float, float]) -> tuple[float, float]:
    sent, statements = requests_so_far()
    return sent - before[0], statements - before[1]


def reading(ts_ms: int, received_at_ms: int, energy_wh: float) -> MeterReading:
    return MeterReading(
        "CP-1", 1, 1, ts_ms, received_at_ms, "T1", "Sample.Periodic", {"energy_wh": energy_wh}
    )


def row(session: Any, keyspace: str, ts_ms: int) -> Any:
    found = session.execute(
        f"SELECT energy_wh, power_w, power_derivation FROM {keyspace}.evse_samples "
        "WHERE charger_id = 'CP-1' AND evse_id = 1 AND day = %s AND ts = %s",
        (datetime.fromtimestamp(ts_ms / 1000, UTC).date(), ts_ms),
    ).one()
    assert found is not None
    return found


def test_a_rows_power_is_the_last_written_and_its_reading_the_last_received(
    cassandra_session: Any, keyspace: str
) -> None:
    store = migrated_store(cassandra_session, keyspace)
    now_ms = int(time.time() * 1000)
    future = now_ms + 86_400_000  # a CSMS clock a day ahead must not pin the power
    ts = future - 60_000
    delta = Power(ts, 6000.0, ENERGY_DELTA)

    async def scenario() -> None:
        await store.write_samples([SampleRow(reading(ts, future, 1000.0), 1, None, False)])
        await store.revise_sample_power([PowerRevision("CP-1", 1, ts, delta)])
        # The same reading re-sent, received earlier: its cells lose, its power is the current one.
        await store.write_samples([SampleRow(reading(ts, future - 5000, 999.0), 1, delta, False)])
        assert await store.flush() == []

    asyncio.run(scenario())
    got = row(cassandra_session, keyspace, ts)
    assert (got.energy_wh, got.power_w, got.power_derivation) == (1000.0, 6000.0, ENERGY_DELTA)

    async def replaced() -> None:  # a later-received reading at the same timestamp wins its cells
        await store.write_samples(
            [SampleRow(reading(ts, future + 1000, 1001.0), 1, Power(ts, 7.0, MEASURED), False)]
        )
        await store.revise_sample_power([PowerRevision("CP-1", 1, ts, None)])
        assert await store.flush() == []

    asyncio.run(replaced())
    got = row(cassandra_session, keyspace, ts)
    assert (got.energy_wh, got.power_w, got.power_derivation) == (1001.0, None, None)


def test_a_new_rows_power_goes_in_its_readings_statement_and_later_writes_beat_it(
    cassandra_session: Any, keyspace: str
) -> None:
    store = migrated_store(cassandra_session, keyspace)
    now_ms = int(time.time() * 1000)
    ts = now_ms - 60_000
    measured = Power(ts, 7.0, MEASURED)

    def write(*calls: Any) -> tuple[float, float]:
        before = requests_so_far()

        async def run() -> None:
            for call in calls:
                await call
            assert await store.flush() == []

        asyncio.run(run())
        return since(before)

    sent = write(
        store.write_samples([SampleRow(reading(ts, now_ms - 50_000, 1000.0), 1, measured, False, new=True)])
    )
    assert sent == (1, 1)  # one statement: the reading and its power
    got = row(cassandra_session, keyspace, ts)
    assert (got.energy_wh, got.power_w, got.power_derivation) == (1000.0, 7.0, MEASURED)

    write(store.revise_sample_power([PowerRevision("CP-1", 1, ts, Power(ts, 6000.0, ENERGY_DELTA))]))
    got = row(cassandra_session, keyspace, ts)
    assert (got.energy_wh, got.power_w, got.power_derivation) == (1000.0, 6000.0, ENERGY_DELTA)

    # Replaced by a reading received later (not new): its cells win, and its power is written
    # at the time it is issued, in a statement of its own.
    replaced = SampleRow(reading(ts, now_ms - 40_000, 1001.0), 1, Power(ts, 8.0, MEASURED), False)
    assert write(store.write_samples([replaced])) == (1, 2)
    got = row(cassandra_session, keyspace, ts)
    assert (got.energy_wh, got.power_w, got.power_derivation) == (1001.0, 8.0, MEASURED)


def test_writes_go_in_groups_and_a_refused_one_takes_no_other_with_it(
    cassandra_session: Any, keyspace: str
) -> None:
    """Rows issued together are sent as a few unlogged batches (GROUP_MAX statements each);
    one that Cassandra refuses (a partition key over its 64 KiB limit) is handed back
    with its own owner, and every other row of its batch lands. (One node: every row is
    bound for the same replica, so they share batches.)"""
    store = migrated_store(cassandra_session, keyspace, max_in_flight=64)
    ts = datetime.now(UTC).replace(microsecond=0)
    n = 3 * GROUP_MAX + 5

    def status_row(charger_id: str) -> tuple[Any, ...]:
        return (charger_id, ts.date(), ts, 1, 1, "S-1", "Available", "available", None, None, None, ts, True)

    async def scenario() -> list[Any]:
        for i in range(n):
            write_owner.set(f"owner-{i}")
            await store.write_rows("connector_status_history", [status_row(f"CP-{i}")])
            if i == GROUP_MAX + 2:  # in the middle of the second group
                write_owner.set("the culprit")
                site_status = ("x" * 70_000, 1, 0, 0, 0, 0, 0, 1, ts)  # one-column key: sent
                await store.write_rows("site_status", [site_status])
        return await store.flush()

    before = requests_so_far()
    refused = asyncio.run(scenario())
    sent, statements = since(before)
    # n + 1 statements went first in groups of at most GROUP_MAX; the refused group was sent
    # again statement by statement (each a request of one).
    assert statements >= n + 1 and sent <= (n + 1) / GROUP_MAX + 2 + GROUP_MAX
    assert [owner for owner, _ in refused] == ["the culprit"]
    assert "rejected a write to site_status" in str(refused[0][1])  # by Cassandra, in a batch
    rows = cassandra_session.execute(f"SELECT charger_id FROM {keyspace}.connector_status_history").all()
    assert sorted(r.charger_id for r in rows) == sorted(f"CP-{i}" for i in range(n))


def test_a_landed_write_leaves_no_cyclic_garbage(cassandra_session: Any, keyspace: str) -> None:
    """The driver's ResponseFuture and its timeout timer refer to each other; left so, every
    request waited for a full collection of the cyclic GC, with the statements it held (and
    those collections paused the worker for hundreds of milliseconds). Checks too that the
    driver's private ``_timer``, which the store clears, still means what it did."""
    store = migrated_store(cassandra_session, keyspace, max_in_flight=64)
    rows = [
        SampleRow(reading(1_700_000_000_000 + i, 1_700_000_000_000 + i, float(i)), 1, None, False)
        for i in range(200)
    ]

    async def scenario() -> None:
        await store.write_samples(rows)
        assert await store.flush() == []

    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        asyncio.run(scenario())
        gc.collect()
        # Our requests, if a driver future kept them: the driver's own traffic (schema
        # refreshes after the migrations, say) may leave garbage of its own meanwhile.
        left = [o for o in gc.garbage if isinstance(o, _Request)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []


def test_rows_keep_going_in_full_groups_while_the_in_flight_bound_is_reached(
    cassandra_session: Any, keyspace: str
) -> None:
    """With more rows than may be in flight, writers wait for room, and go on with all the
    room that came back meanwhile: their rows still go about GROUP_MAX to a request. (An
    asyncio.Semaphore per statement made a writer wait, room or not, while the other one
    waited, and each wait sent the groups formed so far: a few rows per request.)"""
    store = migrated_store(cassandra_session, keyspace, max_in_flight=2 * GROUP_MAX)
    ts = datetime.now(UTC).replace(microsecond=0)
    rows = [
        (f"CP-{i}", ts.date(), ts, 1, 1, "S-1", "Available", "available", None, None, None, ts, True)
        for i in range(40 * GROUP_MAX)
    ]

    async def scenario() -> None:  # two writers, as the worker's two stages
        half = len(rows) // 2
        await asyncio.gather(
            store.write_rows("connector_status_history", rows[:half]),
            store.write_rows("connector_status_history", rows[half:]),
        )
        assert await store.flush() == []

    before = requests_so_far()
    asyncio.run(scenario())
    sent, statements = since(before)
    assert statements == len(rows)
    assert statements / sent >= GROUP_MAX / 2
