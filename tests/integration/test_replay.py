"""`chargestream replay`: a time range of simulated input re-processed into its own
keyspace, beside (not instead of) the live pipeline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fleet import fast_settings, iso
from tests.workers import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture
def env(
    kafka_bootstrap: str, alertmanager_url: str, unique_name: str, tmp_path: Path
) -> Iterator[dict[str, str]]:
    for settings in fast_settings(kafka_bootstrap, alertmanager_url, unique_name):
        yield {
            **settings,
            "CHARGESTREAM_DATA_DIR": str(tmp_path / "worker"),
            "CHARGESTREAM_GRACE_SECONDS": "30",
        }


def test_replay_of_a_time_range_into_its_own_keyspace(
    env: dict[str, str], cassandra_session: Any, unique_name: str
) -> None:
    u = unique_name
    now = int(time.time() * 1000)
    t0 = now - 20 * 60_000 - now % 60_000
    run_cli(env, "agents", "migrate")
    run_cli(
        env,
        "agents",
        *("simulate", "--fast", "--quiet", "--sites", "2", "--chargers", "3", "--seed", "5"),
        *("--duration", "600", "--start", iso(t0), "--faults-per-hour", "0", "--offline-per-hour", "0"),
        timeout=300,
    )
    since, until = t0 + 4 * 60_000, t0 + 7 * 60_000
    keyspace = f"{u}_r"
    try:
        out = run_cli(
            env,
            "agents",
            *("replay", "--keyspace", keyspace, "--from", iso(since), "--to", iso(until), "--name", "r1"),
            timeout=400,
        )
        rows = list(
            cassandra_session.execute(f"SELECT site_id, bucket_start, final FROM {keyspace}.site_power_1m")
        )
        assert {r.site_id for r in rows} == {"SITE-0000", "SITE-0001"}, out
        starts = sorted({int(r.bucket_start.replace(tzinfo=UTC).timestamp() * 1000) for r in rows})
        # Input received in [since, until]; a reading's own time is up to its delivery delay
        # (at most 60 s late + 30 s re-sent, in the simulator) before its receipt.
        assert since - 2 * 60_000 <= starts[0] and starts[-1] < until, [
            datetime.fromtimestamp(s / 1000) for s in starts
        ]
        assert len(starts) >= 3 and all(r.final for r in rows)
        # Nothing went to the live keyspace: only `migrate` touched it.
        assert not list(cassandra_session.execute(f"SELECT site_id FROM {u}.site_power_1m LIMIT 1"))
    finally:
        cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {u}")
