"""The Cassandra store's evse_samples write path, side by side on the local Cassandra: a new
row's reading and power in one statement (``SampleRow.new``) against the insert and the
power update as two (how every row was written before, and how a replaced reading still
is). The same rows, rounds alternated; per row, this process's CPU (the worker's share of
a write) and Cassandra's, and rows per second. It prints; figures go to bench/RESULTS.md
with the command.

    python -m bench.store_writes [--rows 100000] [--rounds 2]

Each variant writes through ``CassandraStore`` as the worker does (batches of readings,
a flush every few thousand rows as at a commit) into a keyspace of its own, dropped at the
end. Simulator-like readings: 2,000 chargers, one EVSE, five measurands each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import dataclass

from agents.cassandra_session import connect
from agents.config import get_settings
from agents.domain.charger import SampleRow
from agents.domain.meter import MeterReading
from agents.domain.power import MEASURED, Power
from agents.migrate import apply_migrations
from agents.sinks.timeseries import CassandraStore
from bench.run import services_cpu

CHARGERS = 2_000
PER_CALL = 4  # rows per write_samples call: a message's readings
FLUSH_EVERY = 5_000  # rows between flushes: about a commit's worth at the worker's rate
ONE, TWO = "one statement", "two statements"


@dataclass
class Figures:
    rows: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    cassandra_cpu_s: float = 0.0

    def line(self, name: str) -> str:
        return (
            f"| {name} | {self.rows:,} | {self.rows / self.seconds:,.0f} | "
            f"{self.cpu_s / self.rows * 1e6:,.1f} | {self.cassandra_cpu_s / self.rows * 1e6:,.1f} |"
        )


def rows(n: int, start_ms: int, *, new: bool) -> list[SampleRow]:
    out = []
    for i in range(n):
        ts = start_ms + (i // CHARGERS) * 10_000
        values = {"energy_wh": 1000.0 + i, "power_w": 7000.0, "current_a": 32.0, "voltage_v": 230.0}
        r = MeterReading(f"CP-{i % CHARGERS}", 1, 1, ts, ts + 500, "T1", "Sample.Periodic", values)
        out.append(SampleRow(r, 1, Power(ts, 7000.0, MEASURED), False, new=new))
    return out


async def write(store: CassandraStore, batch: list[SampleRow]) -> None:
    for i in range(0, len(batch), PER_CALL):
        await store.write_samples(batch[i : i + PER_CALL])
        if (i + PER_CALL) % FLUSH_EVERY < PER_CALL:
            assert await store.flush() == []
    assert await store.flush() == []


async def run(stores: dict[str, CassandraStore], n: int, rounds: int) -> dict[str, Figures]:
    figures = {name: Figures() for name in stores}
    base_ms = (int(time.time() * 1000) - 86_400_000) // 60_000 * 60_000  # received a day ago
    for r in range(rounds):
        for name in list(stores) if r % 2 == 0 else list(reversed(stores)):
            batch = rows(n, base_ms + r * 3_600_000, new=name == ONE)
            cassandra_before = services_cpu().get("cassandra", 0.0)
            cpu_before, began = time.process_time(), time.perf_counter()
            await write(stores[name], batch)
            f = figures[name]
            f.seconds += time.perf_counter() - began
            f.cpu_s += time.process_time() - cpu_before
            f.cassandra_cpu_s += services_cpu().get("cassandra", 0.0) - cassandra_before
            f.rows += len(batch)
            print(f"round {r + 1}, {name}: {f.rows:,} rows so far", flush=True)
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    settings = get_settings()
    cluster, session = connect(settings)
    keyspaces = {ONE: f"bench_store_one_{os.getpid()}", TWO: f"bench_store_two_{os.getpid()}"}
    try:
        stores = {}
        for name, ks in keyspaces.items():
            apply_migrations(session, ks, settings.cassandra_replication)
            stores[name] = CassandraStore(
                session,
                ks,
                max_in_flight=settings.cassandra_max_in_flight,
                backoff_max_s=settings.cassandra_backoff_max_seconds,
                timeout_s=settings.cassandra_timeout_seconds,
            )
        figures = asyncio.run(run(stores, args.rows, args.rounds))
    finally:
        for ks in keyspaces.values():
            session.execute(f"DROP KEYSPACE IF EXISTS {ks}", timeout=60)
        cluster.shutdown()
    print(f"\n`python -m bench.store_writes --rows {args.rows} --rounds {args.rounds}`\n")
    print("| evse_samples row as | rows | rows/s | this process, CPU us a row | Cassandra, CPU us a row |")
    print("|---|---|---|---|---|")
    for name, f in figures.items():
        print(f.line(name))
    one, two = figures[ONE], figures[TWO]
    print(
        f"\nratios one/two: rows/s {_ratio(one.rows / one.seconds, two.rows / two.seconds)}, "
        f"CPU {_ratio(one.cpu_s, two.cpu_s)}, "
        f"Cassandra CPU {_ratio(one.cassandra_cpu_s, two.cassandra_cpu_s)}"
    )


def _ratio(a: float, b: float) -> str:
    """On a few rows a CPU reading can be 0 (it counts in clock ticks, 10 ms)."""
    return f"{a / b:.2f}" if b else "n/a"


if __name__ == "__main__":
    main()
