"""Load the OCPP envelope fixtures in tests/fixtures/ocpp/."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ocpp"


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()
