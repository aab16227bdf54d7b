"""HTTP client for Alertmanager's API v2: POST /api/v2/alerts, telling retriable from not."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from streams.errors import BorderSurgeError
from streams.settings import Settings


class AlertmanagerError(BorderSurgeError):
    """Alertmanager did not take the alerts."""

    retriable = True


class AlertmanagerRejected(AlertmanagerError):
    """400 or 422: the request itself is wrong, and sending it again will not help."""

    retriable = False


class AlertmanagerClient:
    def __init__(self, settings: Settings) -> None:
        assert settings.alertmanager_url is not None
        self.url = f"{settings.alertmanager_url}/api/v2/alerts"
        self._timeout = aiohttp.ClientTimeout(total=settings.alertmanager_timeout_seconds)
        self._headers: dict[str, str] = {}
        if settings.alertmanager_username:
            password = settings.alertmanager_password
            secret = password.get_secret_value() if password else ""
            token = base64.b64encode(f"{settings.alertmanager_username}:{secret}".encode())
            self._headers["Authorization"] = f"Basic {token.decode()}"
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> AlertmanagerClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def post(self, alerts: list[dict[str, Any]]) -> None:
        assert self._session is not None, "start() the client first"
        try:
            async with self._session.post(self.url, json=alerts) as response:
                if response.status == 200:
                    return
                text = (await response.text())[:500]
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise AlertmanagerError(f"{self.url}: {exc!r}") from None
        # Only a malformed request is final; 401, 403 or 404 are configuration, fixed by an
        # operator while the alerts wait.
        if response.status in (400, 422):
            raise AlertmanagerRejected(f"{self.url}: HTTP {response.status}: {text}")
        raise AlertmanagerError(f"{self.url}: HTTP {response.status}: {text}")
