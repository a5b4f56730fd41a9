"""Outbound HTTP for the server and plugins: one place for timeouts and the User-Agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from . import __version__

USER_AGENT = f"Revenge/{__version__} (self-hosted media server)"
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10, sock_read=20)


@asynccontextmanager
async def client_session(**kwargs: Any) -> AsyncIterator[aiohttp.ClientSession]:
    """An ``aiohttp.ClientSession`` with the server's defaults; callers may override any."""
    headers = {"User-Agent": USER_AGENT, **(kwargs.pop("headers", None) or {})}
    kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
    kwargs.setdefault("raise_for_status", False)
    async with aiohttp.ClientSession(headers=headers, **kwargs) as session:
        yield session
