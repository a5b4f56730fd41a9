"""Identity hardening: CSRF on public routes, concurrent refreshes, secrets encrypted at rest,
session-cache fills racing revokes, and MFA tokens spent once across instances."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import stat

import attrs
import pyotp
import pytest
import redis
from loguru import logger
from playhouse.migrations import MigrationError

from revenge_core.config import EncryptionConfig
from revenge_core.db.database import Database
from revenge_core.db.migrate import core_set, downgrade, upgrade
from revenge_core.db.models import utcnow
from revenge_core.http.app import create_app
from revenge_core.http.keys import SERVICES
from revenge_core.identity.authorizer import IDENTITY
from revenge_core.identity.crypto import ENCRYPTION_KEY_FILE, DecryptionError, SecretBox
from revenge_core.identity.models import IDENTITY_MODELS, RefreshToken, ServerSetting, Session, UsedToken, User
from revenge_core.identity.sessions import CACHE_PREFIX
from revenge_core.identity.settings import SEALED, unseal
from revenge_core.identity.tokens import SUCCESSOR_PREFIX
from revenge_core.identity.totp import unseal_secret

from .conftest import PASSWORD, bearer, login, make_user
from .test_api_keys import everything_stored
from .test_auth import cookie_header, cookie_login, enable_totp, password_step

REFRESH = "/api/v1/auth/refresh"
MFA = "/api/v1/auth/login/mfa"
SESSIONS = "/api/v1/me/sessions"
PIN = "864209753142"
ARR_KEY = "0123456789abcdef0123456789abcdef"
KEY_A, KEY_B = "a" * 40, "b" * 40
MIGRATION = "0006_identity_hardening"


async def run(client, fn):
    return await client.app[IDENTITY].run(fn)


async def two_instances(aiohttp_client, config):
    """Two servers on one database and data folder, as behind a load balancer.

    Both live in this process and share peewee's model classes, which each database call
    binds to its own database; so tests send them requests one after the other, not at once.
    """
    first = await aiohttp_client(create_app(config, plugins={}))
    second = await aiohttp_client(create_app(config, plugins={}))
    await make_user(first.app, "alice", PASSWORD)
    return first, second


async def access_status(client, token: str) -> int:
    return (await client.get(SESSIONS, headers=bearer(token))).status


# --- 1. CSRF and failed credentials on public routes ---------------------------------------------


async def test_a_cookie_request_without_csrf_fails_with_403_on_public_routes_too(identity_app, tmp_path) -> None:
    client = identity_app
    # Nobody has credentials yet: the public setup routes work without any.
    assert (await client.post("/api/v1/setup/database", json={})).status == 200
    await make_user(client.app, "root", PASSWORD, role="admin")
    jar, _ = await cookie_login(client, "root")
    cookies = {"Cookie": cookie_header(jar)}
    movies = tmp_path / "movies"
    movies.mkdir()
    libraries = ("/api/v1/setup/libraries", {"paths": [str(movies)]})
    for path, body in (libraries, ("/api/v1/setup/complete", None), ("/api/v1/auth/logout", None),
                       ("/api/v1/auth/login", {"username": "root", "password": PASSWORD})):
        for headers in (cookies, {**cookies, "X-CSRF-Token": "wrong"}):
            response = await client.post(path, json=body, headers=headers)
            assert response.status == 403, (path, headers)
            assert (await response.json())["code"] == "csrf_failed"
    # Safe methods need no header, and with the header the cookie is the caller.
    assert (await client.get("/api/v1/setup", headers=cookies)).status == 200
    with_header = {**cookies, "X-CSRF-Token": jar["revenge_csrf"]}
    response = await client.post(libraries[0], json=libraries[1], headers=with_header)
    assert response.status == 200, await response.text()


async def test_a_credential_that_fails_on_a_public_route_is_named_only_where_a_caller_is_needed(client) -> None:
    await make_user(client.app, "root", PASSWORD, role="admin")  # setup now needs an admin
    for headers, code in (({}, "unauthorized"), (bearer("not-a-token"), "invalid_token"),
                          ({"X-API-Key": "rv_" + "x" * 43}, "invalid_api_key")):
        response = await client.post("/api/v1/setup/complete", headers=headers)
        assert response.status == 401
        assert (await response.json())["code"] == code
    # Logging in does not need a caller: a stale token sent along changes nothing.
    response = await client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD},
                                 headers=bearer("not-a-token"))
    assert response.status == 200


# --- 2. concurrent refreshes -----------------------------------------------------------------------


async def test_concurrent_refreshes_get_the_same_tokens_and_keep_the_session(client) -> None:
    body = await login(client, "alice", PASSWORD)
    responses = await asyncio.gather(*[client.post(REFRESH, json={"refresh_token": body["refresh_token"]})
                                       for _ in range(3)])
    assert [r.status for r in responses] == [200, 200, 200]
    answers = [await r.json() for r in responses]
    assert len({(a["access_token"], a["refresh_token"]) for a in answers}) == 1
    successor = answers[0]
    assert successor["refresh_token"] != body["refresh_token"]
    assert await access_status(client, successor["access_token"]) == 200
    # One rotation: the original token and one successor, no second chain.
    rows = await run(client, lambda: RefreshToken.select().where(RefreshToken.session == body["session_id"]).count())
    assert rows == 2
    response = await client.post(REFRESH, json={"refresh_token": successor["refresh_token"]})
    assert response.status == 200
    session = await run(client, lambda: Session.get_by_id(body["session_id"]))
    assert session.revoked_at is None


async def test_reuse_after_the_grace_window_still_ends_the_session(client, config) -> None:
    config.auth.refresh_grace_seconds = 0.5
    body = await login(client, "alice", PASSWORD)
    first = await client.post(REFRESH, json={"refresh_token": body["refresh_token"]})
    assert first.status == 200
    successor = await first.json()
    await asyncio.sleep(0.7)
    response = await client.post(REFRESH, json={"refresh_token": body["refresh_token"]})
    assert response.status == 401
    assert await access_status(client, successor["access_token"]) == 401
    session = await run(client, lambda: Session.get_by_id(body["session_id"]))
    assert session.revoked_reason == "refresh_reuse"


async def test_concurrent_cookie_refreshes_from_two_tabs_get_the_same_cookies(client) -> None:
    jar, _ = await cookie_login(client)
    refresh_cookies = {name: jar[name] for name in ("revenge_refresh", "revenge_csrf")}
    headers = {"Cookie": cookie_header(refresh_cookies), "X-CSRF-Token": jar["revenge_csrf"]}
    responses = await asyncio.gather(*[client.post(REFRESH, headers=headers) for _ in range(2)])
    assert [r.status for r in responses] == [200, 200]
    cookies = [{name: r.cookies[name].value for name in ("revenge_access", "revenge_refresh")} for r in responses]
    assert cookies[0] == cookies[1]
    client.session.cookie_jar.clear()
    # The CSRF check still applies to a token inside the grace window.
    response = await client.post(REFRESH, headers={"Cookie": headers["Cookie"]})
    assert response.status == 403


async def test_a_refresh_on_another_instance_gets_the_same_tokens_through_redis(aiohttp_client, config,
                                                                                redis_url) -> None:
    config.cache.url = redis_url
    first, second = await two_instances(aiohttp_client, config)
    body = await login(first, "alice", PASSWORD)
    payload = {"refresh_token": body["refresh_token"]}
    responses = [await first.post(REFRESH, json=payload), await second.post(REFRESH, json=payload)]
    assert [r.status for r in responses] == [200, 200]
    answers = [await r.json() for r in responses]
    assert answers[0]["refresh_token"] == answers[1]["refresh_token"]
    assert answers[0]["access_token"] == answers[1]["access_token"]
    assert await access_status(second, answers[0]["access_token"]) == 200
    # What the cache holds is encrypted.
    token_hash = hashlib.sha256(body["refresh_token"].encode()).hexdigest()
    stored = redis.Redis.from_url(redis_url, decode_responses=True).get(f"revenge:cache:{SUCCESSOR_PREFIX}{token_hash}")
    assert stored and json.loads(stored).startswith("v1:")
    assert answers[0]["refresh_token"] not in stored and answers[0]["access_token"] not in stored


async def test_without_a_shared_cache_a_concurrent_refresh_fails_but_ends_nothing(aiohttp_client, config) -> None:
    first, second = await two_instances(aiohttp_client, config)
    body = await login(first, "alice", PASSWORD)
    response = await first.post(REFRESH, json={"refresh_token": body["refresh_token"]})
    successor = await response.json()
    response = await second.post(REFRESH, json={"refresh_token": body["refresh_token"]})
    assert response.status == 401
    assert await access_status(first, successor["access_token"]) == 200


# --- 3. encryption at rest -------------------------------------------------------------------------


def test_secret_box_round_trip_and_clear_errors() -> None:
    box = SecretBox(KEY_A)
    stored = box.encrypt("totp-secret", "JBSWY3DPEHPK3PXP", context="7")
    assert stored.startswith(f"v1:{box.key_id}:") and "JBSWY3DPEHPK3PXP" not in stored
    assert box.encrypt("totp-secret", "JBSWY3DPEHPK3PXP", context="7") != stored  # a fresh nonce each time
    assert box.decrypt("totp-secret", stored, context="7") == "JBSWY3DPEHPK3PXP"
    with pytest.raises(DecryptionError, match="another key"):
        SecretBox(KEY_B).decrypt("totp-secret", stored, context="7")
    body = stored.rsplit(":", 1)[1]
    tampered = stored[:-len(body)] + ("A" if body[0] != "A" else "B") + body[1:]
    for bad, kwargs in ((stored, {"context": "8"}), (tampered, {"context": "7"})):
        with pytest.raises(DecryptionError, match="damaged or belongs to another record"):
            box.decrypt("totp-secret", bad, **kwargs)
    with pytest.raises(DecryptionError, match="damaged"):
        box.decrypt("setting", stored, context="7")  # another purpose, another key
    for unknown in ("v2:" + stored[3:], "JBSWY3DPEHPK3PXP", ""):
        with pytest.raises(DecryptionError, match="known encrypted format"):
            box.decrypt("totp-secret", unknown, context="7")
    with pytest.raises(ValueError):
        SecretBox("short")


async def test_totp_secrets_and_secret_settings_are_stored_encrypted(client) -> None:
    identity = client.app[IDENTITY]
    token = (await login(client, "alice", PASSWORD))["access_token"]
    enrolment = await (await client.post("/api/v1/me/totp", headers=bearer(token))).json()
    # A PIN longer than any number in a stored row (timestamps hold runs of at most 6 digits).
    await identity.settings.update({"arr.radarr.api_key": ARR_KEY, "legacy.pin": PIN, "server.name": "Den"})
    everything = await everything_stored(client)
    for secret in (enrolment["secret"], ARR_KEY, PIN):
        assert secret not in everything
    assert "Den" in everything  # plain settings stay plain
    stored_secret = await run(client, lambda: User.get(User.username_key == "alice").totp_secret)
    assert stored_secret.startswith("v1:")
    stored_pin = await run(client, lambda: json.loads(ServerSetting.get_by_id("legacy.pin").value))
    assert set(stored_pin) == {SEALED}
    # Round trip: the server reads them back.
    assert await identity.settings.get("arr.radarr.api_key") == ARR_KEY
    assert await identity.settings.get("legacy.pin") == PIN
    code = pyotp.TOTP(enrolment["secret"]).now()
    response = await client.post("/api/v1/me/totp/confirm", headers=bearer(token), json={"code": code})
    assert response.status == 200


async def test_a_secret_stored_under_another_key_fails_with_a_clear_error(aiohttp_client, config) -> None:
    config.encryption.key = KEY_A
    first = await aiohttp_client(create_app(config, plugins={}))
    alice = await make_user(first.app, "alice", PASSWORD)
    await first.app[IDENTITY].totp.enroll(alice)
    await first.app[IDENTITY].settings.update({"arr.radarr.api_key": ARR_KEY})
    # The same database, restarted with another key.
    other = await aiohttp_client(create_app(attrs.evolve(config, encryption=EncryptionConfig(key=KEY_B)), plugins={}))
    identity = other.app[IDENTITY]
    with pytest.raises(DecryptionError, match="another key"):
        await identity.settings.get("arr.radarr.api_key")
    with pytest.raises(DecryptionError, match="another key"):
        await identity.totp.confirm(alice, "123456")


async def test_without_a_configured_key_one_is_generated_privately_and_announced(identity_app, config) -> None:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="INFO")
    try:
        box = identity_app.app[IDENTITY].secret_box
    finally:
        logger.remove(sink)
    path = config.data_dir / ENCRYPTION_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert any("encryption key" in line and str(path) in line for line in lines)
    # Another instance on the same data folder uses the same key; a configured key writes nothing.
    assert SecretBox.from_config(config).key_id == box.key_id
    path.unlink()
    configured = attrs.evolve(config, encryption=EncryptionConfig(key=KEY_A))
    assert SecretBox.from_config(configured).key_id == SecretBox(KEY_A).key_id
    assert not path.exists()


def test_the_migration_encrypts_plaintext_secrets_and_down_restores_them(config) -> None:
    plain_secret = pyotp.random_base32(32)
    db = Database(config)
    try:
        upgrade(db.database, core_set(), "0005_access")

        def seed() -> int:
            db.bind(IDENTITY_MODELS)
            for key, value in (("arr.radarr.api_key", ARR_KEY), ("legacy.pin", "1234"), ("server.name", "Den")):
                ServerSetting.insert(key=key, value=json.dumps(value)).execute()
            return User.insert(username="old", username_key="old", password_hash="x", totp_secret=plain_secret,
                               totp_enabled=True).execute()

        def stored() -> tuple[str, dict[str, str]]:
            db.bind(IDENTITY_MODELS)
            return (User.get_by_id(alice).totp_secret,
                    {row.key: row.value for row in ServerSetting.select()})

        alice = db.call(seed)
        before = db.call(stored)
        # Without the configuration there is no key: it refuses, and changes nothing.
        with pytest.raises(MigrationError, match="needs the server's configuration"):
            upgrade(db.database, core_set(), MIGRATION)
        assert db.call(stored) == before

        assert upgrade(db.database, core_set(), MIGRATION, config=config) == [MIGRATION]
        secret, settings = db.call(stored)
        box = SecretBox.from_config(config)
        assert secret.startswith("v1:") and unseal_secret(box, alice, secret) == plain_secret
        assert ARR_KEY not in settings["arr.radarr.api_key"] and "1234" not in settings["legacy.pin"]
        assert unseal(box, "arr.radarr.api_key", json.loads(settings["arr.radarr.api_key"])) == ARR_KEY
        assert unseal(box, "legacy.pin", json.loads(settings["legacy.pin"])) == "1234"
        assert settings["server.name"] == before[1]["server.name"]
        # Running it again has nothing left to do; going down restores the plain text.
        assert upgrade(db.database, core_set(), MIGRATION, config=config) == []
        assert downgrade(db.database, core_set(), MIGRATION, config=config) == [MIGRATION]
        assert db.call(stored) == before
    finally:
        db.close()


# --- 4. a session-cache fill racing a revoke -----------------------------------------------------


async def test_a_cache_fill_racing_a_revoke_does_not_keep_the_session_alive(client, monkeypatch) -> None:
    body = await login(client, "alice", PASSWORD)
    sid, user_id = body["session_id"], body["user"]["id"]
    sessions = client.app[IDENTITY].sessions
    await sessions.forget(sid)
    load_state = sessions._load_state
    raced = []

    async def load_then_revoke(session_id: str) -> dict:
        # The fill reads the live row; the revoke commits and drops the cache entry before
        # the fill stores what it read.
        state = await load_state(session_id)
        if not raced:
            raced.append(state)
            await sessions.revoke(session_id, reason="test")
        return state

    monkeypatch.setattr(sessions, "_load_state", load_then_revoke)
    assert not await sessions.check(sid, user_id)
    assert raced and raced[0]["live"]
    assert (await client.app[IDENTITY].cache.get(CACHE_PREFIX + sid))["live"] is False
    assert await access_status(client, body["access_token"]) == 401


# --- 5. MFA tokens are spent once, on any instance ------------------------------------------------


async def test_an_mfa_token_is_spent_once_across_instances(aiohttp_client, config) -> None:
    first, second = await two_instances(aiohttp_client, config)
    token = (await login(first, "alice", PASSWORD))["access_token"]
    _, backup_codes = await enable_totp(first, token)

    challenge = await password_step(first)
    response = await first.post(MFA, json={"mfa_token": challenge["mfa_token"], "backup_code": backup_codes[0]})
    assert response.status == 200
    response = await second.post(MFA, json={"mfa_token": challenge["mfa_token"], "backup_code": backup_codes[1]})
    assert response.status == 401
    assert (await response.json())["code"] == "invalid_token"

    # Two requests at the same moment, with two good codes: one login.
    challenge = await password_step(first)
    responses = await asyncio.gather(*[
        first.post(MFA, json={"mfa_token": challenge["mfa_token"], "backup_code": code})
        for code in backup_codes[2:4]])
    assert sorted(r.status for r in responses) == [200, 401]
    spent = await run(first, lambda: list(UsedToken.select()))
    assert len(spent) == 2 and all(row.purpose == "mfa" and row.expires_at > utcnow() for row in spent)


async def test_spent_tokens_are_pruned_by_the_daily_retention_job(client) -> None:
    identity = client.app[IDENTITY]
    past = int((datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)).timestamp())
    future = past + 3600
    assert await identity.tokens.spend("expired", "mfa", past)
    assert await identity.tokens.spend("current", "mfa", future)
    assert not await identity.tokens.spend("current", "mfa", future)
    job = client.app[SERVICES].registry.get("jobs", "core.activity_retention")[1]
    await job.func(None)
    assert await run(client, lambda: [row.jti for row in UsedToken.select()]) == ["current"]
