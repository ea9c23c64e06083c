"""Hostile input, property-based: whatever bytes arrive, the decode -> validate -> normalise
-> state path either accepts them or names a dead-letter reason; no exception escapes.

Three generators: arbitrary bytes; well-formed envelopes around arbitrary JSON payloads
for every action and version; and the real-world fixtures with leaves replaced by
hostile values (NaN, huge numbers, strings where numbers belong, timestamps far away,
deep nesting). The examples tried are counted and printed. Derandomized, so CI runs the
same examples every time (exploring further is a fuzzer's job, not a flaky test's).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile import OUTCOMES, process

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures" / "ocpp").glob("*.json"))
ACTIONS = (
    "MeterValues",
    "StartTransaction",
    "StopTransaction",
    "TransactionEvent",
    "StatusNotification",
    "NotifyEvent",
    "Heartbeat",
    "BootNotification",
    "DataTransfer",
    "NoSuchAction",
)
tried = {"bytes": 0, "envelopes": 0, "mutated fixtures": 0}


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(
        ["NaN", "Infinity", "-1e400", " 12.5", "", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
    ),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=15), inner, max_size=6)
    ),
    max_leaves=30,
)


@settings(max_examples=400, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(raw: bytes) -> None:
    tried["bytes"] += 1
    assert process(raw) in OUTCOMES


@settings(max_examples=600, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    action=st.sampled_from(ACTIONS),
    version=st.sampled_from(["1.6", "2.0.1", "2.1", "1.5", 16]),
    payload=json_value,
    received_at=st.one_of(
        st.sampled_from(["2026-11-24T12:00:00Z", "1970-01-01T00:00:00Z", "2300-01-01T00:00:00Z"]),
        st.integers(min_value=-(2**63), max_value=2**63),
        json_leaf,
    ),
)
def test_envelopes_around_arbitrary_payloads(
    action: str, version: Any, payload: Any, received_at: Any
) -> None:
    tried["envelopes"] += 1
    doc = {"charger_id": "CP-1", "ocpp_version": version, "action": action, "received_at": received_at}
    doc["payload"] = payload
    assert process(_dumps(doc)) in OUTCOMES


def _dumps(doc: Any) -> bytes:
    """The stdlib writes what orjson refuses: NaN, Infinity, integers beyond 64 bits."""
    return json.dumps(doc, allow_nan=True).encode()


def _nested(depth: int) -> Any:
    doc: Any = {}
    for _ in range(depth):
        doc = [doc]
    return doc


hostile = st.one_of(
    json_leaf,
    st.sampled_from([1e308, -1e308, 2**64, -(2**64), 10**30, 0.1 + 0.2]),
    st.just(_nested(200)),
)


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in _leaves(v, (*path, k))]
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in _leaves(v, (*path, i))]
    return [path]


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[path[0]] = _replace(doc[path[0]], path[1:], value)
    return copy


@settings(max_examples=800, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURES), st.data())
def test_real_fixtures_with_hostile_leaves(fixture: Path, data: st.DataObject) -> None:
    tried["mutated fixtures"] += 1
    doc = orjson.loads(fixture.read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        leaves = _leaves(doc)
        if not leaves:
            break
        doc = _replace(doc, data.draw(st.sampled_from(leaves)), data.draw(hostile))
    assert process(_dumps(doc)) in OUTCOMES


def test_hand_picked_hostile_inputs() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    cases = {
        deep: "invalid_json",
        b'{"charger_id": "CP-1", "value": NaN}': "invalid_json",
        b'{"charger_id": "CP-1", "value": Infinity}': "invalid_json",
        b'{"charger_id": "\xff\xfe"}': "invalid_json",
        b"x" * 300_000: "oversized",
        b"[]": "invalid_envelope",
    }
    for raw, reason in cases.items():
        assert process(raw) == reason, raw[:60]
    for found in (Path(__file__).parents[1] / "fixtures" / "fuzz").glob("crash-*"):  # the fuzzer's finds
        assert process(found.read_bytes()) in OUTCOMES, found.name
    fixture = orjson.loads((FIXTURES[0]).read_bytes())
    huge = json.dumps({**fixture, "payload": {"connectorId": 10**30, "meterValue": []}}).encode()
    assert process(huge) in OUTCOMES


def test_zz_report_inputs_tried() -> None:
    """Named to run last in this module: how many generated inputs the properties saw."""
    print(f"\nhostile inputs tried: {tried} (total {sum(tried.values())})")
    assert sum(tried.values()) >= 1000
