"""Baseline (b): site power written the way the Faust docs and tutorials suggest.

- typed `faust.Record`s for the envelope and the derived record;
- the OCPP payload validated with the `ocpp` package (its JSON schemas, through jsonschema);
- `group_by`-style repartitioning by site through a second topic, as a table keyed by site
  needs;
- one synchronous Cassandra insert per event (`session.execute` in the agent);
- a 60 s tumbling windowed table of site power, and one derived record per event.

None of this is how chargestream works; it is what a user would write first, on the same
input. bench/run.py starts it as a worker and measures it from outside, as it does for a:
drained when the group has committed every input record and every repartitioned one.
Unusable input (malformed JSON, a payload the schema refuses) is counted and skipped.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import faust
from ocpp.messages import Call, validate_payload

from agents.cassandra_session import connect
from agents.config import get_settings
from bench.faust_app import LOOPBACK_ONLY, run_worker
from bench.naive_power import power_w


class Envelope(faust.Record, serializer="json"):
    charger_id: str
    ocpp_version: str
    action: str
    message_id: str
    received_at: str
    payload: dict[str, Any]
    site_id: str = "unassigned"


class SitePower(faust.Record, serializer="json"):
    site_id: str
    charger_id: str
    received_at: str
    power_w: float
    window_power_w: float


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--topics", required=True, help="comma-separated")
    p.add_argument("--keyspace", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--partitions", type=int, default=8)
    args = p.parse_args(argv)

    _, session = connect(get_settings())  # the local Cassandra, as chargestream reaches it
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {args.keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {args.keyspace}.readings (charger_id text, received_at text, "
        "message_id text, site_id text, action text, power_w double, "
        "PRIMARY KEY (charger_id, received_at, message_id))"
    )
    insert = session.prepare(
        f"INSERT INTO {args.keyspace}.readings "
        "(charger_id, received_at, message_id, site_id, action, power_w) VALUES (?, ?, ?, ?, ?, ?)"
    )

    app = faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        datadir=args.data_dir,
        topic_partitions=args.partitions,
        **LOOPBACK_ONLY,
        consumer_auto_offset_reset="earliest",
    )
    raw = app.topic(*args.topics.split(","), value_type=bytes, value_serializer="raw")
    by_site = app.topic(
        f"{args.group}-by-site", key_type=str, value_type=Envelope, partitions=args.partitions, internal=True
    )
    # Declared internal so that Faust creates it: a send to a missing topic waits for its
    # metadata, and so does the commit's producer flush: b then never commits.
    derived = app.topic(
        f"{args.group}-site-power", value_type=SitePower, partitions=args.partitions, internal=True
    )
    site_power = app.Table("site-power", default=float).tumbling(60.0, expires=3600.0).relative_to_stream()

    @app.agent(raw)
    async def validate(stream: Any) -> None:
        async for value in stream:
            try:
                env = Envelope.loads(value)
                await validate_payload(Call(env.message_id, env.action, env.payload), env.ocpp_version)
            except Exception:  # malformed, or refused by the schema: skipped
                continue
            await by_site.send(key=env.site_id, value=env)

    @app.agent(by_site)
    async def aggregate(stream: Any) -> None:
        async for env in stream:
            power = power_w(env.payload) if env.action in ("MeterValues", "TransactionEvent") else 0.0
            session.execute(
                insert, (env.charger_id, env.received_at, env.message_id, env.site_id, env.action, power)
            )
            site_power[env.site_id] += power
            window_power = site_power[env.site_id].current()
            await derived.send(
                value=SitePower(env.site_id, env.charger_id, env.received_at, power, window_power)
            )

    run_worker(app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
