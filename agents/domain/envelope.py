"""Bytes from an input topic -> a validated Envelope, or a Rejected with a reason.

The envelope is what the CSMS gateway writes to Kafka (schemas/envelope.v1.json):
``{charger_id, site_id?, ocpp_version, action, message_id?, received_at, payload}``
where ``payload`` is the OCPP request payload or the OCPP-J CALL array
``[2, message_id, action, payload]`` exactly as gateways log it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

import orjson

from .errors import Reason, Rejected
from .timestamps import parse_iso_ms

Version = Literal["1.6", "2.0.1"]
VERSIONS: frozenset[str] = frozenset({"1.6", "2.0.1"})
OCPP_CALL = 2
MAX_ID_CHARS = 255  # charger and site ids become Kafka keys and Cassandra partition keys


@dataclass(slots=True, init=False)
class Envelope:
    """One input message, decoded. A value (one per message: not frozen, own __init__; see
    agents/domain/__init__.py)."""

    charger_id: str
    site_id: str | None
    ocpp_version: Version
    action: str
    message_id: str | None
    received_at_ms: int
    payload: dict[str, Any]

    def __init__(  # noqa: PLR0917 -- the fields, in order, as the generated one took them
        self,
        charger_id: str,
        site_id: str | None,
        ocpp_version: Version,
        action: str,
        message_id: str | None,
        received_at_ms: int,
        payload: dict[str, Any],
    ) -> None:
        self.charger_id = charger_id
        self.site_id = site_id
        self.ocpp_version = ocpp_version
        self.action = action
        self.message_id = message_id
        self.received_at_ms = received_at_ms
        self.payload = payload


def decode(raw: bytes, max_bytes: int) -> Envelope | Rejected:
    if len(raw) > max_bytes:
        return Rejected(Reason.OVERSIZED, f"{len(raw)} bytes > limit {max_bytes}")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejected(Reason.INVALID_JSON, str(exc)[:200])
    if not isinstance(doc, dict):
        return Rejected(Reason.INVALID_ENVELOPE, f"envelope must be an object, got {type(doc).__name__}")
    return _from_doc(doc)


def _from_doc(doc: dict[str, Any]) -> Envelope | Rejected:
    charger_id = doc.get("charger_id")
    if not _is_id(charger_id):
        return Rejected(Reason.INVALID_ENVELOPE, "charger_id must be a non-empty string")
    site_id = doc.get("site_id")
    if site_id is not None and not _is_id(site_id):
        return Rejected(Reason.INVALID_ENVELOPE, "site_id must be a non-empty string or absent")
    version = doc.get("ocpp_version")
    if not isinstance(version, str) or version not in VERSIONS:  # a list would not even hash
        return Rejected(Reason.UNSUPPORTED_VERSION, f"ocpp_version {str(version)[:40]!r}")
    received = doc.get("received_at")
    received_ms = _received_ms(received)
    if received_ms is None:
        return Rejected(Reason.INVALID_TIMESTAMP, f"received_at {str(received)[:60]!r}")

    action, message_id, payload = doc.get("action"), doc.get("message_id"), doc.get("payload")
    if isinstance(payload, list):  # OCPP-J CALL: [2, id, action, payload]
        if len(payload) != 4 or payload[0] != OCPP_CALL or not isinstance(payload[1], str):
            return Rejected(
                Reason.INVALID_ENVELOPE, "payload array is not an OCPP-J CALL [2, id, action, {...}]"
            )
        if action is not None and action != payload[2]:
            return Rejected(Reason.INVALID_ENVELOPE, f"action {action!r} != CALL action {payload[2]!r}")
        action, message_id, payload = payload[2], message_id or payload[1], payload[3]
    if not isinstance(action, str) or not action:
        return Rejected(Reason.INVALID_ENVELOPE, "action must be a non-empty string")
    if not isinstance(payload, dict):
        return Rejected(Reason.INVALID_ENVELOPE, "payload must be an object or an OCPP-J CALL array")
    if message_id is not None and not isinstance(message_id, str):
        message_id = str(message_id) if isinstance(message_id, int) else None
    return Envelope(
        charger_id=cast(str, charger_id),
        site_id=cast(str | None, site_id),
        ocpp_version=cast(Version, version),
        action=action,
        message_id=message_id,
        received_at_ms=received_ms,
        payload=payload,
    )


def _is_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS and value.strip() == value


def _received_ms(value: object) -> int | None:
    """received_at is the CSMS's clock (trusted): ISO-8601 or epoch milliseconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 < value < 10**14:
        return value
    if isinstance(value, str):
        parsed = parse_iso_ms(value)
        return parsed[0] if parsed else None
    return None
