"""Envelope decoding: valid shapes, the OCPP-J CALL array, and every way to be rejected."""

from __future__ import annotations

import orjson
import pytest

from agents.domain.envelope import Envelope, decode
from agents.domain.errors import Reason, Rejected
from tests.ocpp_fixtures import raw

LIMIT = 64 * 1024


def _env(**overrides: object) -> bytes:
    doc: dict[str, object] = {
        "charger_id": "CP-1",
        "ocpp_version": "1.6",
        "action": "Heartbeat",
        "received_at": "2026-11-24T12:00:00Z",
        "payload": {},
    }
    doc.update(overrides)
    return orjson.dumps(doc)


def test_plain_envelope() -> None:
    env = decode(raw("v16_kw_units"), LIMIT)
    assert isinstance(env, Envelope)
    assert (env.charger_id, env.site_id, env.ocpp_version, env.action) == (
        "CP-16",
        "SITE-A",
        "1.6",
        "MeterValues",
    )
    assert env.received_at_ms == 1795521605000  # 2026-11-24T12:00:05Z


def test_ocpp_j_call_array_gives_action_and_message_id() -> None:
    env = decode(raw("v201_meter_values_call_array"), LIMIT)
    assert isinstance(env, Envelope)
    assert (env.action, env.message_id) == ("MeterValues", "19223201")
    assert env.payload["evseId"] == 0


def test_received_at_as_epoch_ms() -> None:
    env = decode(raw("v201_transaction_event_multiplier"), LIMIT)
    assert isinstance(env, Envelope) and env.received_at_ms == 1795521605000


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"x" * (LIMIT + 1), Reason.OVERSIZED),
        (b"{not json", Reason.INVALID_JSON),
        (b'{"a": NaN}', Reason.INVALID_JSON),
        (b'{"a": "\xff\xfe"}', Reason.INVALID_JSON),  # invalid UTF-8
        (b'{"a": 1e400}', Reason.INVALID_JSON),  # infinity; huge ints become finite floats
        (b"[1, 2]", Reason.INVALID_ENVELOPE),
        (_env(charger_id=""), Reason.INVALID_ENVELOPE),
        (_env(charger_id=17), Reason.INVALID_ENVELOPE),
        (_env(site_id=" padded "), Reason.INVALID_ENVELOPE),
        (_env(ocpp_version="2.1"), Reason.UNSUPPORTED_VERSION),
        (_env(received_at="yesterday"), Reason.INVALID_TIMESTAMP),
        (_env(received_at=True), Reason.INVALID_TIMESTAMP),
        (_env(action=None), Reason.INVALID_ENVELOPE),
        (_env(payload="hi"), Reason.INVALID_ENVELOPE),
        (_env(payload=[3, "1", "Heartbeat", {}]), Reason.INVALID_ENVELOPE),
        (_env(action="Heartbeat", payload=[2, "1", "MeterValues", {}]), Reason.INVALID_ENVELOPE),
    ],
)
def test_rejections_carry_a_reason(data: bytes, reason: Reason) -> None:
    result = decode(data, LIMIT)
    assert isinstance(result, Rejected), result
    assert result.reason == reason
    assert result.detail
