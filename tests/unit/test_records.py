"""Derived-topic records match their documented schemas, and the rows made from them
match the tables' INSERT statements."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest

from agents import codec, records
from agents.domain.alerts import AlertKey, AlertRules, AlertType, Notice
from agents.domain.charger_status import TrackedAlert, new_status, on_status
from agents.domain.liveness import Liveness
from agents.domain.site_timeline import FoldRules, SiteTimeline, fold, record_status, site_totals
from agents.domain.status import StatusClass, StatusEvent
from agents.sinks.timeseries import ROW_TABLES

SCHEMAS = Path(__file__).parents[2] / "schemas"
T0 = 1_795_521_600_000
DAY = 86_400_000


def _validator(name: str) -> Any:
    return fastjsonschema.compile(json.loads((SCHEMAS / name).read_text()))


def _columns(table: str) -> int:
    """Values a row of ``table`` carries: its columns, and its write timestamp if it has its
    own (else the store adds the time it issued the write)."""
    cql, _, timestamped = ROW_TABLES[table]
    return cql.count("?") - (0 if timestamped else 1)


def test_connector_status_and_state() -> None:
    s = new_status("S1", T0, None)
    e = StatusEvent("C1", 1, 1, T0, "Faulted", "OtherError", "Error", "lid open")
    on_status(s, e, AlertRules())
    r = records.connector_status_record("S1", e, T0 + 5, current=True)
    _validator("connector_status.v1.json")(r)
    assert len(records.connector_status_row(r)) == _columns("connector_status_history")

    s.liveness = Liveness(T0, None, offline_since_ms=T0 + 1000)
    state = records.connector_state_record("C1", s, T0 + 1000)
    _validator("connector_state.v1.json")(state)
    [c] = state["connectors"]
    assert (c["status_class"], c["reported_class"], state["online"]) == ("unknown", "faulted", False)
    [row] = records.connector_state_rows(state)
    assert len(row) == _columns("connector_state")


def test_site_status_availability_and_port_uptime() -> None:
    counts = dict.fromkeys(StatusClass, 0) | {StatusClass.AVAILABLE: 2}
    r = records.site_status_record("S1", counts, T0)
    _validator("site_status.v1.json")(r)
    assert len(records.site_status_row(r)) == _columns("site_status")

    tl = SiteTimeline()
    start = T0 - T0 % DAY
    record_status(tl, "C1", "1/1", start, StatusClass.AVAILABLE)
    closed, uptimes = fold(tl, start + DAY, FoldRules(windows_ms=(3_600_000, DAY)))
    [(key, a)] = [(k, v) for k, v in site_totals(closed).items() if k[0] == DAY]
    r = records.site_availability_record("S1", key[0], a, ports=1)
    _validator("site_availability.v1.json")(r)
    assert r["uptime"] == 1 and r["available_ms"] == DAY
    assert len(records.site_availability_row(r)) == _columns("site_availability")
    assert len(records.connector_availability_row("S1", closed[0])) == _columns("connector_availability")
    for u in uptimes:
        r = records.port_uptime_record("S1", u, T0)
        _validator("port_uptime.v1.json")(r)
        assert r["uptime_percent"] == pytest.approx(100)
        assert len(records.port_uptime_row(r)) == _columns("port_uptime")


def test_alert_record() -> None:
    tracked = TrackedAlert(AlertKey(AlertType.CHARGER_OFFLINE, "S1", "C1"), summary="C1 silent")
    for notice in (Notice("raise", T0, None, 1), Notice("resolve", T0, T0 + 60_000, 2)):
        _validator("alert.v1.json")(codec.alert_record(tracked, notice))
