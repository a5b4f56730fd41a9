"""The activity log: what is recorded, redaction, the query API, pruning and retention."""

from __future__ import annotations

import asyncio
import datetime
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request

from revenge_core.db.models import utcnow
from revenge_core.http.keys import SERVICES
from revenge_core.identity.activity import (
    CORE_OWNER,
    RETENTION_JOB,
    RETENTION_SCHEDULE,
    client_ip,
    redact,
)
from revenge_core.identity.authorizer import IDENTITY
from revenge_core.identity.models import IDENTITY_MODELS, Activity
from tests.identity.conftest import login_headers, make_user

pytestmark = pytest.mark.usefixtures("cheap_password_hashes")


def peer(address: str) -> mock.Mock:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (address, 40000) if name == "peername" \
        else default
    return transport


async def stored_rows(identity) -> list[Activity]:
    def read() -> list[Activity]:
        identity.db.bind(IDENTITY_MODELS)
        return list(Activity.select().order_by(Activity.id))

    return await identity.db.run(read)


def test_forwarded_for_counts_only_from_this_machine() -> None:
    headers = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}
    from_proxy = make_mocked_request("GET", "/", headers=headers, transport=peer("127.0.0.1"))
    assert client_ip(from_proxy) == "203.0.113.9"  # the hop the local proxy saw, not what the client wrote
    from_outside = make_mocked_request("GET", "/", headers=headers, transport=peer("192.0.2.44"))
    assert client_ip(from_outside) == "192.0.2.44"
    garbage = make_mocked_request("GET", "/", headers={"X-Forwarded-For": "nonsense"}, transport=peer("::1"))
    assert client_ip(garbage) == "::1"
    chained = make_mocked_request("GET", "/", headers={"X-Forwarded-For": "203.0.113.1, 127.0.0.1"},
                                  transport=peer("127.0.0.1"))
    assert client_ip(chained) == "203.0.113.1"


def test_redaction_reaches_nested_keys_and_lists() -> None:
    value = {"username": "bob", "password": "hunter2", "nested": {"API-Key": "k", "apikey": "k2", "ok": 1},
             "list": [{"refresh_token": "t"}, "plain"], "backup_codes": ["a", "b"], "key_hash": "h",
             "client_secret": "s", "legacy.pin": "1234", "code": "123456", "empty_password": "",
             "totp.code": "1", "max_transcodes": 3, "spinner": "x"}
    assert redact(value) == {
        "username": "bob", "password": "********", "nested": {"API-Key": "********", "apikey": "********", "ok": 1},
        "list": [{"refresh_token": "********"}, "plain"], "backup_codes": "********", "key_hash": "********",
        "client_secret": "********", "legacy.pin": "********", "code": "********", "empty_password": "",
        "totp.code": "********", "max_transcodes": 3, "spinner": "x"}


async def test_record_keeps_who_from_where_and_redacts_secrets(identity_app) -> None:
    identity = identity_app.app[IDENTITY]
    request = make_mocked_request("POST", "/x", headers={"User-Agent": "curl/8", "X-Forwarded-For": "203.0.113.5"},
                                  transport=peer("127.0.0.1"))
    await identity.activity.record(
        "key.create", request=request, actor_id=7, actor="bob", target_type="api_key", target_id=42,
        before={"name": "old", "secret": "rv_before"}, after={"name": "new", "token": "rv_after"},
        details={"password": "hunter2", "scopes": ["read"], "nested": [{"api_key": "rv_nested"}]})
    [row] = await stored_rows(identity)
    stored = " ".join(str(v) for v in (row.before, row.after, row.details))
    for secret in ("rv_before", "rv_after", "hunter2", "rv_nested"):
        assert secret not in stored
    [entry] = (await identity.activity.query())["items"]
    assert entry["ip"] == "203.0.113.5" and entry["user_agent"] == "curl/8"
    assert (entry["actor_id"], entry["actor"], entry["target_type"], entry["target_id"]) == (7, "bob", "api_key",
                                                                                              "42")
    assert entry["after"] == {"name": "new", "token": "********"}
    assert entry["details"]["scopes"] == ["read"] and entry["success"] is True


async def test_the_actor_comes_from_the_caller_and_the_address_from_the_request(identity_app) -> None:
    client = identity_app
    user_id = await make_user(client.app, "carol", "carol password")
    headers = await login_headers(client, "carol", "carol password")
    response = await client.patch("/api/v1/me", json={"display_name": "Carol"},
                                  headers={**headers, "X-Forwarded-For": "198.51.100.23", "User-Agent": "pytest"})
    assert response.status == 200
    [entry] = (await client.app[IDENTITY].activity.query(action="user.update"))["items"]
    assert (entry["actor_id"], entry["actor"], entry["ip"], entry["user_agent"]) == (user_id, "carol",
                                                                                      "198.51.100.23", "pytest")
    assert entry["before"]["display_name"] == "" and entry["after"]["display_name"] == "Carol"


async def test_query_filters_and_pages(identity_app) -> None:
    log = identity_app.app[IDENTITY].activity
    await log.record("auth.login", actor_id=1, actor="ann", target_type="user", target_id=1)
    await log.record("auth.login.failed", actor="ann", target_type="user", target_id=1, success=False)
    await log.record("auth.logout", actor_id=1, actor="ann", target_type="session", target_id="s1")
    await log.record("authz.denied", actor_id=2, actor="ben", success=False)
    await log.record("setting.change", actor_id=2, actor="ben", target_type="setting", target_id="server.name")

    async def actions(**filters) -> list[str]:
        return [e["action"] for e in (await log.query(**filters))["items"]]

    assert await actions() == ["setting.change", "authz.denied", "auth.logout", "auth.login.failed", "auth.login"]
    assert await actions(actor_id=2) == ["setting.change", "authz.denied"]
    assert await actions(action="auth.login") == ["auth.login.failed", "auth.login"]
    assert await actions(action="auth.*") == ["auth.logout", "auth.login.failed", "auth.login"]
    assert await actions(action="auth") == ["auth.logout", "auth.login.failed", "auth.login"]  # not authz
    assert await actions(action="aut") == []
    assert await actions(action="auth_%") == []  # LIKE wildcards are taken literally
    assert await actions(target="user") == ["auth.login.failed", "auth.login"]
    assert await actions(target="session:s1") == ["auth.logout"]
    assert await actions(success=False) == ["authz.denied", "auth.login.failed"]
    assert await actions(success=True, actor_id=1, action="auth.*") == ["auth.logout", "auth.login"]

    page = await log.query(page=2, per_page=2)
    assert (page["total"], page["page"], page["per_page"]) == (5, 2, 2)
    assert [e["action"] for e in page["items"]] == ["auth.logout", "auth.login.failed"]
    assert (await log.query(page=4, per_page=2))["items"] == []

    now = utcnow()
    assert len((await log.query(since=now - datetime.timedelta(minutes=1)))["items"]) == 5
    assert (await log.query(since=now + datetime.timedelta(minutes=1)))["items"] == []
    assert (await log.query(until=now - datetime.timedelta(minutes=1)))["items"] == []


async def test_the_admin_query_api_parses_filters_and_needs_admin_activity(identity_app) -> None:
    client = identity_app
    await make_user(client.app, "boss", "boss password", role="admin")
    await make_user(client.app, "pleb", "pleb password")
    boss = await login_headers(client, "boss", "boss password")
    pleb = await login_headers(client, "pleb", "pleb password")
    assert (await client.get("/api/v1/admin/activity")).status == 401
    assert (await client.get("/api/v1/admin/activity", headers=pleb)).status == 403
    await client.post("/api/v1/auth/login", json={"username": "boss", "password": "wrong password"})

    response = await client.get("/api/v1/admin/activity", headers=boss)
    assert response.status == 200
    body = await response.json()
    assert body["total"] >= 3 and body["page"] == 1 and body["per_page"] == 50
    since = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    response = await client.get("/api/v1/admin/activity", headers=boss,
                                params={"success": "false", "since": since, "per_page": "200"})
    failures = await response.json()
    assert failures["total"] >= 1 and all(not e["success"] for e in failures["items"])
    assert "wrong password" not in str(failures)

    for params, key in (({"per_page": "0"}, "per_page"), ({"per_page": "201"}, "per_page"),
                        ({"page": "0"}, "page"), ({"since": "yesterday"}, "since"), ({"until": "1/2/3"}, "until"),
                        ({"success": "maybe"}, "success"), ({"actor_id": "x"}, "actor_id")):
        response = await client.get("/api/v1/admin/activity", headers=boss, params=params)
        assert response.status == 400, params
        assert (await response.json())["details"]["key"] == key


async def _age(identity, days: float) -> None:
    def update() -> None:
        identity.db.bind(IDENTITY_MODELS)
        Activity.update(at=utcnow() - datetime.timedelta(days=days)).execute()

    await identity.db.run(update)


async def test_prune_deletes_only_older_entries(identity_app) -> None:
    identity = identity_app.app[IDENTITY]
    for index in range(3):
        await identity.activity.record("old.thing", target_id=index)
    await _age(identity, 40)
    await identity.activity.record("new.thing")
    assert await identity.activity.prune(30) == 3
    assert [e["action"] for e in (await identity.activity.query())["items"]] == ["new.thing"]
    assert await identity.activity.prune(30) == 0


async def test_the_retention_job_runs_on_the_queue_under_the_core(identity_app) -> None:
    app = identity_app.app
    identity = app[IDENTITY]
    services = app[SERVICES]
    identity.config.auth.activity_retention_days = 10
    identity.activity.install_jobs()
    identity.activity.install_jobs()  # idempotent

    owner, _job = services.registry.get("jobs", RETENTION_JOB)
    assert owner == CORE_OWNER and services.jobs.is_enabled(CORE_OWNER)
    assert services.registry.get("schedules", RETENTION_SCHEDULE)[0] == CORE_OWNER
    assert [job.name for job in services.registry.owned_by(CORE_OWNER)["jobs"]].count(RETENTION_JOB) == 1

    # The daily schedule fires once a day, at its minute.
    schedules = services.registry.items("schedules")
    at = datetime.datetime(2030, 1, 1, 3, 17)
    with mock.patch.object(services.jobs, "enqueue") as enqueue:
        assert services.jobs._fire_schedules_at(at, schedules) == [RETENTION_SCHEDULE]
        assert services.jobs._fire_schedules_at(at + datetime.timedelta(minutes=1), schedules) == []
    enqueue.assert_called_once()

    await identity.activity.record("ancient")
    await _age(identity, 11)
    await identity.activity.record("recent")
    services.jobs.enqueue(RETENTION_JOB)
    for _ in range(200):
        remaining = [e["action"] for e in (await identity.activity.query())["items"]]
        if remaining == ["recent"]:
            break
        await asyncio.sleep(0.05)
    assert remaining == ["recent"]


async def test_the_daily_retention_job_prunes_sessions_attempts_and_old_activity(identity_app):
    import datetime

    from revenge_core.db.models import utcnow
    from revenge_core.http.keys import SERVICES
    from revenge_core.identity.authorizer import IDENTITY
    from revenge_core.identity.models import Activity, LoginAttempt, Session
    from tests.identity.conftest import make_user

    app = identity_app.app
    identity = app[IDENTITY]
    user_id = await make_user(app, "ret", "long enough password", role="user")
    old = utcnow() - datetime.timedelta(days=400)

    def seed() -> None:
        Session.create(id="00000000-0000-0000-0000-000000000001", user=user_id, expires_at=old, created_at=old)
        LoginAttempt.create(username_key="ret", ip="127.0.0.1", success=False, at=old)
        Activity.create(action="auth.login", at=old)

    await identity.run(seed)
    job = app[SERVICES].registry.get("jobs", "core.activity_retention")[1]
    await job.func(None)

    def counts() -> tuple[int, int, int]:
        return (Session.select().where(Session.expires_at == old).count(),
                LoginAttempt.select().where(LoginAttempt.at == old).count(),
                Activity.select().where(Activity.at == old).count())

    assert await identity.run(counts) == (0, 0, 0)
