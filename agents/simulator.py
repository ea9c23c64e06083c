"""A fleet of chargers, simulated: the OCPP envelopes a CSMS would forward to Kafka, and
the ground truth behind them. Pure and deterministic for a seed; no I/O.

N sites x M chargers, mixed OCPP 1.6 and 2.0.1, one or two EVSEs each. Charging sessions
ramp up, hold and taper; idle connectors report on the clock. Heartbeats, faults and
recoveries (1.6 errorCodes incl. the invalid "Error"; 2.0.1 NotifyEvent), chargers going
offline (silent, then BootNotification), clocks that lie, exact re-sends, late and
out-of-order delivery, quirky payloads, and a share of malformed messages.

``messages()`` yields (send time, topic, key, value) in send order, lazily: a million
messages cost no more memory than a thousand. ``Truth`` is filled as they are generated.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

Message = tuple[int, str, bytes, bytes]  # (send ms, topic action, key, value)

ERRORS_16 = ("GroundFailure", "HighTemperature", "OverCurrentFailure", "PowerSwitchFailure", "Error")
RATED_W = (7_400.0, 11_000.0, 22_000.0, 50_000.0, 150_000.0)


@dataclass(frozen=True, slots=True)
class SimConfig:
    sites: int = 5
    chargers_per_site: int = 4
    seed: int = 1
    start_ms: int = 0
    duration_s: float = 600.0
    sample_interval_s: float = 10.0  # meter values while charging
    idle_sample_interval_s: float = 300.0  # clock-aligned meter values while idle
    heartbeat_interval_s: float = 60.0
    session_minutes: tuple[float, float] = (5.0, 40.0)
    idle_minutes: tuple[float, float] = (1.0, 20.0)
    share_v201: float = 0.3
    faults_per_hour: float = 0.5  # per charger
    fault_minutes: tuple[float, float] = (1.0, 10.0)
    offline_per_hour: float = 0.2
    offline_minutes: tuple[float, float] = (2.0, 15.0)
    share_clock_ahead: float = 0.02  # chargers whose clock runs 10 minutes ahead
    share_duplicate: float = 0.01  # messages re-sent (same message id)
    share_late: float = 0.01  # messages delivered 5-60 s late (out of order)
    share_quirky: float = 0.05  # sloppy strings, kW units, naive timestamps, phases only
    share_malformed: float = 0.002
    prefix: str = ""  # topic prefix: "<prefix>ocpp.MeterValues"


@dataclass
class Truth:
    """What the simulation did: counts, sessions, faults, silence, and what must be rejected."""

    messages: Counter[str] = field(default_factory=Counter)  # by topic
    malformed: Counter[str] = field(default_factory=Counter)  # by expected dead-letter reason
    duplicates: int = 0
    late: int = 0
    energy_wh: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # by site, in the run
    faults: list[dict[str, Any]] = field(default_factory=list)
    offline: list[dict[str, Any]] = field(default_factory=list)
    chargers: dict[str, dict[str, Any]] = field(default_factory=dict)  # registry entries

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "messages": dict(self.messages),
                "malformed": dict(self.malformed),
                "duplicates": self.duplicates,
                "late": self.late,
                "energy_wh": {k: round(v, 3) for k, v in sorted(self.energy_wh.items())},
                "faults": self.faults,
                "offline": self.offline,
                "chargers": self.chargers,
            },
            option=orjson.OPT_INDENT_2,
        )


def iso(ms: int, naive: bool = False) -> str:
    text = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "" if naive else "Z")


@dataclass
class _Charger:
    id: str
    site: str
    version: str
    evses: int
    rated_w: float
    clock_ahead_ms: int
    rnd: random.Random


def chargers(cfg: SimConfig) -> list[_Charger]:
    rnd = random.Random(cfg.seed)
    out = []
    for s in range(cfg.sites):
        for c in range(cfg.chargers_per_site):
            r = random.Random(rnd.getrandbits(64))
            out.append(
                _Charger(
                    id=f"CP-{s:04d}-{c:02d}",
                    site=f"SITE-{s:04d}",
                    version="2.0.1" if r.random() < cfg.share_v201 else "1.6",
                    evses=1 if r.random() < 0.6 else 2,
                    rated_w=r.choice(RATED_W),
                    clock_ahead_ms=600_000 if r.random() < cfg.share_clock_ahead else 0,
                    rnd=r,
                )
            )
    return out


def messages(cfg: SimConfig, truth: Truth | None = None) -> Iterator[Message]:
    """Every charger's messages, merged in send order (as a CSMS forwards them)."""
    truth = truth if truth is not None else Truth()
    fleet = chargers(cfg)
    for ch in fleet:
        truth.chargers[ch.id] = {
            "site_id": ch.site,
            "connectors": ch.evses,
            "heartbeat_interval_s": cfg.heartbeat_interval_s,
            "rated_power_w": ch.rated_w,
            "ocpp_version": ch.version,
        }
    streams = [_charger_messages(cfg, ch, truth) for ch in fleet]
    for m in heapq.merge(*streams, key=lambda m: m[0]):
        truth.messages[m[1]] += 1
        yield m


class _Out:
    """One charger's outgoing messages: delays, re-sends and malformations applied, and
    released in send order."""

    def __init__(self, cfg: SimConfig, ch: _Charger, truth: Truth) -> None:
        self.cfg, self.ch, self.truth = cfg, ch, truth
        self.heap: list[tuple[int, int, str, bytes]] = []
        self.seq = 0

    def send(self, at_ms: int, action: str, payload: dict[str, Any], *, quirk: bool = True) -> None:
        cfg, r = self.cfg, self.ch.rnd
        self.seq += 1
        send_at = at_ms + r.randrange(50, 1500)  # network and CSMS latency
        if r.random() < cfg.share_late:
            send_at += r.randrange(5_000, 60_000)
            self.truth.late += 1
        doc: dict[str, Any] = {
            "charger_id": self.ch.id,
            "ocpp_version": self.ch.version,
            "action": action,
            "message_id": f"{self.ch.id}-{self.seq}",
            "received_at": iso(send_at),
            "payload": payload,
        }
        if r.random() > 0.05:  # a few envelopes lack the site: the registry knows it
            doc["site_id"] = self.ch.site
        value = orjson.dumps(doc)
        reason = None
        if r.random() < cfg.share_malformed:
            value, reason = _malform(doc, r)
        copies = 2 if r.random() < cfg.share_duplicate else 1
        for i in range(copies):
            self._push(send_at + i * r.randrange(1_000, 30_000), action, value)
            if reason:
                self.truth.malformed[reason] += 1  # each copy is dead-lettered
        self.truth.duplicates += copies - 1

    def _push(self, at: int, action: str, value: bytes) -> None:
        heapq.heappush(self.heap, (at, self.seq, action, value))

    def release(self, until_ms: int) -> Iterator[Message]:
        key = self.ch.id.encode()
        while self.heap and self.heap[0][0] <= until_ms:
            at, _, action, value = heapq.heappop(self.heap)
            yield at, self.cfg.prefix + "ocpp." + action, key, value


def _malform(doc: dict[str, Any], r: random.Random) -> tuple[bytes, str]:
    kind = r.randrange(4)
    if kind == 0:
        return orjson.dumps(doc)[:-7], "invalid_json"
    if kind == 1:
        return orjson.dumps({**doc, "ocpp_version": "2.1"}), "unsupported_version"
    if kind == 2:
        return orjson.dumps({**doc, "received_at": "yesterday"}), "invalid_timestamp"
    bad = dict(doc["payload"]) if isinstance(doc["payload"], dict) else {}
    bad["connectorId" if doc["ocpp_version"] == "1.6" else "evseId"] = "one"
    return orjson.dumps({**doc, "action": "StatusNotification", "payload": bad}), "schema_violation"


@dataclass
class _Evse:
    n: int
    energy_wh: float
    charging_until: int = 0
    session_start: int = 0
    peak_w: float = 0.0
    next_change: int = 0
    next_sample: int = 0
    tx: int = 0
    faulted_until: int = 0


def _charger_messages(cfg: SimConfig, ch: _Charger, truth: Truth) -> Iterator[Message]:
    r = ch.rnd
    out = _Out(cfg, ch, truth)
    t = cfg.start_ms
    end = cfg.start_ms + int(cfg.duration_s * 1000)
    step = 1000
    evses = [_Evse(n, r.uniform(1e5, 5e6)) for n in range(1, ch.evses + 1)]
    for e in evses:
        e.next_change = t + int(r.uniform(0, cfg.idle_minutes[1]) * 60_000)
        e.next_sample = t + r.randrange(0, int(cfg.sample_interval_s * 1000))
    _boot(out, t, evses)
    next_beat = t + r.randrange(0, int(cfg.heartbeat_interval_s * 1000))
    silent_until = 0
    next_fault = t + _exp_ms(r, cfg.faults_per_hour)
    next_silence = t + _exp_ms(r, cfg.offline_per_hour)
    while t < end:
        if t >= next_silence and not silent_until:
            silent_until = t + int(r.uniform(*cfg.offline_minutes) * 60_000)
            truth.offline.append(
                {"charger_id": ch.id, "site_id": ch.site, "from": iso(t), "to": iso(silent_until)}
            )
            next_silence = silent_until + _exp_ms(r, cfg.offline_per_hour)
        if silent_until and t >= silent_until:
            silent_until = 0
            _boot(out, t, evses)
        if not silent_until:
            if t >= next_beat:
                out.send(t, "Heartbeat", {})
                next_beat = t + int(cfg.heartbeat_interval_s * 1000)
            if t >= next_fault:
                _fault(out, evses, t)
                next_fault = t + _exp_ms(r, cfg.faults_per_hour)
            for e in evses:
                _evse_step(out, e, t)
        yield from out.release(t)
        t += step
    yield from out.release(end + 3_600_000)


def _exp_ms(r: random.Random, per_hour: float) -> int:
    return int(r.expovariate(per_hour) * 3_600_000) if per_hour > 0 else 1 << 62


def _ts(ch: _Charger, t: int, quirky: bool = False) -> str:
    return iso(t + ch.clock_ahead_ms, naive=quirky)


def _boot(out: _Out, t: int, evses: list[_Evse]) -> None:
    ch = out.ch
    if ch.version == "1.6":
        out.send(t, "BootNotification", {"chargePointVendor": "Sim", "chargePointModel": "SC-1"})
    else:
        out.send(
            t,
            "BootNotification",
            {"chargingStation": {"vendorName": "Sim", "model": "SC-2"}, "reason": "PowerUp"},
        )
    for e in evses:
        status = "Faulted" if e.faulted_until > t else ("Charging" if e.charging_until > t else "Available")
        _status(out, e, t, status)


def _status(out: _Out, e: _Evse, t: int, status: str, code: str = "NoError") -> None:
    ch = out.ch
    if ch.version == "1.6":
        payload: dict[str, Any] = {
            "connectorId": e.n,
            "status": status,
            "errorCode": code,
            "timestamp": _ts(ch, t),
        }
        if code == "Error":
            payload["vendorErrorCode"] = "E-17"
        out.send(t, "StatusNotification", payload)
    else:
        status201 = {"Charging": "Occupied", "Preparing": "Occupied", "Finishing": "Occupied"}.get(
            status, status
        )
        out.send(
            t,
            "StatusNotification",
            {"timestamp": _ts(ch, t), "connectorStatus": status201, "evseId": e.n, "connectorId": 1},
        )


def _fault(out: _Out, evses: list[_Evse], t: int) -> None:
    cfg, ch, truth = out.cfg, out.ch, out.truth
    idle = [e for e in evses if e.charging_until <= t and e.faulted_until <= t]
    if not idle:
        return
    r = ch.rnd
    e = r.choice(idle)
    e.faulted_until = t + int(r.uniform(*cfg.fault_minutes) * 60_000)
    e.next_change = max(e.next_change, e.faulted_until + 1000)
    truth.faults.append(
        {"charger_id": ch.id, "site_id": ch.site, "evse_id": e.n, "from": iso(t), "to": iso(e.faulted_until)}
    )
    if ch.version == "1.6":
        _status(out, e, t, "Faulted", r.choice(ERRORS_16))
    else:
        _notify(out, e, t, problem=True)
        _status(out, e, t, "Faulted")


def _notify(out: _Out, e: _Evse, t: int, *, problem: bool) -> None:
    ch = out.ch
    data: dict[str, Any] = {
        "eventId": out.seq + 1,
        "timestamp": _ts(ch, t),
        "trigger": "Delta",
        "actualValue": "true" if problem else "false",
        "eventNotificationType": "HardWiredNotification",
        "component": {"name": "Connector", "evse": {"id": e.n, "connectorId": 1}},
        "variable": {"name": "Problem"},
    }
    if problem:
        data["techCode"] = "E042"
    else:
        data["cleared"] = True
    out.send(t, "NotifyEvent", {"generatedAt": _ts(ch, t), "seqNo": 0, "eventData": [data]})


def _evse_step(out: _Out, e: _Evse, t: int) -> None:
    cfg, ch, truth = out.cfg, out.ch, out.truth
    r = ch.rnd
    if e.faulted_until and t >= e.faulted_until:
        e.faulted_until = 0
        if ch.version == "2.0.1":
            _notify(out, e, t, problem=False)
        _status(out, e, t, "Available")
    charging = e.charging_until > t
    if not charging and not e.faulted_until and t >= e.next_change:
        e.session_start, e.tx = t, e.tx + 1
        e.charging_until = t + int(r.uniform(*cfg.session_minutes) * 60_000)
        e.peak_w = ch.rated_w / ch.evses * r.uniform(0.5, 1.0)
        _session_edge(out, e, t, started=True)
        e.next_sample = t + int(cfg.sample_interval_s * 1000)
        return
    if charging:
        power = _power(e, t)
        if t >= e.next_sample:
            _meter(out, e, t, power)
            e.next_sample = t + int(cfg.sample_interval_s * 1000)
        e.energy_wh += power / 3600  # one simulated second
        truth.energy_wh[ch.site] += power / 3600
        if t + 1000 >= e.charging_until:
            _meter(out, e, t, 0.0)
            _session_edge(out, e, t, started=False)
            e.charging_until = 0
            e.next_change = t + int(r.uniform(*cfg.idle_minutes) * 60_000)
            e.next_sample = t + int(cfg.idle_sample_interval_s * 1000)
    elif t >= e.next_sample:
        _meter(out, e, t, 0.0)
        e.next_sample = t + int(cfg.idle_sample_interval_s * 1000)


def _power(e: _Evse, t: int) -> float:
    """Ramp up over a minute, hold, taper over the last third of the session."""
    since = t - e.session_start
    length = max(1, e.charging_until - e.session_start)
    ramp = min(1.0, 0.2 + 0.8 * since / 60_000)
    taper = min(1.0, max(0.15, (length - since) / (length / 3)))
    return e.peak_w * min(ramp, taper)


def _session_edge(out: _Out, e: _Evse, t: int, *, started: bool) -> None:
    ch = out.ch
    tx = f"{ch.id}-{e.n}-{e.tx}"
    if ch.version == "1.6":
        if started:
            _status(out, e, t, "Preparing")
            out.send(
                t,
                "StartTransaction",
                {
                    "connectorId": e.n,
                    "idTag": "SIMTAG",
                    "meterStart": int(e.energy_wh),
                    "timestamp": _ts(ch, t),
                },
            )
            _status(out, e, t + 2000, "Charging")
        else:
            out.send(
                t,
                "StopTransaction",
                {"transactionId": e.tx, "meterStop": int(e.energy_wh), "timestamp": _ts(ch, t)},
            )
            _status(out, e, t, "Finishing")
            _status(out, e, t + 5000, "Available")
        return
    _status(out, e, t, "Occupied" if started else "Available")
    out.send(
        t,
        "TransactionEvent",
        {
            "eventType": "Started" if started else "Ended",
            "timestamp": _ts(ch, t),
            "triggerReason": "CablePluggedIn" if started else "EVCommunicationLost",
            "seqNo": 0 if started else 1,
            "transactionInfo": {"transactionId": tx},
            "evse": {"id": e.n, "connectorId": 1},
            "meterValue": [_sampled_201(ch, t, e.energy_wh, None)],
        },
    )


def _sampled_201(ch: _Charger, t: int, wh: float, power_w: float | None) -> dict[str, Any]:
    values: list[dict[str, Any]] = [
        {
            "value": round(wh / 1000, 4),
            "measurand": "Energy.Active.Import.Register",
            "unitOfMeasure": {"unit": "Wh", "multiplier": 3},
        }
    ]
    if power_w is not None:
        values.append(
            {"value": round(power_w, 1), "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}}
        )
    return {"timestamp": _ts(ch, t), "sampledValue": values}


def _meter(out: _Out, e: _Evse, t: int, power_w: float) -> None:
    cfg, ch = out.cfg, out.ch
    r = ch.rnd
    if ch.version == "2.0.1":
        if e.charging_until > t:
            out.send(
                t,
                "TransactionEvent",
                {
                    "eventType": "Updated",
                    "timestamp": _ts(ch, t),
                    "triggerReason": "MeterValuePeriodic",
                    "seqNo": 1,
                    "transactionInfo": {"transactionId": f"{ch.id}-{e.n}-{e.tx}"},
                    "meterValue": [_sampled_201(ch, t, e.energy_wh, power_w)],
                },
            )
        else:
            out.send(
                t, "MeterValues", {"evseId": e.n, "meterValue": [_sampled_201(ch, t, e.energy_wh, power_w)]}
            )
        return
    quirky = r.random() < cfg.share_quirky
    kind = r.randrange(3) if quirky else -1
    if kind == 0:  # sloppy strings and kW
        sampled = [
            {"value": f" {e.energy_wh:.2f}", "measurand": "Energy.Active.Import.Register"},
            {"value": f"{power_w / 1000:.4f}", "measurand": "Power.Active.Import", "unit": "kW"},
        ]
    elif kind == 1:  # per-phase power without a total
        sampled = [
            {"value": f"{power_w / 3:.1f}", "measurand": "Power.Active.Import", "phase": p, "unit": "W"}
            for p in ("L1", "L2", "L3")
        ]
        sampled.append(
            {"value": f"{e.energy_wh:.1f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
        )
    else:
        sampled = [
            {"value": f"{e.energy_wh:.1f}", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": f"{power_w:.1f}", "measurand": "Power.Active.Import", "unit": "W"},
        ]
    context = "Sample.Periodic" if e.charging_until > t else "Sample.Clock"
    for s in sampled:
        s["context"] = context
    payload: dict[str, Any] = {
        "connectorId": e.n,
        "meterValue": [{"timestamp": _ts(ch, t, quirky=kind == 2), "sampledValue": sampled}],
    }
    if e.charging_until > t:
        payload["transactionId"] = e.tx
    out.send(t, "MeterValues", payload)
