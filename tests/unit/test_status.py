"""Connector status: normalisation of real-world status messages and event-time state."""

from __future__ import annotations

from agents.domain.envelope import Envelope, decode
from agents.domain.status import ConnectorState, StatusClass, StatusEvent, fault_events, status_events
from agents.domain.validation import validate
from tests.ocpp_fixtures import raw

T0 = 1_795_521_600_000


def _env(name: str) -> tuple[Envelope, list[str]]:
    env = decode(raw(name), 1 << 20)
    assert isinstance(env, Envelope)
    quirks = validate(env)
    assert isinstance(quirks, list), quirks
    return env, quirks


def test_invalid_error_code_is_normalised_counted_and_kept() -> None:
    env, quirks = _env("v16_status_invalid_error_code")
    [e] = status_events(env)
    assert (e.evse_id, e.status_class, e.error_code, e.vendor_error_code) == (
        2,
        StatusClass.FAULTED,
        "OtherError",
        "Error",
    )
    assert quirks == ["invalid_error_code"]


def test_missing_timestamp_uses_receipt_and_error_with_working_status_is_a_warning() -> None:
    env, _ = _env("v16_status_no_timestamp_warning")
    [e] = status_events(env)
    assert e.ts_ms == T0 + 5000
    assert e.status_class == StatusClass.OCCUPIED and e.warning


def test_201_status_notification_from_a_call_array() -> None:
    env, _ = _env("v201_status_notification")
    [e] = status_events(env)
    assert (e.evse_id, e.connector_id, e.status_class) == (1, 1, StatusClass.OCCUPIED)
    assert not e.warning


def test_201_notify_event_problem_raises_and_cleared_clears() -> None:
    env, _ = _env("v201_notify_event_fault")
    [f] = fault_events(env)  # the temperature reading is not a problem report
    assert (f.evse_id, f.connector_id, f.component, f.cleared, f.tech_code) == (
        1,
        1,
        "Connector",
        False,
        "E042",
    )
    state = ConnectorState()
    assert state.apply_fault(f) and state.faulted
    env2, _ = _env("v201_notify_event_cleared")
    [cleared] = fault_events(env2)
    assert cleared.cleared and state.apply_fault(cleared) and not state.faulted


def _ev(t_s: int, status: str) -> StatusEvent:
    return StatusEvent("C", 1, 1, T0 + t_s * 1000, status, "NoError")


def test_a_late_older_status_never_overwrites_a_newer_one() -> None:
    state = ConnectorState()
    assert state.apply(_ev(60, "Charging"))
    assert not state.apply(_ev(30, "Faulted"))  # arrives later, happened earlier
    assert state.current is not None and state.current.status == "Charging"


def test_the_class_in_force_does_not_depend_on_which_topic_was_read_first() -> None:
    """A 2.0.1 fault (NotifyEvent topic) and the statuses around it (StatusNotification
    topic): every reading order gives the same time line."""
    facts = [
        (0, "", "available"),
        (100_000, "Connector/Problem", "open"),
        (100_000, "", "faulted"),
        (200_000, "Connector/Problem", "clear"),
        (200_000, "", "available"),
        (300_000, "", "occupied"),
    ]
    want = [
        (T0, StatusClass.AVAILABLE),
        (T0 + 100_000, StatusClass.FAULTED),
        (T0 + 200_000, StatusClass.AVAILABLE),
        (T0 + 300_000, StatusClass.OCCUPIED),
    ]
    for order in (facts, facts[::-1], facts[1::2] + facts[::2]):
        state = ConnectorState()
        for t, source, value in order:
            state.note(T0 + t, source, value)
        assert state.classes_from(T0) == want, order
    # A fault read before an older status: the status is not faulted.
    state = ConnectorState()
    state.note(T0 + 100_000, "Connector/Problem", "open")
    state.note(T0, "", "available")
    assert state.classes_from(T0) == [(T0, StatusClass.AVAILABLE), (T0 + 100_000, StatusClass.FAULTED)]


def test_old_facts_are_compacted_to_the_state_they_leave() -> None:
    state = ConnectorState()
    state.note(T0, "Connector/Problem", "open")
    state.note(T0 + 1000, "Tripped/Fault", "open")
    state.note(T0 + 2000, "Tripped/Fault", "clear")
    for minute in range(120):
        state.note(T0 + minute * 60_000 + 5000, "", "available" if minute % 2 else "occupied")
    assert len(state.facts) == 61 + 2  # the last hour (both ends), the status before it, the open fault
    assert "Tripped/Fault" not in {source for _, source, _ in state.facts}
    assert state.class_at(T0 + 119 * 60_000 + 5000) == StatusClass.FAULTED  # still open
