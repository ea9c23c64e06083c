"""Connector status: OCPP status messages -> normalised status events -> connector state.

Sources: 1.6 StatusNotification (status, errorCode, vendorErrorCode, info; timestamp
optional: receipt time then), 2.0.1 StatusNotification (evseId, connectorId,
connectorStatus) and 2.0.1 NotifyEvent faults (``cleared`` clears). State is kept in
event time: a status that arrives late but is older than the current one goes into the
history and never overwrites what is newer. Connector 0 / EVSE 0 is the whole charger.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .envelope import Envelope
from .timestamps import parse_iso_ms, trusted_time


class StatusClass(StrEnum):
    AVAILABLE = "available"
    OCCUPIED = "occupied"
    RESERVED = "reserved"
    UNAVAILABLE = "unavailable"  # planned / operator
    FAULTED = "faulted"
    UNKNOWN = "unknown"  # derived: nothing heard for too long


UP = frozenset({StatusClass.AVAILABLE, StatusClass.OCCUPIED, StatusClass.RESERVED})

_CLASS_OF = {
    "Available": StatusClass.AVAILABLE,
    "Preparing": StatusClass.OCCUPIED,
    "Charging": StatusClass.OCCUPIED,
    "SuspendedEV": StatusClass.OCCUPIED,
    "SuspendedEVSE": StatusClass.OCCUPIED,
    "Finishing": StatusClass.OCCUPIED,
    "Occupied": StatusClass.OCCUPIED,
    "Reserved": StatusClass.RESERVED,
    "Unavailable": StatusClass.UNAVAILABLE,
    "Faulted": StatusClass.FAULTED,
}
ERROR_CODES_16 = frozenset(
    {
        "ConnectorLockFailure",
        "EVCommunicationError",
        "GroundFailure",
        "HighTemperature",
        "InternalError",
        "LocalListConflict",
        "NoError",
        "OtherError",
        "OverCurrentFailure",
        "PowerMeterFailure",
        "PowerSwitchFailure",
        "ReaderFailure",
        "ResetFailure",
        "UnderVoltage",
        "OverVoltage",
        "WeakSignal",
    }
)


def class_of(status: str) -> StatusClass:
    return _CLASS_OF.get(status, StatusClass.UNKNOWN)


@dataclass(slots=True, init=False)
class StatusEvent:
    """A connector's status as a message gave it. A value (one per connector in a decoded
    charger status: not frozen, own __init__; see agents/domain/__init__.py)."""

    charger_id: str
    evse_id: int  # 1.6 connectorId; 0 = the whole charger
    connector_id: int
    ts_ms: int
    status: str  # as OCPP names it (Charging, Occupied, Faulted, ...)
    error_code: str | None  # 1.6 only; "NoError" when fine
    vendor_error_code: str | None
    info: str | None

    def __init__(  # noqa: PLR0917 -- the fields, in order, as the generated one took them
        self,
        charger_id: str,
        evse_id: int,
        connector_id: int,
        ts_ms: int,
        status: str,
        error_code: str | None = None,
        vendor_error_code: str | None = None,
        info: str | None = None,
    ) -> None:
        self.charger_id = charger_id
        self.evse_id = evse_id
        self.connector_id = connector_id
        self.ts_ms = ts_ms
        self.status = status
        self.error_code = error_code
        self.vendor_error_code = vendor_error_code
        self.info = info

    @property
    def status_class(self) -> StatusClass:
        return class_of(self.status)

    @property
    def warning(self) -> bool:
        """An error reported with a status that still works (WeakSignal while Preparing)."""
        return self.error_code not in (None, "NoError") and self.status_class != StatusClass.FAULTED


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """A 2.0.1 NotifyEvent about a problem: raised, or cleared (``cleared`` true)."""

    charger_id: str
    evse_id: int
    connector_id: int
    ts_ms: int
    component: str
    variable: str
    cleared: bool
    tech_code: str | None = None

    @property
    def source(self) -> str:
        return f"{self.component}/{self.variable}"


def fix_status_16(payload: dict[str, Any], quirks: list[str]) -> None:
    """Before schema validation: real chargers send error codes 1.6 does not have ("Error")."""
    code = payload.get("errorCode")
    if isinstance(code, str) and code not in ERROR_CODES_16:
        quirks.append("invalid_error_code")
        if not payload.get("vendorErrorCode"):
            payload["vendorErrorCode"] = code[:50]  # keep what the charger said
        payload["errorCode"] = "OtherError"


def status_events(env: Envelope) -> list[StatusEvent]:
    p = env.payload
    if env.action != "StatusNotification":
        return []
    ts = _ts(p.get("timestamp"), env.received_at_ms)
    if env.ocpp_version == "1.6":
        c = int(p["connectorId"])
        return [
            StatusEvent(
                env.charger_id,
                c,
                1 if c else 0,
                ts,
                p["status"],
                p["errorCode"],
                p.get("vendorErrorCode"),
                p.get("info"),
            )
        ]
    return [StatusEvent(env.charger_id, int(p["evseId"]), int(p["connectorId"]), ts, p["connectorStatus"])]


_PROBLEM_VARIABLES = frozenset({"Problem", "Fault", "Tripped"})


def fault_events(env: Envelope) -> list[FaultEvent]:
    """NotifyEvent data that report a problem (Problem/Fault/Tripped variables, or a techCode)."""
    if env.action != "NotifyEvent":
        return []
    out = []
    for d in env.payload.get("eventData") or ():
        variable = d["variable"]["name"]
        problem = variable in _PROBLEM_VARIABLES or d.get("techCode") is not None
        if not problem:
            continue
        raised = str(d.get("actualValue", "")).lower() not in ("false", "0", "")
        evse = d["component"].get("evse") or {}
        out.append(
            FaultEvent(
                env.charger_id,
                int(evse.get("id", 0)),
                int(evse.get("connectorId", 0)),
                _ts(d.get("timestamp"), env.received_at_ms),
                d["component"]["name"],
                variable,
                cleared=bool(d.get("cleared")) or not raised,
                tech_code=d.get("techCode"),
            )
        )
    return out


def _ts(text: Any, received_at_ms: int) -> int:
    """The event's own time (optional in 1.6: receipt time then), unless the clock lies."""
    parsed = parse_iso_ms(text) if isinstance(text, str) else None
    return trusted_time(parsed[0], received_at_ms, []) if parsed else received_at_ms


STATUS_SOURCE = ""  # the source of status facts; NotifyEvent faults use "component/variable"
FACTS_KEPT_MS = 3_600_000  # well past stage 2's grace: older facts matter only as the state they leave
Fact = tuple[int, str, str]  # (event time, source, status class or "open"/"clear")


@dataclass(slots=True, init=False)
class ConnectorState:
    """One connector's current status and open faults, in event time. Its history goes to
    the status history topic and table, and its time line to the site's stage-2 entry.

    ``facts`` is the recent time line both come from. A status and a NotifyEvent fault come
    on different topics, read in no fixed order; the class in force at a moment is worked
    out from the facts at or before it, so it does not depend on which was read first (a
    fault read before an older status must not make that status faulted). Own __init__: see
    agents/domain/__init__.py."""

    current: StatusEvent | None
    faults: dict[str, FaultEvent]  # open NotifyEvent faults by source
    facts: list[Fact]  # sorted

    def __init__(
        self,
        current: StatusEvent | None = None,
        faults: dict[str, FaultEvent] | None = None,
        facts: list[Fact] | None = None,
    ) -> None:
        self.current = current
        self.faults = {} if faults is None else faults
        self.facts = [] if facts is None else facts

    def note(self, ts_ms: int, source: str, value: str) -> None:
        """Add a fact (a repeat of one replaces it), then forget what no longer matters."""
        self.facts = [f for f in self.facts if f[:2] != (ts_ms, source)]
        insort(self.facts, (ts_ms, source, value))
        cut = self.facts[-1][0] - FACTS_KEPT_MS
        if self.facts[0][0] < cut:
            self.facts = _compact(self.facts, cut)

    def class_at(self, ts_ms: int) -> StatusClass:
        """The class in force at a moment: faulted while a fault is open, else the status."""
        in_force = StatusClass.UNKNOWN
        for t, cls in self._classes():
            if t > ts_ms:
                break
            in_force = cls
        return in_force

    def classes_from(self, ts_ms: int) -> list[tuple[int, StatusClass]]:
        """The class in force at each fact's time from ``ts_ms`` on: a fact read late can
        change what follows it (usually nothing follows, and this is one entry)."""
        return [(t, cls) for t, cls in self._classes() if t >= ts_ms]

    def _classes(self) -> Iterator[tuple[int, StatusClass]]:
        """One pass over the facts: the class in force from each fact time on."""
        status, open_faults = StatusClass.UNKNOWN.value, set()
        for i, (t, source, value) in enumerate(self.facts):
            if source == STATUS_SOURCE:
                status = value
            elif value == "open":
                open_faults.add(source)
            else:
                open_faults.discard(source)
            if i + 1 == len(self.facts) or self.facts[i + 1][0] != t:  # the last fact of its time
                yield t, StatusClass.FAULTED if open_faults else StatusClass(status)

    def apply(self, event: StatusEvent) -> bool:
        """Record a status; True if it is now the current one (not older than what we have)."""
        if self.current is None or event.ts_ms >= self.current.ts_ms:
            self.current = event
            return True
        return False

    def apply_fault(self, event: FaultEvent) -> bool:
        """Open or clear a NotifyEvent fault; True if the set of open faults changed."""
        key = event.source
        held = self.faults.get(key)
        if held is not None and held.ts_ms > event.ts_ms:
            return False  # an older report arriving late
        if event.cleared:
            return self.faults.pop(key, None) is not None
        self.faults[key] = event
        return held is None

    @property
    def faulted(self) -> bool:
        return bool(self.faults) or (
            self.current is not None and self.current.status_class == StatusClass.FAULTED
        )


def _compact(facts: list[Fact], cut: int) -> list[Fact]:
    """Before ``cut``, keep only each source's last fact (the state it leaves), and no
    fault that was cleared by then."""
    last: dict[str, Fact] = {}
    for f in facts:
        if f[0] < cut:
            last[f[1]] = f
    kept = [f for f in last.values() if f[1] == STATUS_SOURCE or f[2] == "open"]
    return sorted(kept) + [f for f in facts if f[0] >= cut]
