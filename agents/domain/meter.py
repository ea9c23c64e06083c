"""OCPP meter data -> normalised readings: one wide row per (EVSE, timestamp).

Every message that carries meter data goes through here: 1.6 MeterValues,
StartTransaction (meterStart), StopTransaction (meterStop, transactionData); 2.0.1
TransactionEvent and MeterValuesRequest. Rules (shared/OCPP.md):
- units to W / Wh / V / A (kW, kWh; 2.0.1 multiplier); reactive units are never active power;
- a value without phase is the total; otherwise sum L1..L3 (or Lx-N); never add both; N ignored;
- Outlet (to the EV) is the EVSE's power; Inlet (grid side) is kept apart; Body/Cable/EV ignored;
- 1.6 values are strings (" 0.0", "", "7,4"): parsed leniently, oddities tagged as quirks;
- 1.6 ``format: SignedData`` is an opaque blob: skipped and counted.
A 1.6 connector is a 2.0.1 EVSE; EVSE 0 is the charger's main meter, never summed with EVSEs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .envelope import Envelope

# Clocks that lie (see timestamps.trusted_time) get the receipt time, tagged. Genuinely
# queued readings (hours or days old) keep their own time and simply arrive late.
from .timestamps import parse_iso_ms, trusted_time

MAX_MULTIPLIER = 9  # 2.0.1 unitOfMeasure.multiplier: giga at most; beyond is garbage (and overflows)
ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER_IMPORT = "Power.Active.Import"

# measurand -> (column, kind); kind decides units and how phases combine.
MEASURANDS: dict[str, tuple[str, str]] = {
    POWER_IMPORT: ("power_w", "power"),
    "Power.Active.Export": ("power_export_w", "power"),
    "Power.Offered": ("power_offered_w", "power"),
    ENERGY_REGISTER: ("energy_wh", "energy"),
    "Energy.Active.Export.Register": ("energy_export_wh", "energy"),
    "Energy.Active.Import.Interval": ("energy_interval_wh", "energy"),
    "Current.Import": ("current_a", "current"),
    "Current.Offered": ("current_offered_a", "current"),
    "Voltage": ("voltage_v", "voltage"),
    "Power.Factor": ("power_factor", "ratio"),
    "SoC": ("soc_percent", "percent"),
}
# (kind, unit lower-case) -> factor to the canonical unit
_FACTORS: dict[tuple[str, str], float] = {
    ("power", "w"): 1.0,
    ("power", "kw"): 1000.0,
    ("energy", "wh"): 1.0,
    ("energy", "kwh"): 1000.0,
    ("current", "a"): 1.0,
    ("voltage", "v"): 1.0,
    ("ratio", ""): 1.0,
    ("percent", "percent"): 1.0,
    ("percent", ""): 1.0,
}
_DEFAULT_UNIT = {
    "power": "w",
    "energy": "wh",
    "current": "a",
    "voltage": "v",
    "ratio": "",
    "percent": "percent",
}
_REACTIVE = frozenset({"var", "kvar", "va", "kva", "varh", "kvarh", "vah", "kvah"})
_TOTAL_PHASES = ("L1", "L2", "L3")
_PHASE_NEUTRAL = ("L1-N", "L2-N", "L3-N")


@dataclass(slots=True, init=False)
class MeterReading:
    """One sampled meter value set. A value (a few per message: not frozen, own __init__;
    see agents/domain/__init__.py)."""

    charger_id: str
    evse_id: int | None  # None: a 2.0.1 TransactionEvent that names no EVSE (resolved by transaction)
    connector_id: int | None
    ts_ms: int  # the charger's clock: meterValue.timestamp
    received_at_ms: int
    transaction_id: str | None
    context: str  # Sample.Periodic, Sample.Clock, Transaction.Begin, Transaction.End, ...
    values: dict[str, float]  # column -> canonical value (W, Wh, A, V, ...)
    inlet: dict[str, float]  # grid-side values, same columns
    vi_power_w: float | None  # sum V(Lx-N) x I(Lx) (x power factor), when both are sent
    quirks: tuple[str, ...]

    def __init__(  # noqa: PLR0917 -- the fields, in order, as the generated one took them
        self,
        charger_id: str,
        evse_id: int | None,
        connector_id: int | None,
        ts_ms: int,
        received_at_ms: int,
        transaction_id: str | None,
        context: str,
        values: dict[str, float],
        inlet: dict[str, float] | None = None,
        vi_power_w: float | None = None,
        quirks: tuple[str, ...] = (),
    ) -> None:
        self.charger_id = charger_id
        self.evse_id = evse_id
        self.connector_id = connector_id
        self.ts_ms = ts_ms
        self.received_at_ms = received_at_ms
        self.transaction_id = transaction_id
        self.context = context
        self.values = values
        self.inlet = {} if inlet is None else inlet
        self.vi_power_w = vi_power_w
        self.quirks = quirks


def readings(env: Envelope) -> list[MeterReading]:
    """All readings a validated envelope carries (each with the quirks met reading it)."""
    p = env.payload
    out: list[MeterReading] = []
    if env.ocpp_version == "1.6":
        if env.action == "MeterValues":
            out = _from_meter_values(env, p.get("meterValue"), p["connectorId"], p.get("transactionId"))
        elif env.action == "StartTransaction":
            out = [
                _register(
                    env,
                    p["connectorId"],
                    p["timestamp"],
                    p["meterStart"],
                    tx=None,
                    context="Transaction.Begin",
                )
            ]
        elif env.action == "StopTransaction":
            tx = p["transactionId"]
            data = _from_meter_values(env, p.get("transactionData"), None, tx)
            out = [
                *data,
                _register(env, None, p["timestamp"], p["meterStop"], tx=tx, context="Transaction.End"),
            ]
    elif env.action == "TransactionEvent":
        evse = p.get("evse") or {}
        tx = p["transactionInfo"]["transactionId"]
        out = _from_meter_values(
            env, p.get("meterValue"), _id(evse.get("id")), tx, connector_id=_id(evse.get("connectorId"))
        )
    elif env.action == "MeterValues":
        out = _from_meter_values(env, p.get("meterValue"), _id(p["evseId"]), None)
    return out


def _id(value: Any) -> int | None:
    """An EVSE or connector id of 2.0.1, whose schemas (draft-06) take 1.0 for an integer:
    made an int here (compiled, an annotated int refuses a float at run time)."""
    return None if value is None else int(value)


def _register(
    env: Envelope, evse_id: int | None, timestamp: str, wh: int, *, tx: Any, context: str
) -> MeterReading:
    quirks: list[str] = []
    parsed, _ = parse_iso_ms(timestamp) or (env.received_at_ms, False)
    ts_ms = trusted_time(parsed, env.received_at_ms, quirks)
    return MeterReading(
        env.charger_id,
        evse_id,
        None,
        ts_ms,
        env.received_at_ms,
        None if tx is None else str(tx),
        context,
        {"energy_wh": float(wh)},
        quirks=tuple(quirks),
    )


def _from_meter_values(
    env: Envelope, items: Any, evse_id: int | None, tx: Any, connector_id: int | None = None
) -> list[MeterReading]:
    out = []
    for mv in items or ():
        ts = parse_iso_ms(mv["timestamp"])  # canonical after validation
        if ts is None:
            continue
        values, inlet, vi, context, quirks = _one_reading(env, mv["sampledValue"])
        ts_ms = trusted_time(ts[0], env.received_at_ms, quirks)
        out.append(
            MeterReading(
                env.charger_id,
                evse_id,
                connector_id,
                ts_ms,
                env.received_at_ms,
                None if tx is None else str(tx),
                context,
                values,
                inlet,
                vi,
                tuple(quirks),
            )
        )
    return out


def _one_reading(
    env: Envelope, sampled: Iterable[dict[str, Any]]
) -> tuple[dict[str, float], dict[str, float], float | None, str, list[str]]:
    # (location, column) -> phase -> value
    grouped: dict[tuple[str, str], dict[str | None, float]] = defaultdict(dict)
    own: list[str] = []
    context = None
    power_factor = None
    for sv in sampled:
        measurand = sv.get("measurand", ENERGY_REGISTER)
        known = MEASURANDS.get(measurand)
        if known is None:
            continue  # temperature, frequency, RPM, ...: not used
        column, kind = known
        location = sv.get("location", "Outlet")
        if location not in ("Outlet", "Inlet") and kind != "percent":
            continue  # Body, Cable, EV: not delivered power (SoC comes from the EV)
        value = _value(env, sv, kind, own)
        if value is None:
            continue
        if column == "energy_wh" or context is None:
            context = sv.get("context", "Sample.Periodic")
        if column == "power_factor":
            power_factor = value
        phase = sv.get("phase")
        grouped[("Inlet" if location == "Inlet" else "Outlet", column)][phase] = value
    outlet: dict[str, float] = {}
    inlet: dict[str, float] = {}
    for (location, column), by_phase in grouped.items():
        combined = _combine(column, by_phase, own)
        if combined is not None:
            (inlet if location == "Inlet" else outlet)[column] = combined
    vi = _vi_estimate(
        grouped.get(("Outlet", "voltage_v"), {}), grouped.get(("Outlet", "current_a"), {}), power_factor
    )
    return outlet, inlet, vi, context or "Sample.Periodic", own


def _value(env: Envelope, sv: dict[str, Any], kind: str, quirks: list[str]) -> float | None:
    if env.ocpp_version == "1.6":
        if sv.get("format") == "SignedData":
            quirks.append("signed_data_skipped")
            return None
        raw = sv.get("value")
        value = _parse_16(raw, quirks)
        unit = sv.get("unit")
        multiplier = 0
    else:
        value = float(sv["value"])
        uom = sv.get("unitOfMeasure") or {}
        unit, multiplier = uom.get("unit"), int(uom.get("multiplier", 0))
    if value is None:
        return None
    if not math.isfinite(value):
        quirks.append("non_finite_value")
        return None
    if unit is None:
        if kind in ("power", "current", "voltage") and env.ocpp_version == "1.6":
            quirks.append("missing_unit")  # the 1.6 default "Wh" cannot be meant for these
        unit_key = _DEFAULT_UNIT[kind]
    else:
        unit_key = unit.strip().lower()
    if unit_key in _REACTIVE:
        quirks.append("reactive_unit")
        return None
    factor = _FACTORS.get((kind, unit_key))
    if factor is None:
        quirks.append("unknown_unit")
        return None
    if abs(multiplier) > MAX_MULTIPLIER:
        quirks.append("implausible_multiplier")
        return None
    scaled = value * factor * 10.0**multiplier
    return scaled if math.isfinite(scaled) else None


def _parse_16(raw: Any, quirks: list[str]) -> float | None:
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text:
        quirks.append("empty_value")
        return None
    try:
        return float(text)
    except ValueError:
        pass
    if text.count(",") == 1 and "." not in text:
        try:
            value = float(text.replace(",", "."))
        except ValueError:
            pass
        else:
            quirks.append("decimal_comma")
            return value
    quirks.append("unparseable_value")
    return None


def _combine(column: str, by_phase: dict[str | None, float], quirks: list[str]) -> float | None:
    """One value from per-phase values: total if sent, else the phases' sum (or mean)."""
    if None in by_phase:
        if any(p in by_phase for p in (*_TOTAL_PHASES, *_PHASE_NEUTRAL)):
            quirks.append("total_and_phases")  # use the total, never add both
        return by_phase[None]
    phases = [by_phase[p] for p in _TOTAL_PHASES if p in by_phase] or [
        by_phase[p] for p in _PHASE_NEUTRAL if p in by_phase
    ]
    if not phases:
        return None  # only N or line-to-line values
    if column in ("voltage_v", "power_factor", "soc_percent"):
        return sum(phases) / len(phases)
    if column in ("current_a", "current_offered_a"):
        return max(phases)  # the most loaded phase is what limits charging
    return sum(phases)


def _vi_estimate(
    voltage: dict[str | None, float], current: dict[str | None, float], power_factor: float | None
) -> float | None:
    pf = power_factor if power_factor is not None and 0 < power_factor <= 1 else 1.0
    pairs = [(voltage.get(f"{p}-N", voltage.get(p)), current.get(p)) for p in _TOTAL_PHASES]
    phase_sum = sum(v * i for v, i in pairs if v is not None and i is not None)
    if phase_sum:
        return phase_sum * pf
    if None in voltage and None in current:  # DC, or single-phase AC without phase tags
        return voltage[None] * current[None] * pf
    return None
