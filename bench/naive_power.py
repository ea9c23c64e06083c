"""The site-power arithmetic the comparison variants share (b, c, d2): the measured
Power.Active.Import of a MeterValues or TransactionEvent payload, nothing more.

Deliberately naive (no phases, energy-only meters or clocks; chargestream's own is
agents/domain/meter.py) and standard-library only: c imports it from a virtualenv of its
own."""

from __future__ import annotations

from typing import Any


def power_w(payload: Any) -> float:
    """Sum of the total (not per-phase) Power.Active.Import values of a MeterValues or
    TransactionEvent payload, in W (1.6 units W or kW; 2.0.1 unitOfMeasure with its
    multiplier); values that are not numbers are skipped."""
    total = 0.0
    if not isinstance(payload, dict):
        return total
    for mv in payload.get("meterValue") or ():
        for sv in mv.get("sampledValue") or ():
            if sv.get("measurand") != "Power.Active.Import" or "phase" in sv:
                continue
            try:
                value = float(sv["value"])
            except (TypeError, ValueError, KeyError):
                continue
            measure = sv.get("unitOfMeasure") or {}
            unit = sv.get("unit") or measure.get("unit", "W")
            total += value * 10 ** measure.get("multiplier", 0) * (1000.0 if unit == "kW" else 1.0)
    return total
