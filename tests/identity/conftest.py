"""Shared helpers of the identity tests: an app with the identity services, and users."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from revenge_core.http.app import create_app
from revenge_core.identity import passwords
from revenge_core.identity.authorizer import IDENTITY
from revenge_core.identity.models import IDENTITY_MODELS, User


@pytest.fixture
async def identity_app(aiohttp_client, config):
    """A started server without plugins; the app is ``client.app``, the services ``app[IDENTITY]``."""
    return await aiohttp_client(create_app(config, plugins={}))


async def make_user(app: web.Application, username: str, password: str, role: str | None = "user",
                    email: str | None = None) -> int:
    """Insert an account (bypassing the API) and give it ``role``; returns its id."""
    identity = app[IDENTITY]
    hashed = await asyncio.to_thread(passwords.hash_password, password)

    def insert() -> int:
        identity.db.bind(IDENTITY_MODELS)
        return User.insert(username=username, username_key=username.lower(), email=email,
                           email_key=email.lower() if email else None, password_hash=hashed).execute()

    user_id = await identity.db.run(insert)
    if role:
        await identity.rbac.assign_role(user_id, role)
    return user_id


async def login(client, username: str, password: str, **extra) -> dict:
    """Log in over the API and return the JSON body (asserting it worked)."""
    response = await client.post("/api/v1/auth/login", json={"username": username, "password": password, **extra})
    assert response.status == 200, await response.text()
    return await response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
