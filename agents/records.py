"""Derived-topic records for connector status and availability, and the Cassandra rows
made from them: what a consumer reads on a topic is what the table holds.

Schemas: schemas/connector_status.v1.json, connector_state.v1.json, site_status.v1.json,
site_availability.v1.json, port_uptime.v1.json.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Any

from .domain.availability import Availability
from .domain.charger_status import ChargerStatus
from .domain.site_timeline import ClosedWindow, PortUptime
from .domain.status import StatusClass, StatusEvent
from .domain.timestamps import iso_ms

Record = dict[str, Any]
CLASSES = [c.value for c in StatusClass]


def _key(connector: str) -> tuple[int, int]:
    evse, conn = connector.split("/")
    return int(evse), int(conn)


def _dt(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _month(ts_ms: int) -> date:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).date().replace(day=1)


# --- chargestream.connector.status.v1: every status, as it arrived -----------------------


def connector_status_record(site_id: str, e: StatusEvent, received_at_ms: int, current: bool) -> Record:
    return {
        "schema": "chargestream.connector.status.v1",
        "site_id": site_id,
        "charger_id": e.charger_id,
        "evse_id": e.evse_id,
        "connector_id": e.connector_id,
        "ts": iso_ms(e.ts_ms),
        "status": e.status,
        "status_class": e.status_class.value,
        "error_code": e.error_code,
        "vendor_error_code": e.vendor_error_code,
        "info": e.info,
        "received_at": iso_ms(received_at_ms),
        "current": current,
    }


def connector_status_row(r: Record) -> tuple[Any, ...]:
    ts = _dt(r["ts"])
    return (
        r["charger_id"],
        ts.date(),
        ts,
        r["evse_id"],
        r["connector_id"],
        r["site_id"],
        r["status"],
        r["status_class"],
        r["error_code"],
        r["vendor_error_code"],
        r["info"],
        _dt(r["received_at"]),
        r["current"],
    )


# --- chargestream.connector.state.v1 (compacted, keyed by charger): the latest state ----


def connector_state_record(charger_id: str, s: ChargerStatus, updated_at_ms: int) -> Record:
    online = s.liveness.offline_since_ms is None
    connectors = []
    for key, c in sorted(s.connectors.items()):
        evse, conn = _key(key)
        cur = c.current
        reported = StatusClass.FAULTED if c.faulted else (cur.status_class if cur else StatusClass.UNKNOWN)
        connectors.append(
            {
                "evse_id": evse,
                "connector_id": conn,
                "status": cur.status if cur else None,
                "status_class": reported.value if online else StatusClass.UNKNOWN.value,
                "reported_class": reported.value,
                "error_code": cur.error_code if cur else None,
                "since": iso_ms(cur.ts_ms) if cur else None,
                "open_faults": sorted(c.faults),
            }
        )
    return {
        "schema": "chargestream.connector.state.v1",
        "site_id": s.site_id,
        "charger_id": charger_id,
        "online": online,
        "offline_since": None if online else iso_ms(s.liveness.offline_since_ms or 0),
        "last_seen": iso_ms(s.liveness.last_seen_ms),
        "updated_at": iso_ms(updated_at_ms),
        "connectors": connectors,
    }


def connector_state_rows(r: Record, only: Collection[tuple[int, int]] | None = None) -> list[tuple[Any, ...]]:
    """connector_state rows, each ending with its write timestamp (the state's event time,
    us): of every connector, or of those ``only`` names ((evse, connector) pairs)."""
    updated = _dt(r["updated_at"])
    stamp = int(updated.timestamp() * 1_000_000)
    return [
        (
            r["site_id"],
            r["charger_id"],
            c["evse_id"],
            c["connector_id"],
            c["status"],
            c["status_class"],
            c["error_code"],
            _dt(c["since"]) if c["since"] else None,
            r["online"],
            updated,
            stamp,
        )
        for c in r["connectors"]
        if only is None or (c["evse_id"], c["connector_id"]) in only
    ]


# --- chargestream.site.status.v1 (compacted, keyed by site): ports per class now --------


def site_status_record(site_id: str, counts: dict[StatusClass, int], updated_at_ms: int) -> Record:
    return {
        "schema": "chargestream.site.status.v1",
        "site_id": site_id,
        "ports": sum(counts.values()),
        **{c.value: counts.get(c, 0) for c in StatusClass},
        "updated_at": iso_ms(updated_at_ms),
    }


def site_status_row(r: Record) -> tuple[Any, ...]:
    return (r["site_id"], *(r[c] for c in CLASSES), r["ports"], _dt(r["updated_at"]))


# --- chargestream.site.availability.v1: one record per site and closed window ----------


def _times(a: Availability) -> dict[str, int]:
    return {f"{c.value}_ms": a.ms.get(c, 0) for c in StatusClass}


def site_availability_record(site_id: str, length_ms: int, a: Availability, ports: int) -> Record:
    return {
        "schema": "chargestream.site.availability.v1",
        "site_id": site_id,
        "window_s": length_ms // 1000,
        "window_start": iso_ms(a.window_start),
        "window_end": iso_ms(a.window_end),
        **_times(a),
        "excluded_ms": a.excluded_ms,
        "span_ms": a.span_ms,
        "uptime": a.uptime,
        "unknown_share": a.unknown_ms / a.span_ms if a.span_ms else None,
        "ports": ports,
    }


def site_availability_row(r: Record) -> tuple[Any, ...]:
    start = _dt(r["window_start"])
    return (
        r["site_id"],
        r["window_s"],
        start.date().replace(day=1),
        start,
        *(r[f"{c}_ms"] for c in CLASSES),
        r["excluded_ms"],
        r["span_ms"],
        r["uptime"],
        r["unknown_share"],
        r["ports"],
    )


def connector_availability_row(site_id: str, w: ClosedWindow) -> tuple[Any, ...]:
    a = w.availability
    evse, conn = _key(w.connector)
    return (
        w.charger_id,
        w.length_ms // 1000,
        _month(a.window_start),
        datetime.fromtimestamp(a.window_start / 1000, UTC),
        evse,
        conn,
        site_id,
        *(a.ms.get(c, 0) for c in StatusClass),
        a.excluded_ms,
        a.span_ms,
        a.uptime,
    )


# --- chargestream.port.uptime.v1 (compacted): NEVI figures per port and period ----------


def port_uptime_record(site_id: str, u: PortUptime, updated_at_ms: int) -> Record:
    evse, conn = _key(u.connector)
    return {
        "schema": "chargestream.port.uptime.v1",
        "site_id": site_id,
        "charger_id": u.charger_id,
        "evse_id": evse,
        "connector_id": conn,
        "period": u.period,
        "period_start": iso_ms(u.period_start),
        "period_minutes": round(u.period_minutes, 6),
        "outage_minutes": round(u.outage_minutes, 6),
        "excluded_minutes": round(u.excluded_minutes, 6),
        "uptime_percent": u.uptime_percent,
        "updated_at": iso_ms(updated_at_ms),
    }


def port_uptime_key(r: Record) -> bytes:
    return f"{r['charger_id']}|{r['evse_id']}/{r['connector_id']}|{r['period']}|{r['period_start']}".encode()


def port_uptime_row(r: Record) -> tuple[Any, ...]:
    return (
        r["site_id"],
        r["period"],
        _dt(r["period_start"]).date(),
        r["charger_id"],
        r["evse_id"],
        r["connector_id"],
        r["period_minutes"],
        r["outage_minutes"],
        r["excluded_minutes"],
        r["uptime_percent"],
        _dt(r["updated_at"]),
    )
