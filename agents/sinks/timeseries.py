"""The time-series store: EVSE samples, site power buckets, alerts, status and availability.

``TimeSeriesStore`` is the interface the agents use; ``CassandraStore`` is the real one
and ``MemoryStore`` its in-memory twin (tests of the agents' logic, benchmarks that
isolate the worker from Cassandra). Rows are keyed so that writing the same input
twice leaves the same rows.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from agents.domain.buckets import SiteBucket
from agents.domain.charger import PowerRevision, SampleRow
from agents.domain.power import Power
from agents.landings import Landings
from agents.metrics import metrics

if TYPE_CHECKING:
    from agents.sinks.cql_bind import Binder

log = logging.getLogger(__name__)

SAMPLE_COLUMNS = (
    "power_measured_w:power_w",
    "power_export_w",
    "power_offered_w",
    "energy_wh",
    "energy_export_wh",
    "energy_interval_wh",
    "current_a",
    "current_offered_a",
    "voltage_v",
    "power_factor",
    "soc_percent",
)


class StoreError(RuntimeError):
    """Cassandra rejected a write (not for want of availability: retrying cannot help);
    the message names the table and the cause."""


# Whose writes these are (the agents set the input record being processed): a write that
# is refused after its caller moved on is reported with its owner by ``flush``.
write_owner: ContextVar[Any] = ContextVar("write_owner", default=None)
Refusal = tuple[Any, StoreError]  # (write_owner of the refused write, why)


class TimeSeriesStore(Protocol):
    """Writes are issued by the ``write_*`` calls, which may return before they land (they
    wait only for room: backpressure); ``flush`` waits until every write issued before it
    was called has landed, and returns those refused since the last flush."""

    async def write_samples(self, rows: Iterable[SampleRow]) -> None: ...
    async def revise_sample_power(self, revisions: Iterable[PowerRevision]) -> None: ...
    async def write_site_buckets(self, buckets: Iterable[SiteBucket]) -> None: ...
    async def write_alerts(self, records: Iterable[dict[str, Any]]) -> None: ...
    async def write_rows(self, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
        """Rows of one of ROW_TABLES, values in its column order (agents/records.py)."""

    async def flush(self) -> list[Refusal]: ...
    async def close(self) -> None: ...


def _day(ts_ms: int) -> date:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).date()


def _ts(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, UTC)


def sample_values(row: SampleRow) -> tuple[Any, ...]:
    """The evse_samples row for a reading, in SAMPLE_INSERT's column order, without its
    power (see power_values); then the write timestamp: the CSMS's receive time, so that of
    two readings with one timestamp the one received later wins whatever order they are
    written in, as in the EVSE's series."""
    r = row.reading
    measured = [r.values.get(c.split(":")[-1]) for c in SAMPLE_COLUMNS]
    return (
        r.charger_id,
        row.evse_id,
        _day(r.ts_ms),
        _ts(r.ts_ms),
        _ts(r.received_at_ms),
        r.connector_id,
        r.transaction_id,
        r.context,
        *measured,
        r.vi_power_w,
        r.inlet.get("power_w"),
        r.inlet.get("energy_wh"),
        row.late,
        set(r.quirks) or None,
        r.received_at_ms * 1000,
    )


def power_cells(power: Power | None) -> tuple[float | None, str | None]:
    """power_w and power_derivation of an evse_samples row."""
    return (power.power_w, power.derivation) if power else (None, None)


def power_values(charger_id: str, evse_id: int, ts_ms: int, power: Power | None) -> tuple[Any, ...]:
    """An evse_samples row's power, in SAMPLE_POWER's order (less its leading timestamp).
    A row's power is rewritten when a reading before it arrives after it (a PowerRevision),
    so the power cells are timestamped when written: the last computed one wins."""
    return (
        *power_cells(power),
        charger_id,
        evse_id,
        _day(ts_ms),
        _ts(ts_ms),
    )


def bucket_values(b: SiteBucket) -> tuple[Any, ...]:
    """The site_power_1m row, in BUCKET_INSERT's column order (then the write timestamp).
    Watts and watt-hours to 3 decimals, as on the topic: sums of the same contributions in
    another order (another run, a replay) then give the same row."""
    return (
        b.site_id,
        _day(b.bucket_start),
        _ts(b.bucket_start),
        round(b.energy_wh, 3),
        round(b.mean_power_w, 3),
        round(b.peak_power_w, 3),
        round(b.current_power_w, 3),
        b.connectors_reporting,
        b.connectors_total,
        b.coverage,
        round(b.rolling_5m_mean_power_w, 3),
        round(b.rolling_15m_mean_power_w, 3),
        round(b.rolling_15m_energy_wh, 3),
        b.revision,
        b.final,
        # Write timestamp: later revisions win whatever order writes land in; final beats all.
        b.revision * 2 + int(b.final),
    )


def alert_values(r: dict[str, Any]) -> tuple[Any, ...]:
    """The alert_history row for an alerts-topic record, in ALERT_INSERT's column order."""
    starts = _parse_iso(r["starts_at"])
    ends = _parse_iso(r["ends_at"]) if r["ends_at"] else None
    return (
        r["site_id"],
        starts.date(),
        starts,
        r["fingerprint"],
        r["type"],
        r["severity"],
        r["charger_id"],
        r["evse_id"],
        r["connector_id"],
        r["summary"],
        r["status"],
        ends,
        r["flap_count"],
        r["dedup_key"],
    )


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _insert(table: str, columns: str) -> str:
    """Every insert names its write timestamp: the row's own where it has one (ROW_TABLES
    says which; the last value), else the time the store issued the write, kept across
    its retries."""
    n = len(columns.split(","))
    marks = ", ".join("?" * n)
    return f"INSERT INTO {{ks}}.{table} ({columns}) VALUES ({marks}) USING TIMESTAMP ?"


_TIMES = "available_ms, occupied_ms, reserved_ms, unavailable_ms, faulted_ms, unknown_ms"
# table -> (INSERT, primary key length, whether the last value is the write timestamp)
ROW_TABLES: dict[str, tuple[str, int, bool]] = {
    "connector_status_history": (
        _insert(
            "connector_status_history",
            "charger_id, day, ts, evse_id, connector_id, site_id, status, status_class, error_code, "
            "vendor_error_code, info, received_at, current",
        ),
        5,
        False,
    ),
    "connector_state": (
        _insert(
            "connector_state",
            "site_id, charger_id, evse_id, connector_id, status, status_class, error_code, since, "
            "charger_online, updated_at",
        ),
        4,
        True,  # the state's event time: an older state never overwrites a newer one
    ),
    "site_status": (
        _insert(
            "site_status",
            "site_id, available, occupied, reserved, unavailable, faulted, unknown, ports, updated_at",
        ),
        1,
        False,
    ),
    "site_availability": (
        _insert(
            "site_availability",
            f"site_id, window_s, month, window_start, {_TIMES}, excluded_ms, span_ms, uptime, "
            "unknown_share, ports",
        ),
        4,
        False,
    ),
    "connector_availability": (
        _insert(
            "connector_availability",
            f"charger_id, window_s, month, window_start, evse_id, connector_id, site_id, {_TIMES}, "
            "excluded_ms, span_ms, uptime",
        ),
        6,
        False,
    ),
    "port_uptime": (
        _insert(
            "port_uptime",
            "site_id, period, period_start, charger_id, evse_id, connector_id, period_minutes, "
            "outage_minutes, excluded_minutes, uptime_percent, updated_at",
        ),
        6,
        False,
    ),
}


@dataclass
class MemoryStore:
    """Rows by primary key, as Cassandra would hold them after upserts."""

    samples: dict[tuple[Any, ...], tuple[Any, ...]]
    sample_power: dict[tuple[Any, ...], tuple[Any, ...]]  # (power_w, power_derivation) by row key
    buckets: dict[tuple[Any, ...], tuple[Any, ...]]
    alerts: dict[tuple[Any, ...], tuple[Any, ...]]
    rows: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]

    def __init__(self) -> None:
        self.samples, self.sample_power, self.buckets, self.alerts = {}, {}, {}, {}
        self.rows = {table: {} for table in ROW_TABLES}

    async def write_rows(self, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
        _, key_len, timestamped = ROW_TABLES[table]
        held = self.rows[table]
        for v in rows:
            key = v[:key_len]
            if not timestamped or key not in held or held[key][-1] <= v[-1]:
                held[key] = v

    async def write_alerts(self, records: Iterable[dict[str, Any]]) -> None:
        for r in records:
            v = alert_values(r)
            self.alerts[v[:4]] = v

    async def write_samples(self, rows: Iterable[SampleRow]) -> None:
        for row in rows:
            v = sample_values(row)
            key = (v[0], v[1], v[2], v[3])
            if key not in self.samples or self.samples[key][-1] <= v[-1]:  # USING TIMESTAMP semantics
                self.samples[key] = v
            r = row.reading
            self._set_power(power_values(r.charger_id, row.evse_id, r.ts_ms, row.power))

    async def revise_sample_power(self, revisions: Iterable[PowerRevision]) -> None:
        for rev in revisions:
            self._set_power(power_values(rev.charger_id, rev.evse_id, rev.ts_ms, rev.power))

    def _set_power(self, v: tuple[Any, ...]) -> None:
        self.sample_power[v[2:]] = v[:2]  # timestamped when written: the last write wins

    async def write_site_buckets(self, buckets: Iterable[SiteBucket]) -> None:
        for b in buckets:
            v = bucket_values(b)
            key = (v[0], v[1], v[2])
            if key not in self.buckets or self.buckets[key][-1] <= v[-1]:  # USING TIMESTAMP semantics
                self.buckets[key] = v

    async def flush(self) -> list[Refusal]:
        return []

    async def close(self) -> None:
        return None


def _transient_errors() -> tuple[type[BaseException], ...]:
    """Failures for want of Cassandra (down, overloaded, restarting): worth waiting out."""
    from cassandra import OperationTimedOut, Unavailable, WriteFailure, WriteTimeout
    from cassandra.cluster import NoHostAvailable
    from cassandra.connection import ConnectionException
    from cassandra.protocol import IsBootstrappingErrorMessage, OverloadedErrorMessage

    return (
        OperationTimedOut,
        WriteTimeout,
        WriteFailure,
        Unavailable,
        NoHostAvailable,
        ConnectionException,
        OverloadedErrorMessage,
        IsBootstrappingErrorMessage,
    )


SAMPLE_INSERT = (
    "INSERT INTO {ks}.evse_samples (charger_id, evse_id, day, ts, received_at, connector_id, transaction_id, "
    "context, power_measured_w, power_export_w, power_offered_w, energy_wh, "
    "energy_export_wh, energy_interval_wh, current_a, current_offered_a, voltage_v, power_factor, "
    "soc_percent, vi_power_w, inlet_power_w, inlet_energy_wh, late, quirks) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
# A new row's reading and its power in one statement, when the power may take the
# reading's write timestamp (CassandraStore.write_samples).
SAMPLE_INSERT_POWERED = (
    "INSERT INTO {ks}.evse_samples (charger_id, evse_id, day, ts, received_at, connector_id, transaction_id, "
    "context, power_measured_w, power_export_w, power_offered_w, energy_wh, "
    "energy_export_wh, energy_interval_wh, current_a, current_offered_a, voltage_v, power_factor, "
    "soc_percent, vi_power_w, inlet_power_w, inlet_energy_wh, late, quirks, power_w, power_derivation) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
SAMPLE_POWER = (
    "UPDATE {ks}.evse_samples USING TIMESTAMP ? SET power_w = ?, power_derivation = ? "
    "WHERE charger_id = ? AND evse_id = ? AND day = ? AND ts = ?"
)
ALERT_INSERT = (
    "INSERT INTO {ks}.alert_history (site_id, day, starts_at, fingerprint, alert_type, severity, charger_id, "
    "evse_id, connector_id, summary, status, ends_at, flap_count, dedup_key) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
BUCKET_INSERT = (
    "INSERT INTO {ks}.site_power_1m (site_id, day, bucket_start, energy_wh, mean_power_w, peak_power_w, "
    "current_power_w, connectors_reporting, connectors_total, coverage, rolling_5m_mean_power_w, "
    "rolling_15m_mean_power_w, rolling_15m_energy_wh, revision, final) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)


# Statements per request. Requests, not rows, were most of the worker's CPU with Cassandra
# on (bench/RESULTS.md): an evse_samples row (an insert and a power update then) cost ~120 us
# as a request of its own and ~60 us in groups of this size. Small, so that a batch stays
# near Cassandra's batch-size warning (5 KiB) and one slow request holds few rows.
GROUP_MAX = 16


class _Slots:
    """At most ``size`` statements outstanding: ``take`` waits for room (a take larger than
    ``size`` waits for all of it), and goes on at once whenever there is room.

    Not an asyncio.Semaphore: acquired per statement, it made a writer wait whenever another
    waiter was queued, room or not, and a wait lets the loop turn, which sends the groups
    formed so far (``_send_groups``). Under a backlog both stages' writers kept meeting so:
    4.6 statements per request, against 15.1 with this (GROUP_MAX 16), and the worker spent
    ~30 % less CPU per event (bench/RESULTS.md)."""

    def __init__(self, size: int) -> None:
        self._size = self._free = size
        self._room = asyncio.Event()

    async def take(self, n: int) -> None:
        while self._free < min(n, self._size):
            self._room.clear()
            await self._room.wait()
        self._free -= n

    def give(self, n: int) -> None:
        self._free += n
        self._room.set()


class _Write:
    """One statement on its way to Cassandra, with what its refusal needs."""

    __slots__ = ("owner", "seq", "statement", "table")

    def __init__(self, statement: Any, table: str, owner: Any, seq: int) -> None:
        self.statement, self.table, self.owner, self.seq = statement, table, owner, seq


class _Request:
    """Writes sent together (an unlogged batch when more than one), retried together."""

    __slots__ = ("attempts", "delay_s", "future", "started", "writes")

    def __init__(self, writes: list[_Write]) -> None:
        self.writes = writes
        self.attempts, self.delay_s, self.started = 0, 0.1, time.perf_counter()
        self.future: Any = None  # the driver's ResponseFuture of the attempt in flight

    def untie(self) -> None:
        """The driver's ResponseFuture and its timeout timer refer to each other, so every
        request outlived its completion as cyclic garbage, with the statements it held:
        ~25 objects a request for Python's cyclic GC, whose full collections then paused
        the worker for 0.3-0.5 s every ~10 s (bench/RESULTS.md). Completed, the future lets
        go of its timer (the driver has cancelled it by then) and is freed at once.
        (``_timer`` is the driver's; tests/integration/test_cassandra_store.py checks that
        a write leaves no cyclic garbage.)"""
        future, self.future = self.future, None
        if future is not None:
            future._timer = None


class CassandraStore:
    """cassandra-driver behind the interface: prepared statements, written behind.

    A ``write_*`` call waits for room (at most ``max_in_flight`` statements outstanding:
    backpressure, not an unbounded queue), binds the statement and returns; ``flush``
    waits until every write issued before it has landed (before any offset is committed:
    held_state.py). Statements are sent in groups: those bound for the same replicas (the
    token of their partition key), issued without the event loop turning in between, go
    as one unlogged batch of at most GROUP_MAX, sent when the loop next turns (or the
    group is full). An unlogged batch is no transaction: it saves the requests, and each
    row stays idempotent on its own. A write that fails for want of Cassandra is retried
    with exponential backoff until it succeeds, so an outage stalls consumption instead
    of losing rows; any other failure is a StoreError, handed back by ``flush`` with the
    write's owner (a group that fails so is sent again statement by statement, so that
    only the culprit is refused). Each write carries its timestamp from when it was
    issued, so that writes of one row, in flight together, land in the order they were
    issued whatever their retries and grouping do.

    The driver reports completions on its own I/O thread. They are queued and taken on the
    event loop in bulk, with one wake-up of the loop for however many completed meanwhile:
    a task, a future and a cross-thread wake-up per write cost more CPU than the driver's
    own work per request (bench/RESULTS.md)."""

    def __init__(
        self, session: Any, keyspace: str, *, max_in_flight: int, backoff_max_s: float, timeout_s: float
    ):
        from cassandra.query import BatchStatement, BatchType

        from agents.sinks.cql_bind import Binder

        def prepare(cql: str) -> Binder:
            return Binder(session.prepare(cql.format(ks=keyspace)))

        self._session = session
        self._keyspace = keyspace
        self._sample = prepare(SAMPLE_INSERT)
        self._sample_power = prepare(SAMPLE_POWER)
        self._sample_powered = prepare(SAMPLE_INSERT_POWERED)
        self._batch = functools.partial(BatchStatement, batch_type=BatchType.UNLOGGED)
        self._bucket = prepare(BUCKET_INSERT)
        self._alert = prepare(ALERT_INSERT)
        self._rows = {t: prepare(cql) for t, (cql, _, _) in ROW_TABLES.items()}
        self._slots = _Slots(max_in_flight)
        self._backoff_max_s = backoff_max_s
        self._timeout_s = timeout_s
        self._transient = _transient_errors()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._landings = Landings()  # writes issued, not landed or refused
        self._groups: dict[Any, list[_Write]] = {}  # replicas -> writes not sent yet
        self._send_scheduled = False
        self._completed: deque[tuple[_Request, BaseException | None]] = deque()  # from the driver's thread
        self._wake_pending = False
        self._refused: list[Refusal] = []
        self._last_us = 0

    async def write_samples(self, rows: Iterable[SampleRow]) -> None:
        for row in rows:
            r = row.reading
            values = sample_values(row)
            if row.new and values[-1] < time.time_ns() // 1000:
                # A new row received in the past: its power may take the reading's write
                # timestamp, as every later power write (stamped when issued) beats it.
                powered = (*values[:-1], *power_cells(row.power), values[-1])
                await self._issue((self._sample_powered, powered), table="evse_samples")
                continue
            # One partition: the reading at its receive time, its power now (one group). A
            # reading received "in the future" (a CSMS clock ahead of ours) must not pin its
            # power past later revisions, nor may a replaced reading's power lose to an
            # older write of it.
            power = self._power(r.charger_id, row.evse_id, r.ts_ms, row.power)
            await self._issue((self._sample, values), (self._sample_power, power), table="evse_samples")

    async def revise_sample_power(self, revisions: Iterable[PowerRevision]) -> None:
        for rev in revisions:
            values = self._power(rev.charger_id, rev.evse_id, rev.ts_ms, rev.power)
            await self._issue((self._sample_power, values), table="evse_samples")

    def _power(self, charger_id: str, evse_id: int, ts_ms: int, power: Power | None) -> tuple[Any, ...]:
        return (self._issued_at_us(), *power_values(charger_id, evse_id, ts_ms, power))

    async def write_site_buckets(self, buckets: Iterable[SiteBucket]) -> None:
        for b in buckets:
            await self._issue((self._bucket, bucket_values(b)), table="site_power_1m")

    async def write_alerts(self, records: Iterable[dict[str, Any]]) -> None:
        for r in records:
            await self._issue((self._alert, (*alert_values(r), self._issued_at_us())), table="alert_history")

    async def write_rows(self, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
        statement, timestamped = self._rows[table], ROW_TABLES[table][2]
        for v in rows:
            await self._issue((statement, v if timestamped else (*v, self._issued_at_us())), table=table)

    async def flush(self) -> list[Refusal]:
        self._send_groups()  # what waits for the loop to turn goes now
        with self._landings.mark() as mark:
            await mark.landed.wait()  # not the writes issued while this waits
        refused, self._refused = self._refused, []
        return refused

    def _issued_at_us(self) -> int:
        self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
        return self._last_us

    async def _issue(self, *statements: tuple[Binder, tuple[Any, ...]], table: str) -> None:
        """Statements of one partition (they go in one group), each a write of its own."""
        await self._slots.take(len(statements))
        self._loop = asyncio.get_running_loop()  # where completions are taken
        owner = write_owner.get()
        try:
            bound = [binder.bind(values) for binder, values in statements]
            key = self._replicas(bound[0].routing_key)
        except Exception as exc:  # values the statement cannot take: refused, never sent
            self._slots.give(len(statements))
            metrics.cassandra_errors.labels(table, type(exc).__name__).inc()
            self._refused.append((owner, StoreError(f"a write to {table} cannot be bound: {exc!r}")))
            return
        group = self._groups.setdefault(key, [])
        if len(group) + len(bound) > GROUP_MAX:
            self._send(_Request(self._groups.pop(key)))
            group = self._groups[key] = []
        group += [_Write(b, table, owner, self._landings.issue()) for b in bound]
        if not self._send_scheduled:
            self._send_scheduled = True
            self._loop.call_soon(self._send_groups)

    def _replicas(self, routing_key: bytes | None) -> Any:
        """What the partition key's writes are grouped by: the replicas that own its token."""
        token_map = self._session.cluster.metadata.token_map
        if routing_key is None or token_map is None:
            return None
        token = token_map.token_class.from_key(routing_key)
        return tuple(token_map.get_replicas(self._keyspace, token))

    def _send_groups(self) -> None:
        self._send_scheduled = False
        groups, self._groups = self._groups, {}
        for writes in groups.values():
            self._send(_Request(writes))

    def _send(self, req: _Request) -> None:
        req.attempts += 1
        if req.attempts == 1:
            metrics.cassandra_statements.observe(len(req.writes))
        if len(req.writes) == 1:
            statement = req.writes[0].statement
        else:
            statement = self._batch()
            for w in req.writes:
                statement.add(w.statement)
        try:
            rf = req.future = self._session.execute_async(statement, timeout=self._timeout_s)
        except Exception as exc:  # refused before it left (no connection, say): as if it failed
            self._completed.append((req, exc))
            self._wake()
            return
        rf.add_callbacks(self._landed, self._failed, callback_args=(req,), errback_args=(req,))

    # On the driver's I/O thread: queue, and wake the loop once for all that completes meanwhile.
    def _landed(self, _result: Any, req: _Request) -> None:
        req.untie()
        self._completed.append((req, None))
        self._wake()

    def _failed(self, exc: BaseException, req: _Request) -> None:
        req.untie()
        self._completed.append((req, exc))
        self._wake()

    def _wake(self) -> None:
        if not self._wake_pending:
            self._wake_pending = True
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._take_completed)

    # On the event loop.
    def _take_completed(self) -> None:
        self._wake_pending = False  # first: a completion queued from now on wakes the loop again
        while self._completed:
            req, exc = self._completed.popleft()
            tables = {w.table for w in req.writes}
            if exc is None:
                took = time.perf_counter() - req.started
                for table in tables:
                    metrics.cassandra_write.labels(table).observe(took)
                for w in req.writes:
                    self._done(w)
            elif isinstance(exc, self._transient):
                for table in tables:
                    metrics.cassandra_errors.labels(table, type(exc).__name__).inc()
                if req.attempts == 1 or req.attempts % 20 == 0:
                    log.warning(
                        "write to %s failed %d time(s) (%r); retrying",
                        ", ".join(sorted(tables)),
                        req.attempts,
                        exc,
                    )
                assert self._loop is not None
                self._loop.call_later(req.delay_s, self._send, req)
                req.delay_s = min(req.delay_s * 2, self._backoff_max_s)
            elif len(req.writes) > 1:  # which statement is refused: each on its own
                for w in req.writes:
                    self._send(_Request([w]))
            else:
                w = req.writes[0]
                metrics.cassandra_errors.labels(w.table, type(exc).__name__).inc()
                refusal = StoreError(f"Cassandra rejected a write to {w.table}: {exc!r}")
                self._refused.append((w.owner, refusal))
                self._done(w)

    def _done(self, w: _Write) -> None:
        self._slots.give(1)
        self._landings.landed(w.seq)

    async def close(self) -> None:
        return None  # the session belongs to whoever connected it
