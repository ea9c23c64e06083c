"""A minimal Faust app with one agent, built by chargestream's own app factory.

Run as a real worker by test_smoke.py: it reads raw bytes from ECHO_IN and writes
them, reversed, to ECHO_OUT, proving that a Faust agent round-trips through the broker.
"""

from __future__ import annotations

import os

import faust

from agents.app import create_app
from agents.config import Settings

app = create_app(Settings(app_id=os.environ["ECHO_APP_ID"]))
source = app.topic(os.environ["ECHO_IN"], value_type=bytes, value_serializer="raw")
sink = app.topic(os.environ["ECHO_OUT"], value_type=bytes, value_serializer="raw")


@app.agent(source)
async def echo(stream: faust.StreamT[bytes]) -> None:
    async for value in stream:
        await sink.send(value=value[::-1])


if __name__ == "__main__":
    app.main()
