"""One charger's status, liveness and alerts, updated by messages and by clock ticks.

``on_message`` is called for every valid message of the charger (any message proves it
is alive); ``on_tick`` by timers, with nothing arriving, to find silence. Both only
record conditions; ``due_notices`` turns them, with the alert hysteresis, into what to
send. Connector keys are "<evse>/<connector>"; EVSE 0 is the whole charger.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .alerts import AlertKey, AlertRules, AlertState, AlertType, Notice, observe, tick
from .liveness import Liveness, LivenessRules
from .status import STATUS_SOURCE, ConnectorState, FaultEvent, StatusClass, StatusEvent


@dataclass(slots=True)
class TrackedAlert:
    key: AlertKey
    state: AlertState = field(default_factory=AlertState)
    summary: str = ""


@dataclass(slots=True, init=False)
class ChargerStatus:
    """A charger's liveness, connectors and alerts (own __init__: one is made per decode, see
    agents/domain/__init__.py)."""

    site_id: str
    liveness: Liveness
    connectors: dict[str, ConnectorState]
    alerts: dict[str, TrackedAlert]  # by fingerprint
    partition: int

    def __init__(
        self,
        site_id: str,
        liveness: Liveness,
        connectors: dict[str, ConnectorState] | None = None,
        alerts: dict[str, TrackedAlert] | None = None,
        partition: int = -1,
    ) -> None:
        self.site_id = site_id
        self.liveness = liveness
        self.connectors = {} if connectors is None else connectors
        self.alerts = {} if alerts is None else alerts
        self.partition = partition

    def connector(self, evse_id: int, connector_id: int) -> ConnectorState:
        return self.connectors.setdefault(f"{evse_id}/{connector_id}", ConnectorState())

    def current_classes(self) -> dict[str, StatusClass]:
        """Each connector's class now; all unknown while the charger is offline."""
        offline = self.liveness.offline_since_ms is not None
        return {
            k: StatusClass.UNKNOWN if offline or c.current is None else c.current.status_class
            for k, c in self.connectors.items()
        }


def new_status(site_id: str, received_at_ms: int, interval_s: float | None) -> ChargerStatus:
    return ChargerStatus(site_id, Liveness(received_at_ms, interval_s))


def _alert(
    s: ChargerStatus,
    charger_id: str,
    kind: AlertType,
    *,
    evse: int | None = None,
    connector: int | None = None,
    summary: str = "",
) -> TrackedAlert:
    key = AlertKey(kind, s.site_id, charger_id, evse, connector)
    tracked = s.alerts.setdefault(key.fingerprint, TrackedAlert(key))
    if summary:
        tracked.summary = summary
    return tracked


def on_message(s: ChargerStatus, charger_id: str, received_at_ms: int, rules: AlertRules) -> bool:
    """Any message: the charger is alive (an offline alert, if any, starts to clear).
    True if this brings the charger back online."""
    offline_since = s.liveness.seen(received_at_ms)
    if offline_since is not None:
        observe(_alert(s, charger_id, AlertType.CHARGER_OFFLINE).state, False, received_at_ms, rules)
    return offline_since is not None


def on_status(s: ChargerStatus, e: StatusEvent, rules: AlertRules) -> bool:
    """A status notification; True if it became the connector's current status."""
    conn = s.connector(e.evse_id, e.connector_id)
    conn.note(e.ts_ms, STATUS_SOURCE, e.status_class.value)
    if not conn.apply(e):
        return False  # older than what we know: history and time line only
    where = _where(e.charger_id, e.evse_id)
    detail = f"{e.error_code or 'no error code'}{', ' + e.info if e.info else ''}"
    fault = f"{where} faulted ({detail})"
    _connector_alert(s, e, AlertType.CONNECTOR_FAULT, condition=conn.faulted, summary=fault, rules=rules)
    warning = f"{where} reports {e.error_code} while {e.status}"
    _connector_alert(s, e, AlertType.CONNECTOR_WARNING, condition=e.warning, summary=warning, rules=rules)
    return True


def on_fault(s: ChargerStatus, e: FaultEvent, rules: AlertRules) -> bool:
    """A NotifyEvent fault raised or cleared; True if the connector's open faults changed."""
    conn = s.connector(e.evse_id, e.connector_id)
    conn.note(e.ts_ms, e.source, "clear" if e.cleared else "open")
    changed = conn.apply_fault(e)
    if changed:
        code = f" {e.tech_code}" if e.tech_code else ""
        summary = f"{_where(e.charger_id, e.evse_id)}: {e.component} {e.variable}{code}"
        _connector_alert(
            s, e, AlertType.CONNECTOR_FAULT, condition=conn.faulted, summary=summary, rules=rules
        )
    return changed


def _where(charger_id: str, evse_id: int) -> str:
    return f"{charger_id} EVSE {evse_id}" if evse_id else charger_id


def _connector_alert(
    s: ChargerStatus,
    e: StatusEvent | FaultEvent,
    kind: AlertType,
    *,
    condition: bool,
    summary: str,
    rules: AlertRules,
) -> None:
    """Feed a connector's alert its condition at the event's time."""
    tracked = _alert(s, e.charger_id, kind, evse=e.evse_id, connector=e.connector_id, summary=summary)
    observe(tracked.state, condition, e.ts_ms, rules)


def newly_offline(s: ChargerStatus, now_ms: int, rules: LivenessRules) -> int | None:
    """When the charger went offline, if that happened by ``now_ms`` and is news."""
    return s.liveness.check(now_ms, rules)


def mark_offline(s: ChargerStatus, charger_id: str, since_ms: int, rules: AlertRules) -> None:
    summary = f"{charger_id} at {s.site_id} silent since {since_ms // 1000} (epoch s)"
    observe(_alert(s, charger_id, AlertType.CHARGER_OFFLINE, summary=summary).state, True, since_ms, rules)


def withdraw_offline(s: ChargerStatus, charger_id: str) -> bool:
    """Forget an offline alert that has not fired yet (its silence turned out to be a storm)."""
    fp = AlertKey(AlertType.CHARGER_OFFLINE, s.site_id, charger_id).fingerprint
    tracked = s.alerts.get(fp)
    if tracked is None or tracked.state.phase != "pending":
        return False
    del s.alerts[fp]
    return True


def due_notices(s: ChargerStatus, now_ms: int, rules: AlertRules) -> list[tuple[TrackedAlert, Notice]]:
    out = []
    for fp, tracked in list(s.alerts.items()):
        notice = tick(tracked.state, now_ms, rules)
        if notice is not None:
            out.append((tracked, notice))
        if tracked.state.phase == "inactive" and notice is None and not tracked.state.flips:
            del s.alerts[fp]  # never fired and long quiet: nothing to remember
    return out
