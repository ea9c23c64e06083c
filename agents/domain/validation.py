"""Check an envelope's payload against the official OCPP JSON schema for its action.

The schemas are the ones the ``ocpp`` package ships, compiled once per action with
fastjsonschema (about 14 us per MeterValues message; jsonschema takes ~260 us).
Real chargers break the spec in known, harmless ways; those are fixed in place first
and reported as quirk codes, so the charger is processed and the quirk counted rather
than the message dead-lettered. Anything else that fails the schema is rejected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from .envelope import Envelope
from .errors import Reason, Rejected
from .status import fix_status_16
from .timestamps import iso_ms, parse_iso_ms

# Actions chargestream reads, per OCPP version. Valid OCPP actions outside this set are
# still proof of life (counted, not dead-lettered); see classify_action.
ACTIONS: dict[str, frozenset[str]] = {
    "1.6": frozenset(
        {
            "MeterValues",
            "StartTransaction",
            "StopTransaction",
            "StatusNotification",
            "Heartbeat",
            "BootNotification",
        }
    ),
    "2.0.1": frozenset(
        {
            "TransactionEvent",
            "MeterValues",
            "StatusNotification",
            "NotifyEvent",
            "Heartbeat",
            "BootNotification",
        }
    ),
}
_SCHEMA_DIR = {"1.6": ("v16", ""), "2.0.1": ("v201", "Request")}

# 1.6 units as chargers send them -> the schema's spelling.
_UNITS_16 = {
    u.lower(): u
    for u in (
        "Wh",
        "kWh",
        "varh",
        "kvarh",
        "W",
        "kW",
        "VA",
        "kVA",
        "var",
        "kvar",
        "A",
        "V",
        "K",
        "Celsius",
        "Fahrenheit",
        "Percent",
    )
}
_UNITS_16["celcius"] = "Celcius"  # the 1.6 schema's own misspelling is valid


_ACTION_NAME = re.compile(r"[A-Za-z]{1,64}")


@cache
def known_ocpp_action(version: str, action: str) -> bool:
    """True for any request action of the OCPP version (whether or not we read it)."""
    if not _ACTION_NAME.fullmatch(action):
        return False  # also keeps names like "../x" away from the file lookup below
    folder, suffix = _SCHEMA_DIR[version]
    return resources.files("ocpp").joinpath(folder, "schemas", f"{action}{suffix}.json").is_file()


def validate(env: Envelope) -> list[str] | Rejected:
    """Quirk codes found (and fixed in ``env.payload``), or why the payload is rejected."""
    if not known_ocpp_action(env.ocpp_version, env.action):
        return Rejected(
            Reason.UNKNOWN_ACTION, f"{env.ocpp_version} {env.action[:64]!r} is not an OCPP action"
        )
    quirks: list[str] = []
    fixer = _FIXERS.get((env.ocpp_version, env.action))
    if fixer is not None:
        try:
            rejected = fixer(env.payload, quirks)
        except (TypeError, AttributeError, KeyError, ValueError):
            rejected = None  # a shape no fixer expected: the schema below says what is wrong
        if rejected is not None:
            return rejected
    try:
        _validator(env.ocpp_version, env.action)(env.payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        return Rejected(Reason.SCHEMA_VIOLATION, f"{env.ocpp_version} {env.action}: {exc.message}"[:300])
    return quirks


@cache
def _validator(version: str, action: str) -> Callable[[Any], Any]:
    folder, suffix = _SCHEMA_DIR[version]
    text = resources.files("ocpp").joinpath(folder, "schemas", f"{action}{suffix}.json").read_text()
    schema = json.loads(text)
    schema.pop("$id", None)  # 2.0.1 ids are URNs fastjsonschema would try to resolve
    return fastjsonschema.compile(schema)


# --- quirk fixers: mutate the freshly parsed payload, append quirk codes ---------------


def _fix_timestamp(holder: dict[str, Any], key: str, quirks: list[str]) -> Rejected | None:
    """Rewrite a parseable but non-RFC3339 timestamp canonically (naive -> UTC)."""
    value = holder.get(key)
    if value is None:
        return None
    parsed = parse_iso_ms(value) if isinstance(value, str) else None
    if parsed is None:
        return Rejected(Reason.INVALID_TIMESTAMP, f"{key} {str(value)[:60]!r}")
    epoch_ms, naive = parsed
    if naive:
        quirks.append("naive_timestamp")
    holder[key] = iso_ms(epoch_ms)
    return None


def _meter_values(items: Any) -> Iterator[dict[str, Any]]:
    if isinstance(items, list):
        yield from (mv for mv in items if isinstance(mv, dict))


def _fix_meter_values(items: Any, quirks: list[str], v16: bool) -> Rejected | None:
    for mv in _meter_values(items):
        rejected = _fix_timestamp(mv, "timestamp", quirks)
        if rejected is not None:
            return rejected
        if not v16:
            continue
        sampled = mv.get("sampledValue")
        for sv in sampled if isinstance(sampled, list) else ():
            if not isinstance(sv, dict):
                continue
            value = sv.get("value")
            if isinstance(value, int | float) and not isinstance(value, bool):
                sv["value"] = repr(value)  # 1.6 wants a string; some chargers send numbers
                quirks.append("numeric_value_16")
            unit = sv.get("unit")
            if isinstance(unit, str) and unit not in _UNITS_16.values():
                fixed = _UNITS_16.get(unit.strip().lower())
                if fixed is not None:
                    sv["unit"] = fixed
                    quirks.append("unit_spelling")
    return None


def _fix_16_meter_values(p: dict[str, Any], q: list[str]) -> Rejected | None:
    return _fix_meter_values(p.get("meterValue"), q, v16=True)


def _fix_16_start(p: dict[str, Any], q: list[str]) -> Rejected | None:
    return _fix_timestamp(p, "timestamp", q)


def _fix_16_stop(p: dict[str, Any], q: list[str]) -> Rejected | None:
    return _fix_timestamp(p, "timestamp", q) or _fix_meter_values(p.get("transactionData"), q, v16=True)


def _fix_201_transaction(p: dict[str, Any], q: list[str]) -> Rejected | None:
    return _fix_timestamp(p, "timestamp", q) or _fix_meter_values(p.get("meterValue"), q, v16=False)


def _fix_201_meter_values(p: dict[str, Any], q: list[str]) -> Rejected | None:
    return _fix_meter_values(p.get("meterValue"), q, v16=False)


def _fix_16_status(p: dict[str, Any], q: list[str]) -> Rejected | None:
    fix_status_16(p, q)
    return _fix_timestamp(p, "timestamp", q)


def _fix_201_status(p: dict[str, Any], q: list[str]) -> Rejected | None:
    return _fix_timestamp(p, "timestamp", q)


def _fix_201_notify_event(p: dict[str, Any], q: list[str]) -> Rejected | None:
    rejected = _fix_timestamp(p, "generatedAt", q)
    for datum in p.get("eventData") or ():
        if rejected is None and isinstance(datum, dict):
            rejected = _fix_timestamp(datum, "timestamp", q)
    return rejected


_FIXERS: dict[tuple[str, str], Callable[[dict[str, Any], list[str]], Rejected | None]] = {
    ("1.6", "MeterValues"): _fix_16_meter_values,
    ("1.6", "StartTransaction"): _fix_16_start,
    ("1.6", "StopTransaction"): _fix_16_stop,
    ("2.0.1", "TransactionEvent"): _fix_201_transaction,
    ("2.0.1", "MeterValues"): _fix_201_meter_values,
    ("1.6", "StatusNotification"): _fix_16_status,
    ("2.0.1", "StatusNotification"): _fix_201_status,
    ("2.0.1", "NotifyEvent"): _fix_201_notify_event,
}
