"""Plugins apply library grants through context.access: unseen things answer 404."""

from __future__ import annotations

import pytest
from aiohttp import web

from revenge_core.http.app import create_app
from revenge_core.identity.authorizer import IDENTITY
from revenge_hookspecs import Route, hookimpl
from tests.identity.conftest import make_user


class Shelf:
    """Serves one library's shelf, but only to callers who may see that library."""

    @hookimpl
    def revenge_routes(self, context):
        async def shelf(request: web.Request) -> web.Response:
            library_id = request.match_info["library_id"]
            await context.access.require(request, "view", "library", library_id)
            caller = context.access.caller(request)
            return web.json_response({"library": library_id, "caller": caller.username})

        async def visible(request: web.Request) -> web.Response:
            ids = await context.access.visible_library_ids(request)
            return web.json_response({"all": ids is None, "ids": sorted(ids or [])})

        return [Route("GET", "/shelf/{library_id}", shelf, permission="library:view"),
                Route("GET", "/shelf", visible, permission="library:view")]


async def _token(client, username: str, password: str) -> dict[str, str]:
    response = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    return {"Authorization": f"Bearer {(await response.json())['access_token']}"}


@pytest.fixture
async def client(aiohttp_client, config):
    return await aiohttp_client(create_app(config, plugins={"shelf": Shelf()}))


async def test_a_library_the_caller_may_not_see_looks_absent(client) -> None:
    app = client.app
    user_id = await make_user(app, "reader", "a long enough password", role="user")
    await make_user(app, "boss", "a long enough password", role="admin")
    reader = await _token(client, "reader", "a long enough password")
    boss = await _token(client, "boss", "a long enough password")

    hidden = await client.get("/api/v1/shelf/films", headers=reader)
    assert hidden.status == 404 and (await hidden.json())["code"] == "not_found"
    assert await (await client.get("/api/v1/shelf", headers=reader)).json() == {"all": False, "ids": []}

    await app[IDENTITY].grants.grant("user", user_id, "library", "films", "view")
    shown = await client.get("/api/v1/shelf/films", headers=reader)
    assert shown.status == 200 and await shown.json() == {"library": "films", "caller": "reader"}
    assert (await client.get("/api/v1/shelf/music", headers=reader)).status == 404
    assert await (await client.get("/api/v1/shelf", headers=reader)).json() == {"all": False, "ids": ["films"]}

    assert (await client.get("/api/v1/shelf/music", headers=boss)).status == 200
    assert await (await client.get("/api/v1/shelf", headers=boss)).json() == {"all": True, "ids": []}
    assert (await client.get("/api/v1/shelf/films")).status == 401
