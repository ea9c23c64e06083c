"""A charger's status flow: faults raise and clear, silence goes offline, storms, codec."""

from __future__ import annotations

from agents import codec
from agents.domain.alerts import AlertRules, AlertType
from agents.domain.charger_status import (
    due_notices,
    mark_offline,
    new_status,
    newly_offline,
    on_message,
    on_status,
    withdraw_offline,
)
from agents.domain.liveness import LivenessRules
from agents.domain.status import StatusClass, StatusEvent

S = 1000
T0 = 1_795_521_600_000
ALERTS = AlertRules(raise_after_ms=10 * S, clear_after_ms=20 * S, renotify_ms=60 * S)
LIVE = LivenessRules(heartbeat_interval_s=30, missed_heartbeats=2, grace_s=10)


def _status(t_s: int, status: str, code: str = "NoError") -> StatusEvent:
    return StatusEvent("CP-1", 1, 1, T0 + t_s * S, status, code)


def test_fault_raises_after_hysteresis_and_resolves_when_available_again() -> None:
    s = new_status("SITE-A", T0, None)
    on_status(s, _status(0, "Faulted", "GroundFailure"), ALERTS)
    assert due_notices(s, T0 + 5 * S, ALERTS) == []
    [(alert, raised)] = due_notices(s, T0 + 10 * S, ALERTS)
    assert alert.key.type == AlertType.CONNECTOR_FAULT and raised.kind == "raise"
    assert "GroundFailure" in alert.summary
    on_status(s, _status(30, "Available"), ALERTS)
    [(_, resolved)] = due_notices(s, T0 + 50 * S, ALERTS)
    assert resolved.kind == "resolve" and resolved.ends_at_ms == T0 + 30 * S


def test_an_older_fault_arriving_late_raises_nothing() -> None:
    s = new_status("SITE-A", T0, None)
    on_status(s, _status(60, "Available"), ALERTS)
    assert not on_status(s, _status(30, "Faulted"), ALERTS)
    assert due_notices(s, T0 + 600 * S, ALERTS) == []


def test_silence_goes_offline_connectors_unknown_and_any_message_brings_it_back() -> None:
    s = new_status("SITE-A", T0, None)
    on_status(s, _status(0, "Charging"), ALERTS)
    assert newly_offline(s, T0 + 69 * S, LIVE) is None
    since = newly_offline(s, T0 + 70 * S, LIVE)
    assert since == T0 + 70 * S
    mark_offline(s, "CP-1", since, ALERTS)
    assert s.current_classes() == {"1/1": StatusClass.UNKNOWN}
    [(alert, raised)] = due_notices(s, T0 + 80 * S, ALERTS)
    assert alert.key.type == AlertType.CHARGER_OFFLINE and raised.starts_at_ms == T0 + 70 * S
    on_message(s, "CP-1", T0 + 100 * S, ALERTS)  # a heartbeat
    assert s.current_classes() == {"1/1": StatusClass.OCCUPIED}
    [(_, resolved)] = due_notices(s, T0 + 120 * S, ALERTS)
    assert resolved.kind == "resolve"


def test_an_offline_alert_not_yet_fired_can_be_withdrawn_in_a_storm() -> None:
    s = new_status("SITE-A", T0, None)
    since = newly_offline(s, T0 + 70 * S, LIVE)
    assert since is not None
    mark_offline(s, "CP-1", since, ALERTS)
    assert withdraw_offline(s, "CP-1")
    assert due_notices(s, T0 + 200 * S, ALERTS) == []  # nothing ever sent
    assert not withdraw_offline(s, "CP-1")


def test_status_round_trips_through_the_table_codec() -> None:
    s = new_status("SITE-A", T0, 15.0)
    on_status(s, _status(0, "Faulted", "OtherError"), ALERTS)
    due_notices(s, T0 + 10 * S, ALERTS)
    s.partition = 3
    again = codec.decode_status(codec.encode_status(s), "CP-1")
    assert again == s
