"""chargestream: the Faust application that turns OCPP telemetry into site power,
availability, alerts and time series."""

from pathlib import Path

from agents.build_check import check

check(Path(__file__).parent)
