"""A scripted, deterministic fleet trace for the end-to-end tests, and its ground truth.

Sites and chargers (10 minutes of event time, one reading every 10-15 s):
- SITE-A: CP-A1 (1.6) EVSE 1 per-phase power without total + Wh register; EVSE 2
  energy-only in kWh; CP-A2 (1.6) register as sloppy strings (" 1234.50"), power in kW.
- SITE-B: CP-B1 (2.0.1) TransactionEvent: Started names the EVSE, Updated events name
  only the transaction; register in Wh with multiplier 3 (kWh), power in W.
- SITE-C: CP-C1 (1.6) energy-only; no site in its envelopes: the registry knows it.
- CP-X: a charger with no site anywhere (processed under "unassigned").
Messiness: exact re-sends (same message id), adjacent messages swapped, one reading
beyond grace (sent last), and malformed messages of four kinds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

STEP_S = {"CP-A1/1": 10, "CP-A1/2": 15, "CP-A2/1": 10, "CP-B1/1": 10, "CP-C1/1": 10, "CP-X/1": 20}
SITES = {"CP-A1": "SITE-A", "CP-A2": "SITE-A", "CP-B1": "SITE-B", "CP-C1": "SITE-C", "CP-X": "unassigned"}
REGISTRY = {"CP-A1": ("SITE-A", 2), "CP-A2": ("SITE-A", 1), "CP-B1": ("SITE-B", 1), "CP-C1": ("SITE-C", 1)}
DURATION_S = 600


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def power_w(evse_key: str, t_s: int) -> float:
    """A charging curve per EVSE: ramp, plateau, taper (deterministic)."""
    peak = {
        "CP-A1/1": 11_000,
        "CP-A1/2": 7_400,
        "CP-A2/1": 22_000,
        "CP-B1/1": 50_000,
        "CP-C1/1": 3_700,
        "CP-X/1": 7_000,
    }[evse_key]
    if t_s < 60:
        return peak * (0.3 + 0.7 * t_s / 60)
    if t_s > 420:
        return peak * max(0.2, 1 - (t_s - 420) / 300)
    return float(peak)


@dataclass
class Reading:
    evse_key: str
    ts_ms: int
    energy_wh: float
    power_w: float | None  # sent as measured power, or None for energy-only meters
    late: bool = False


@dataclass
class Trace:
    t0_ms: int
    messages: list[tuple[str, bytes, bytes]] = field(default_factory=list)  # (topic suffix, key, value)
    readings: list[Reading] = field(default_factory=list)  # ground truth, unique, incl. the late one
    malformed: list[tuple[bytes, str]] = field(default_factory=list)  # (value, expected reason)

    @property
    def end_ms(self) -> int:
        return self.t0_ms + DURATION_S * 1000


def build(t0_ms: int) -> Trace:
    trace = Trace(t0_ms)
    per_charger: dict[str, list[tuple[str, bytes]]] = {}
    for evse_key, step in STEP_S.items():
        charger, evse = evse_key.split("/")
        energy = 10_000.0 * (1 + len(evse_key) % 3)
        for t in range(0, DURATION_S, step):
            ts = t0_ms + t * 1000
            p = power_w(evse_key, t)
            if t:
                energy += p * step / 3600  # constant power over the step before this reading
            measured = p if evse_key in ("CP-A1/1", "CP-A2/1", "CP-B1/1") else None
            trace.readings.append(Reading(evse_key, ts, energy, measured))
            value = _envelope(charger, int(evse), ts, energy, measured=measured, t=t)
            per_charger.setdefault(charger, []).append(value)
    late = _late_reading(trace)
    timed: list[tuple[int, str, bytes, bytes]] = []
    for charger, msgs in per_charger.items():
        slots = [_received_ms(value) for _, value in msgs]  # send times, in order
        for i in range(3, len(msgs) - 1, 17):  # out of order: neighbours swap send slots
            msgs[i], msgs[i + 1] = msgs[i + 1], msgs[i]
        sends = [(slots[i], topic, value) for i, (topic, value) in enumerate(msgs)]
        sends += [(slots[i] + 30_000, *msgs[i]) for i in range(5, len(msgs), 23)]  # exact re-sends
        timed += [(t, topic, charger.encode(), value) for t, topic, value in sends]
    # All chargers interleaved by send time, as a CSMS would forward them.
    trace.messages += [(topic, key, value) for _, topic, key, value in sorted(timed, key=lambda m: m[0])]
    trace.messages += _malformed(trace)
    trace.messages.append(late)
    return trace


def _received_ms(value: bytes) -> int:
    received = orjson.loads(value)["received_at"]
    return int(datetime.fromisoformat(received).timestamp() * 1000)


def _envelope(
    charger: str, evse: int, ts: int, wh: float, *, measured: float | None, t: int
) -> tuple[str, bytes]:
    received = iso(ts + 2000)
    mid = f"{charger}-{evse}-{t}"
    if charger == "CP-B1":
        event = "Started" if t == 0 else "Updated"
        samples = [
            {
                "value": round(wh / 1000, 6),
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "Wh", "multiplier": 3},
            }
        ]
        if measured is not None:
            samples.append(
                {
                    "value": round(measured, 3),
                    "measurand": "Power.Active.Import",
                    "unitOfMeasure": {"unit": "W"},
                }
            )
        payload = {
            "eventType": event,
            "timestamp": iso(ts),
            "triggerReason": "MeterValuePeriodic",
            "seqNo": t // 10,
            "transactionInfo": {"transactionId": "tx-b1"},
            "meterValue": [{"timestamp": iso(ts), "sampledValue": samples}],
        }
        if event == "Started":
            payload["evse"] = {"id": evse, "connectorId": 1}
        doc: dict[str, Any] = {
            "charger_id": charger,
            "site_id": SITES[charger],
            "ocpp_version": "2.0.1",
            "action": "TransactionEvent",
            "message_id": mid,
            "received_at": received,
            "payload": payload,
        }
        return "ocpp.TransactionEvent", orjson.dumps(doc)
    samples = []
    if charger == "CP-A1" and evse == 1:
        assert measured is not None
        samples = [
            {"value": f"{measured / 3:.3f}", "measurand": "Power.Active.Import", "phase": ph, "unit": "W"}
            for ph in ("L1", "L2", "L3")
        ]
        samples.append({"value": f"{wh:.3f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"})
    elif charger == "CP-A1":
        samples = [{"value": f"{wh / 1000:.6f}", "unit": "kWh"}]  # default measurand: the register
    elif charger == "CP-A2":
        assert measured is not None
        samples = [
            {"value": f" {wh:.3f}", "measurand": "Energy.Active.Import.Register"},
            {"value": f"{measured / 1000:.6f}", "measurand": "Power.Active.Import", "unit": "kW"},
        ]
    else:
        samples = [{"value": f"{wh:.3f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
    doc = {
        "charger_id": charger,
        "ocpp_version": "1.6",
        "action": "MeterValues",
        "message_id": mid,
        "received_at": received,
        "payload": {
            "connectorId": evse,
            "transactionId": 1,
            "meterValue": [{"timestamp": iso(ts), "sampledValue": samples}],
        },
    }
    if charger in ("CP-A1", "CP-A2"):
        doc["site_id"] = SITES[charger]
    if charger == "CP-X":
        doc["payload"] = [2, mid, "MeterValues", doc["payload"]]  # as gateways log the OCPP-J CALL
        del doc["action"]
    return "ocpp.MeterValues", orjson.dumps(doc)


def _late_reading(trace: Trace) -> tuple[str, bytes, bytes]:
    """CP-C1 at minute 3, delivered 5 minutes after the trace ends: beyond any grace."""
    ts = trace.t0_ms + 185_000
    trace.readings.append(Reading("CP-C1/1", ts, 0.0, 4321.0, late=True))
    doc = {
        "charger_id": "CP-C1",
        "ocpp_version": "1.6",
        "action": "MeterValues",
        "message_id": "late-1",
        "received_at": iso(trace.end_ms + 300_000),
        "payload": {
            "connectorId": 1,
            "meterValue": [
                {
                    "timestamp": iso(ts),
                    "sampledValue": [{"value": "4321", "measurand": "Power.Active.Import", "unit": "W"}],
                }
            ],
        },
    }
    return "ocpp.MeterValues", b"CP-C1", orjson.dumps(doc)


def _malformed(trace: Trace) -> list[tuple[str, bytes, bytes]]:
    ok = {
        "charger_id": "CP-A1",
        "site_id": "SITE-A",
        "ocpp_version": "1.6",
        "action": "MeterValues",
        "received_at": iso(trace.t0_ms),
        "payload": {"connectorId": 1, "meterValue": []},
    }
    cases = {
        b'{"charger_id": "CP-A1", "broken json': "invalid_json",
        orjson.dumps(
            {
                **ok,
                "payload": {
                    "connectorId": "one",
                    "meterValue": [{"timestamp": iso(trace.t0_ms), "sampledValue": [{"value": "1"}]}],
                },
            }
        ): "schema_violation",
        orjson.dumps({**ok, "ocpp_version": "2.1"}): "unsupported_version",
        orjson.dumps({**ok, "padding": "x" * 300_000}): "oversized",
    }
    trace.malformed = list(cases.items())
    return [("ocpp.MeterValues", b"CP-A1", value) for value in cases]
