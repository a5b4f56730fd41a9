"""Shared helpers of the identity tests: an app with the identity services, and users."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from revenge_core.http.app import create_app
from revenge_core.identity import passwords
from revenge_core.identity.authorizer import IDENTITY
from revenge_core.identity.models import IDENTITY_MODELS, Activity, User
from revenge_core.identity.principal import SCOPES, Principal


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


PASSWORD = "correct horse battery staple"


@pytest.fixture
def app(identity_app) -> web.Application:
    """The application of ``identity_app``."""
    return identity_app.app


@pytest.fixture
def alice_email() -> str | None:
    """Alice's email in the ``client`` fixture; a test module overrides this fixture to give her one."""
    return None


@pytest.fixture
async def client(identity_app, alice_email):
    """``identity_app`` with one account: alice, role user, password ``PASSWORD``."""
    await make_user(identity_app.app, "alice", PASSWORD, email=alice_email)
    return identity_app


async def login_headers(client, username: str, password: str) -> dict[str, str]:
    """Log in over the API (asserting it worked) and return the bearer header of the access token."""
    return bearer((await login(client, username, password))["access_token"])


async def db_run(app: web.Application, fn):
    """Run ``fn`` on the identity database, with the identity models bound to it."""
    identity = app[IDENTITY]

    def call():
        identity.db.bind(IDENTITY_MODELS)
        return fn()

    return await identity.db.run(call)


def who(user_id: int, scopes=SCOPES) -> Principal:
    """A principal for ``user_id`` with ``scopes`` (all by default)."""
    return Principal(user_id=user_id, username=f"u{user_id}", scopes=frozenset(scopes))


async def activity_log(app: web.Application, action: str) -> list[dict]:
    """The activity entries of ``action``, oldest first, with their JSON decoded."""
    def read():
        return [{"actor_id": a.actor_id, "target_id": a.target_id, "before": json.loads(a.before or "null"),
                 "after": json.loads(a.after or "null"), "ip": a.ip}
                for a in Activity.select().where(Activity.action == action).order_by(Activity.id)]

    return await db_run(app, read)


@pytest.fixture
async def admin_headers(identity_app) -> dict[str, str]:
    """Bearer headers of root, an admin with password ``PASSWORD``."""
    await make_user(identity_app.app, "root", PASSWORD, role="admin")
    return await login_headers(identity_app, "root", PASSWORD)
