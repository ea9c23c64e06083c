"""Normalisation of OCPP meter data, one fixture per real-world quirk (shared/OCPP.md)."""

from __future__ import annotations

import orjson
import pytest

from agents.domain.envelope import Envelope, decode
from agents.domain.errors import Reason, Rejected
from agents.domain.meter import MeterReading, readings
from agents.domain.power import Point, PowerRules, power_series
from agents.domain.validation import validate
from tests.ocpp_fixtures import raw


def _read(name: str) -> tuple[list[MeterReading], list[str]]:
    env = decode(raw(name), 1 << 20)
    assert isinstance(env, Envelope)
    quirks = validate(env)
    assert not isinstance(quirks, Rejected), quirks
    found = readings(env)
    return found, quirks + [q for r in found for q in r.quirks]


def _one(name: str) -> tuple[MeterReading, list[str]]:
    found, quirks = _read(name)
    assert len(found) == 1
    return found[0], quirks


def test_kw_and_kwh_become_w_and_wh() -> None:
    r, quirks = _one("v16_kw_units")
    assert r.values == {"power_w": 7400.0, "energy_wh": 12500.0}
    assert (r.charger_id, r.evse_id, r.transaction_id, r.ts_ms) == ("CP-16", 1, "7", 1795521600000)
    assert quirks == []


def test_phases_are_summed_when_no_total_and_neutral_ignored() -> None:
    r, _ = _one("v16_phases_without_total")
    assert r.values["power_w"] == 3680 + 3700 + 3620


def test_total_wins_over_phases_never_both() -> None:
    r, quirks = _one("v16_total_and_phases")
    assert r.values["power_w"] == 11000
    assert "total_and_phases" in quirks


def test_defaults_measurand_energy_register_unit_wh() -> None:
    r, _ = _one("v16_energy_only_defaults")
    assert r.values == {"energy_wh": 165333.0}
    assert r.context == "Sample.Periodic"


def test_sloppy_string_values() -> None:
    r, quirks = _one("v16_sloppy_strings")
    assert r.values["power_w"] == 0.0  # " 0.0"
    assert "current_a" not in r.values  # ""
    assert r.values["voltage_v"] == 230.5  # "230,5"
    assert "soc_percent" not in r.values  # "NaN"
    assert r.values["energy_wh"] == 1200.5  # unit "wh"
    assert {"empty_value", "decimal_comma", "non_finite_value", "unit_spelling"} <= set(quirks)


def test_signed_data_is_skipped_and_counted() -> None:
    r, quirks = _one("v16_signed_data")
    assert r.values == {"energy_wh": 5000.0}
    assert quirks == ["signed_data_skipped"]


def test_connector_zero_is_the_main_meter() -> None:
    r, _ = _one("v16_connector_zero")
    assert r.evse_id == 0 and r.values["power_w"] == 21000


def test_naive_timestamp_is_read_as_utc_and_tagged() -> None:
    r, quirks = _one("v16_naive_timestamp")
    assert r.ts_ms == 1795521600000
    assert "naive_timestamp" in quirks


def test_inlet_kept_apart_body_ignored() -> None:
    r, _ = _one("v16_inlet_and_body")
    assert r.values == {"power_w": 7400.0}
    assert r.inlet == {"power_w": 7650.0}


def test_reactive_unit_is_never_active_power() -> None:
    r, quirks = _one("v16_reactive_unit")
    assert r.values == {"energy_wh": 900.0}
    assert "reactive_unit" in quirks


def test_numbers_where_16_wants_strings_are_accepted_and_tagged() -> None:
    r, quirks = _one("v16_numbers_not_strings")
    assert r.values["power_w"] == 7400
    assert "numeric_value_16" in quirks


def test_vi_estimate_from_phase_voltage_and_current() -> None:
    r, _ = _one("v16_vi_only")
    assert "power_w" not in r.values
    assert r.vi_power_w == pytest.approx((230 + 231 + 229) * 16)
    assert r.values["voltage_v"] == pytest.approx(230)
    assert r.values["current_a"] == 16


def test_start_transaction_meter_start_is_a_begin_register_reading() -> None:
    r, _ = _one("v16_start_transaction")
    assert (r.evse_id, r.context, r.values) == (2, "Transaction.Begin", {"energy_wh": 104500.0})


def test_stop_transaction_gives_transaction_data_and_meter_stop() -> None:
    found, _ = _read("v16_stop_transaction")
    assert [(r.context, r.values["energy_wh"], r.transaction_id) for r in found] == [
        ("Sample.Periodic", 112000.0, "42"),
        ("Transaction.End", 119500.0, "42"),
    ]
    assert all(r.evse_id is None for r in found)  # resolved from the transaction by the caller


def test_201_multiplier_and_units() -> None:
    r, _ = _one("v201_transaction_event_multiplier")
    assert r.values == {"power_w": 50_000.0, "energy_wh": 12_500.0, "voltage_v": 400.0}
    assert (r.evse_id, r.connector_id, r.transaction_id) == (1, 1, "b9f5d1c2-tx")


def test_201_transaction_event_without_evse_names_only_the_transaction() -> None:
    r, _ = _one("v201_transaction_event_no_evse")
    assert r.evse_id is None and r.transaction_id == "b9f5d1c2-tx"
    assert r.values == {"energy_wh": 13000.0}  # 2.0.1 default unit Wh too


def test_201_meter_values_clock_aligned_main_meter() -> None:
    r, _ = _one("v201_meter_values_call_array")
    assert (r.evse_id, r.context, r.values) == (0, "Sample.Clock", {"energy_wh": 250_250.0})


def test_schema_violation_is_rejected_with_detail() -> None:
    env = decode(raw("v16_wrong_type"), 1 << 20)
    assert isinstance(env, Envelope)
    result = validate(env)
    assert isinstance(result, Rejected) and result.reason == Reason.SCHEMA_VIOLATION
    assert "connectorId" in result.detail


@pytest.mark.parametrize("action", ["Bogus", "../../v201/schemas/MeterValuesRequest", "", "Meter Values"])
def test_unknown_actions_are_rejected_not_raised(action: str) -> None:
    env = decode(raw("v16_kw_units"), 1 << 20)
    assert isinstance(env, Envelope)
    result = validate(Envelope(env.charger_id, None, "1.6", action, None, 0, {}))
    assert isinstance(result, Rejected) and result.reason == Reason.UNKNOWN_ACTION


@pytest.mark.parametrize(
    ("stamp", "quirk", "expected_ms"),
    [
        ("2026-11-24T12:20:00Z", "clock_ahead", 1795521605000),  # 20 min ahead: receipt time
        ("1970-01-01T00:05:00Z", "clock_unset", 1795521605000),  # never set: receipt time
        ("2026-11-24T09:00:00Z", None, 1795510800000),  # 3 h old: queued offline, kept
    ],
)
def test_clocks_that_lie(stamp: str, quirk: str | None, expected_ms: int) -> None:
    env = decode(raw("v16_kw_units"), 1 << 20)
    assert isinstance(env, Envelope)
    env.payload["meterValue"][0]["timestamp"] = stamp
    [r] = readings(env)
    assert r.ts_ms == expected_ms
    assert r.quirks == ((quirk,) if quirk else ())


def test_offered_power_is_a_limit_never_consumption() -> None:
    env = decode(raw("v16_kw_units"), 1 << 20)
    assert isinstance(env, Envelope)
    env.payload["meterValue"][0]["sampledValue"] = [
        {"value": "22", "measurand": "Power.Offered", "unit": "kW"},
        {"value": "32", "measurand": "Current.Offered", "unit": "A"},
    ]
    [r] = readings(env)
    assert r.values == {"power_offered_w": 22000.0, "current_offered_a": 32.0}
    assert power_series([Point.of(r)], PowerRules()) == []


def test_2_0_1_ids_written_as_floats_become_ints() -> None:
    # 2.0.1's schemas (draft-06) accept 1.0 for an integer; the compiled domain takes ints.
    doc = orjson.loads(raw("v201_transaction_event_multiplier"))
    doc["payload"]["evse"] = {"id": 1.0, "connectorId": 2.0}
    env = decode(orjson.dumps(doc), 1 << 20)
    assert isinstance(env, Envelope)
    assert not isinstance(validate(env), Rejected)
    (r,) = readings(env)
    assert (r.evse_id, r.connector_id) == (1, 2)
    assert type(r.evse_id) is int and type(r.connector_id) is int
