"""The README's demo runs to its summary with power, availability and alerts in it, and
leaves none of the processes it started behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
REPO = Path(__file__).parents[2]


def _demo_workers() -> list[int]:
    """Worker processes started with the demo's app id."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"CHARGESTREAM_APP_ID=chargestream-demo\0" in environ and b"worker" in cmdline:
            found.append(int(proc.name))
    return found


def test_demo_prints_a_summary_and_leaves_nothing_running(
    kafka_bootstrap: str, cassandra_contact: object
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGESTREAM_")}
    result = subprocess.run(
        [sys.executable, "-m", "agents", "demo", "--seconds", "20", "--sites", "3", "--chargers", "3"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    power = out.split("== site power")[1].split("==")[0]
    assert len(re.findall(r"SITE-\d{4}  now +\d", power)) == 3, power
    availability = out.split("== availability")[1].split("==")[0]
    assert len(re.findall(r"available \d+ .* uptime +\d", availability)) == 3, availability
    alerts = out.split("== alerts")[1].split("==")[0]
    assert re.search(r"connector_fault +fired +[1-9]", alerts), alerts
    assert "== where to look next" in out
    assert _demo_workers() == []
