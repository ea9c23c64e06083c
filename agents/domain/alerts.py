"""Alerts with a lifecycle on-call pipelines can use: identity, hysteresis, flapping.

Each alert is identified by a stable fingerprint over (type, site, charger, EVSE,
connector); it is the Alertmanager label identity and, prefixed, the PagerDuty Events
v2 ``dedup_key``. A condition must hold for ``raise_after`` before the alert fires and
be gone for ``clear_after`` before it resolves; an alert that keeps flipping is marked
flapping and needs a longer quiet time to resolve. ``observe`` records a condition
change at its event time; ``tick`` advances time (timers call it with no new data) and
returns what to send: raise, re-notify (while firing) or resolve.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from .timestamps import iso_ms


class AlertType(StrEnum):
    CONNECTOR_FAULT = "connector_fault"
    CONNECTOR_WARNING = "connector_warning"  # errorCode with a status that still works
    CHARGER_OFFLINE = "charger_offline"
    SITE_NO_AVAILABLE_CONNECTOR = "site_no_available_connector"
    INGESTION_STALLED = "ingestion_stalled"  # many chargers silent at once: our side, not theirs


SEVERITY = {
    AlertType.CONNECTOR_FAULT: "critical",
    AlertType.CONNECTOR_WARNING: "warning",
    AlertType.CHARGER_OFFLINE: "critical",
    AlertType.SITE_NO_AVAILABLE_CONNECTOR: "critical",
    AlertType.INGESTION_STALLED: "critical",
}


@dataclass(frozen=True, slots=True)
class AlertKey:
    type: AlertType
    site_id: str
    charger_id: str = ""
    evse_id: int | None = None
    connector_id: int | None = None

    @property
    def fingerprint(self) -> str:
        parts = (self.type.value, self.site_id, self.charger_id, str(self.evse_id), str(self.connector_id))
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]

    @property
    def dedup_key(self) -> str:
        """PagerDuty Events v2 dedup_key (at most 255 characters)."""
        return f"chargestream-{self.type.value}-{self.fingerprint}"

    def labels(self) -> dict[str, str]:
        out = {
            "alertname": self.type.value,
            "severity": SEVERITY[self.type],
            "site_id": self.site_id,
            "fingerprint": self.fingerprint,
        }
        if self.charger_id:
            out["charger_id"] = self.charger_id
        if self.evse_id is not None:
            out["evse_id"] = str(self.evse_id)
        if self.connector_id is not None:
            out["connector_id"] = str(self.connector_id)
        return out


@dataclass(frozen=True, slots=True)
class AlertRules:
    raise_after_ms: int = 60_000
    clear_after_ms: int = 120_000
    renotify_ms: int = 120_000  # Alertmanager wants active alerts re-sent every 30 s - 3 min
    flap_window_ms: int = 3_600_000
    flap_threshold: int = 4  # state changes within the window that make an alert flapping
    flapping_clear_factor: int = 4


Phase = Literal["inactive", "pending", "firing", "clearing"]


@dataclass(slots=True)
class AlertState:
    phase: Phase = "inactive"
    since_ms: int = 0  # when the condition last became true (pending) or false (clearing)
    starts_at_ms: int | None = None  # when the firing alert's condition began
    last_sent_ms: int | None = None
    flips: list[int] = field(default_factory=list)  # condition changes within the flap window

    def flapping(self, rules: AlertRules) -> bool:
        return len(self.flips) >= rules.flap_threshold


@dataclass(frozen=True, slots=True)
class Notice:
    """What to send: a raise, a re-notification of a firing alert, or its resolution."""

    kind: Literal["raise", "renotify", "resolve"]
    starts_at_ms: int
    ends_at_ms: int | None
    flap_count: int


def observe(state: AlertState, condition: bool, at_ms: int, rules: AlertRules) -> None:
    """The condition is (or is no longer) true from ``at_ms`` on (event time)."""
    active = state.phase in ("pending", "firing")
    if condition == active:
        return
    at_ms = max(at_ms, state.since_ms)  # read late, a change cannot end a phase before it began
    state.flips = [t for t in state.flips if t > at_ms - rules.flap_window_ms] + [at_ms]
    if condition:
        state.phase = "firing" if state.phase == "clearing" else "pending"  # clearing -> firing: a flap
        if state.phase == "pending":
            state.since_ms = at_ms
    else:
        state.phase = "clearing" if state.phase == "firing" else "inactive"
        state.since_ms = at_ms


def tick(state: AlertState, now_ms: int, rules: AlertRules) -> Notice | None:
    """Advance to ``now_ms``: fire what held long enough, resolve what stayed clear, re-notify."""
    flaps = len(state.flips)
    if state.phase == "pending" and now_ms - state.since_ms >= rules.raise_after_ms:
        state.phase, state.starts_at_ms, state.last_sent_ms = "firing", state.since_ms, now_ms
        return Notice("raise", state.since_ms, None, flaps)
    if state.phase == "clearing":
        quiet = rules.clear_after_ms * (rules.flapping_clear_factor if state.flapping(rules) else 1)
        if now_ms - state.since_ms >= quiet:
            starts = state.starts_at_ms if state.starts_at_ms is not None else state.since_ms
            state.phase, state.starts_at_ms, state.last_sent_ms = "inactive", None, now_ms
            return Notice("resolve", starts, state.since_ms, flaps)
    due = state.last_sent_ms is None or now_ms - state.last_sent_ms >= rules.renotify_ms
    if state.phase in ("firing", "clearing") and state.starts_at_ms is not None and due:
        state.last_sent_ms = now_ms
        return Notice("renotify", state.starts_at_ms, None, flaps)
    return None


def alertmanager_payload(
    key: AlertKey, notice: Notice, now_ms: int, rules: AlertRules, *, summary: str, generator_url: str = ""
) -> dict[str, Any]:
    """One alert for POST /api/v2/alerts: firing ones end in the future and must be re-sent;
    a resolution sets endsAt to when the condition cleared."""
    ends = notice.ends_at_ms if notice.kind == "resolve" else now_ms + 3 * rules.renotify_ms
    return {
        "labels": key.labels(),
        "annotations": {"summary": summary, "dedup_key": key.dedup_key, "flap_count": str(notice.flap_count)},
        "startsAt": iso_ms(notice.starts_at_ms),
        "endsAt": iso_ms(ends or now_ms),
        "generatorURL": generator_url,
    }


def pagerduty_event(key: AlertKey, notice: Notice, summary: str, routing_key: str) -> dict[str, Any]:
    """A PagerDuty Events v2 event for the same alert (trigger / resolve by dedup_key)."""
    return {
        "routing_key": routing_key,
        "event_action": "resolve" if notice.kind == "resolve" else "trigger",
        "dedup_key": key.dedup_key,
        "payload": {
            "summary": summary,
            "source": key.charger_id or key.site_id,
            "severity": SEVERITY[key.type],
            "timestamp": iso_ms(notice.starts_at_ms),
            "custom_details": key.labels(),
        },
    }
