"""The benchmark command, once, on a tiny input: it keeps working (no timing asserted)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
REPO = Path(__file__).parents[2]


def run_module(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m <args>`` in the repository; fails the test with its output if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    return done


def test_bench_runs_on_a_tiny_input(kafka_bootstrap: str, cassandra_contact: object, tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    run_module(
        "bench.run",
        "--events",
        "2000",
        "--connectors",
        "200",
        "--partitions",
        "2",
        "--latency-seconds",
        "20",
        "--bootstrap",
        kafka_bootstrap,
        "--results",
        str(results),
        timeout=500,
    )
    text = results.read_text()
    for variant in ("a", "b", "c", "d1", "d1b", "d2"):
        assert f"| {variant} |" in text, text
    assert all(f"a/{v} =" in text for v in ("b", "c", "d1", "d1b", "d2")), text
    # A variant that stalls is recorded as such instead of its row and a2/a. Two workers
    # did stall after their first rebalance (also on 2,000 events) until agents/consumer.py
    # rewound partitions with no committed offset; a stall is still a finding, not a crash.
    assert ("| a2 |" in text and "a2/a =" in text) or "a2 did not drain" in text, text
    assert "| am |" in text and all(f"am/{v} =" in text for v in ("b", "c", "d1", "d1b", "d2")), text
    assert ("| a2m |" in text and "a2m/am =" in text) or "a2m did not drain" in text, text
    assert "memory per connector:" in text, text
    assert "latency at an offered" in text and "| current site power on the derived topic | " in text, text


def test_the_store_write_benchmark_runs_on_a_few_rows(cassandra_contact: object) -> None:
    done = run_module("bench.store_writes", "--rows", "400", "--rounds", "1", timeout=300)
    assert "| one statement | 400 |" in done.stdout and "| two statements | 400 |" in done.stdout, done.stdout
    assert "ratios one/two:" in done.stdout, done.stdout


def test_a_bench_stopped_with_sigterm_deletes_its_topics(
    kafka_bootstrap: str, cassandra_contact: object, tmp_path: Path
) -> None:
    """`timeout` and CI stop a run with SIGTERM: its topics go as at a normal end."""
    from confluent_kafka.admin import AdminClient

    log = tmp_path / "bench.log"
    args = ["--events", "2000", "--connectors", "200", "--partitions", "2", "--variants", "d2"]
    args += ["--bootstrap", kafka_bootstrap, "--results", os.devnull]
    with log.open("w") as out:
        bench = subprocess.Popen(
            [sys.executable, "-m", "bench.run", *args],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    try:
        # Its first line names the run's topics: "preloading 2,000 events (bench-<t>.*) ..."
        wait_for(lambda: log.read_text().partition("\n")[1], 60, "the bench to start")
        prefix = log.read_text().split("(", 1)[1].split("*", 1)[0]
        wait_for(
            lambda: any(t.startswith(prefix) for t in admin.list_topics(timeout=10).topics),
            60,
            f"the bench's topics ({prefix}*)",
        )
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=120) == 128 + signal.SIGTERM, log.read_text()[-3000:]
    finally:
        bench.kill()
    assert [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)] == []
