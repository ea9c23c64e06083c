"""chargestream: the Faust application that turns OCPP telemetry into site power,
availability, alerts and time series."""
