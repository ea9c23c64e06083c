"""Alertmanager's v2 API: POST /api/v2/alerts. Off unless CHARGESTREAM_ALERTMANAGER_URL is set.

A failed post is logged and counted, never fatal: a firing alert is re-sent on its next
re-notification, and Alertmanager treats re-sends of the same label set as one alert.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import aiohttp

log = logging.getLogger(__name__)


class AlertReceiver(Protocol):
    async def post(self, alerts: list[dict[str, Any]]) -> bool: ...
    async def close(self) -> None: ...


class Alertmanager:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, alerts: list[dict[str, Any]]) -> bool:
        if not alerts:
            return True
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(self.url, json=alerts) as response:
                if response.status == 200:
                    return True
                log.warning(
                    "Alertmanager %s answered %d: %s",
                    self.url,
                    response.status,
                    (await response.text())[:200],
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("Alertmanager %s unreachable: %r", self.url, exc)
        return False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class NoAlertmanager:
    async def post(self, alerts: list[dict[str, Any]]) -> bool:
        return True

    async def close(self) -> None:
        return None
