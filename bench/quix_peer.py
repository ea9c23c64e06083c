"""Peer (c): the same site-power computation written idiomatically in Quix Streams.

A StreamingDataFrame per input topic, concatenated; the meter messages' power, grouped by
site (a repartition topic), summed in 60 s tumbling windows (RocksDB state) and sent to an
output topic as each window closes. Input Quix cannot deserialize, or a row that fails, is
logged and skipped (the error callbacks return True), so a malformed message does not stop
it. bench/run.py measures it from outside, as it does for a and b: drained when the group
has committed every input record and every repartitioned one.

Runs in its own virtualenv (bench/run.py makes it under var/bench/): Quix Streams pins a
confluent-kafka older than chargestream's. So it imports nothing from chargestream (only
the standard-library bench/naive_power.py).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from quixstreams import Application

from bench.naive_power import power_w

METER_ACTIONS = ("MeterValues", "TransactionEvent")


def _skip(exc: Exception, where: Any, logger: logging.Logger) -> bool:
    return True  # counted as consumed, like chargestream's dead letters (without the topic)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--topics", required=True, help="comma-separated")
    p.add_argument("--state-dir", required=True)
    args = p.parse_args(argv)

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        on_consumer_error=_skip,
        on_processing_error=_skip,
        loglevel="WARNING",
    )
    frames = [app.dataframe(app.topic(t, value_deserializer="json")) for t in args.topics.split(",")]
    sdf = frames[0]
    for other in frames[1:]:
        sdf = sdf.concat(other)
    sdf = sdf.filter(lambda v: isinstance(v, dict) and v.get("action") in METER_ACTIONS)
    sdf = sdf.apply(
        lambda v: {"site_id": str(v.get("site_id") or "unassigned"), "power_w": power_w(v.get("payload"))}
    )
    sdf = sdf.group_by("site_id")
    sdf = sdf.apply(lambda v: v["power_w"]).tumbling_window(duration_ms=60_000).sum().final()
    sdf.to_topic(app.topic(f"{args.group}-site-power", value_serializer="json"))
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
