"""A local aiohttp server that plays the webhook receiver."""

from __future__ import annotations

import asyncio
import socket

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer


@attrs.define
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@attrs.define
class Receiver:
    """Records every request; answers with ``statuses`` in turn (then 200), after ``delay``."""

    url: str = ""
    requests: list[Received] = attrs.Factory(list)
    statuses: list[int] = attrs.Factory(list)
    delay: float = 0.0

    def url_for(self, path: str) -> str:
        return self.url.rsplit("/hooks/", 1)[0] + path

    @property
    def posts(self) -> list[Received]:
        return [r for r in self.requests if r.method == "POST"]


@pytest.fixture
async def receiver():
    state = Receiver()

    async def handle(request: web.Request) -> web.Response:
        state.requests.append(Received(request.method, request.path, dict(request.headers), await request.read()))
        if state.delay:
            await asyncio.sleep(state.delay)
        status = state.statuses.pop(0) if state.statuses else 200
        headers = {"Location": "/moved"} if 300 <= status < 400 else None
        return web.Response(status=status, text="thanks", headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app)
    await server.start_server()
    # The path stands for the token many webhook services put in their URLs.
    state.url = str(server.make_url("/hooks/secret-token-123"))
    yield state
    await server.close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/secret-token-123"
