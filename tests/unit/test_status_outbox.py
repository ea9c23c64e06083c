"""Stage 1's status outbox (agents/streams/status.py): which connector_state rows a
message rewrites. Each row depends only on its connector and the charger's liveness."""

from __future__ import annotations

import orjson

from agents import records
from agents.domain.alerts import AlertRules
from agents.domain.charger_status import ChargerStatus, mark_offline, new_status, newly_offline
from agents.domain.envelope import Envelope, decode
from agents.domain.liveness import LivenessRules
from agents.streams.status import _apply

T0 = 1_795_521_600_000  # 2026-11-24T12:00:00Z
RULES = AlertRules()


def status(connector: int, state: str, at: str, seq: int) -> Envelope:
    doc = {
        "charger_id": "CP-1",
        "site_id": "SITE-A",
        "ocpp_version": "1.6",
        "action": "StatusNotification",
        "message_id": f"m{seq}",
        "received_at": f"2026-11-24T12:{at}Z",
        "payload": {
            "connectorId": connector,
            "status": state,
            "errorCode": "NoError",
            "timestamp": f"2026-11-24T12:{at}Z",
        },
    }
    env = decode(orjson.dumps(doc), 1 << 20)
    assert isinstance(env, Envelope)
    return env


def rows_written(s: ChargerStatus, env: Envelope) -> set[tuple[int, int]]:
    out = _apply(s, env, RULES)
    state = records.connector_state_record("CP-1", s, env.received_at_ms)
    return {(r[2], r[3]) for r in out.state_rows(state)}


def test_a_status_rewrites_its_connectors_row_and_liveness_every_row() -> None:
    s = new_status("SITE-A", T0, None)
    assert rows_written(s, status(1, "Available", "00:01", 1)) == {(1, 1)}
    assert rows_written(s, status(2, "Available", "00:02", 2)) == {(2, 1)}
    assert rows_written(s, status(2, "Charging", "00:03", 3)) == {(2, 1)}
    assert rows_written(s, status(2, "Available", "00:00", 4)) == set()  # older than known: history only
    since = newly_offline(s, T0 + 660_000, LivenessRules())  # silent past 2 x 300 s + 30 s
    assert since is not None
    mark_offline(s, "CP-1", since, RULES)
    # Back online: every row's charger_online changes, with the status of its own connector.
    assert rows_written(s, status(1, "Preparing", "11:00", 5)) == {(1, 1), (2, 1)}


def test_rows_of_named_connectors_only() -> None:
    s = new_status("SITE-A", T0, None)
    for i, (c, st) in enumerate([(1, "Available"), (2, "Charging")]):
        _apply(s, status(c, st, f"00:0{i}", i), RULES)
    state = records.connector_state_record("CP-1", s, T0 + 5000)
    assert [r[2:5] for r in records.connector_state_rows(state)] == [(1, 1, "Available"), (2, 1, "Charging")]
    assert [r[2:5] for r in records.connector_state_rows(state, {(2, 1)})] == [(2, 1, "Charging")]
