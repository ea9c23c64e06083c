"""HTTP endpoints on the worker's Faust web server (bound to CHARGESTREAM_WEB_HOST)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from .app import app


@app.page("/metrics")
async def metrics_view(web: Any, request: Any) -> Any:
    return web.bytes(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])
