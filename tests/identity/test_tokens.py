"""Access tokens (JWT HS256 only), the signing secret, and refresh-token rotation and reuse."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import json
import stat
import time

import rsa
from jose import jwt

from revenge_core.db.models import utcnow
from revenge_core.http.app import create_app
from revenge_core.identity.authorizer import IDENTITY
from revenge_core.identity.models import Activity, RefreshToken, Session
from revenge_core.identity.tokens import Tokens, load_or_create_secret

from .conftest import PASSWORD, bearer, db_run, login, make_user

ME = "/api/v1/me/sessions"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs(secret: str, header: dict, payload: bytes, digestmod=hashlib.sha256) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
    signature = hmac.new(secret.encode(), signing_input.encode(), digestmod).digest()
    return f"{signing_input}.{b64(signature)}"


async def status_of(client, token: str) -> tuple[int, dict]:
    response = await client.get(ME, headers=bearer(token))
    return response.status, await response.json()


# --- the secret ----------------------------------------------------------------------------------


async def test_generated_secret_is_private_strong_and_shared_by_instances(client, config) -> None:
    body = await login(client, "alice", PASSWORD)
    path = config.data_dir / "secrets" / "jwt_secret"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().strip()
    assert len(secret) >= 64
    # The token was signed with it, and a second instance on the same data folder agrees.
    assert jwt.decode(body["access_token"], secret, algorithms=["HS256"])["sub"]
    other = Tokens(client.app[IDENTITY])
    assert other.secret == secret
    other.verify_access(body["access_token"])
    assert load_or_create_secret(config.data_dir) == secret


async def test_a_configured_secret_is_used_and_nothing_is_written(aiohttp_client, config) -> None:
    config.auth.jwt_secret = "s" * 40
    client = await aiohttp_client(create_app(config, plugins={}))
    await make_user(client.app, "alice", PASSWORD)
    body = await login(client, "alice", PASSWORD)
    assert jwt.decode(body["access_token"], "s" * 40, algorithms=["HS256"])["sub"]
    assert not (config.data_dir / "secrets" / "jwt_secret").exists()


def test_concurrent_first_starts_agree_on_one_secret(tmp_path) -> None:
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        secrets_seen = set(pool.map(lambda _: load_or_create_secret(tmp_path), range(16)))
    assert len(secrets_seen) == 1
    assert [p.name for p in (tmp_path / "secrets").iterdir()] == ["jwt_secret"]


# --- access tokens -------------------------------------------------------------------------------


async def test_access_token_has_the_standard_claims_in_seconds(client, config) -> None:
    before = int(time.time())
    body = await login(client, "alice", PASSWORD)
    token = body["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.get_unverified_claims(token)
    assert set(claims) == {"sub", "sid", "iat", "exp", "jti", "scopes"}
    assert claims["sub"] == str(body["user"]["id"])
    assert claims["sid"] == body["session_id"]
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == int(config.auth.access_token_ttl) == body["expires_in"]
    assert sorted(claims["scopes"]) == ["admin", "legacy:read", "read", "write"]
    assert (await status_of(client, token))[0] == 200
    # Each token is unique.
    again = await login(client, "alice", PASSWORD)
    assert jwt.get_unverified_claims(again["access_token"])["jti"] != claims["jti"]


async def test_tampered_and_foreign_algorithm_tokens_answer_401(client) -> None:
    body = await login(client, "alice", PASSWORD)
    token = body["access_token"]
    secret = client.app[IDENTITY].tokens.secret
    claims = jwt.get_unverified_claims(token)
    header_b64, payload_b64, signature_b64 = token.split(".")
    other_user = dict(claims, sub=str(int(claims["sub"]) + 1))
    private_key = rsa.newkeys(1024)[1].save_pkcs1().decode()
    now = int(time.time())

    def signed(**changes) -> str:
        return jwt.encode({**claims, **changes}, secret, algorithm="HS256")

    def without(name: str) -> str:
        return jwt.encode({k: v for k, v in claims.items() if k != name}, secret, algorithm="HS256")

    variants = {
        "payload changed, signature kept": f"{header_b64}.{b64(json.dumps(other_user).encode())}.{signature_b64}",
        "signature of another key": jwt.encode(claims, "x" * 64, algorithm="HS256"),
        "alg none, no signature": f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{payload_b64}.",
        "alg None with a valid HS256 signature": hs(secret, {"alg": "None", "typ": "JWT"},
                                                    json.dumps(claims).encode()),
        "HS512 with the right secret": jwt.encode(claims, secret, algorithm="HS512"),
        "HS384 with the right secret": jwt.encode(claims, secret, algorithm="HS384"),
        "RS256": jwt.encode(claims, private_key, algorithm="RS256"),
        "expired": signed(iat=now - 3600, exp=now - 1800),
        "expires now": signed(exp=now),
        "issued in the future": signed(iat=now + 3600, exp=now + 7200),
        "no exp": without("exp"),
        "no iat": without("iat"),
        "no sub": without("sub"),
        "no sid": without("sid"),
        "no jti": without("jti"),
        "no scopes": without("scopes"),
        "sub not a user id": signed(sub="alice"),
        "sub a number": signed(sub=int(claims["sub"])),
        "exp as text": signed(exp=str(now + 600)),
        "unknown scope": signed(scopes=["read", "root"]),
        "scopes not a list": signed(scopes="read"),
        "unknown session": signed(sid="00000000-0000-0000-0000-000000000000"),
        "payload not JSON": hs(secret, {"alg": "HS256", "typ": "JWT"}, b"not json at all"),
        "payload a JSON list": hs(secret, {"alg": "HS256", "typ": "JWT"}, b"[1, 2]"),
        "header not JSON": f"{b64(b'nope')}.{payload_b64}.{signature_b64}",
        "two segments": f"{header_b64}.{payload_b64}",
        "garbage": "not-a-token",
        "empty": "",
        "huge": "a" * 6000,
        "non-ascii": "\u00e9t\u00e9.\u00e9t\u00e9.\u00e9t\u00e9",
    }
    for name, forged in variants.items():
        status, error = await status_of(client, forged)
        assert status == 401, f"{name}: {status} {error}"
        assert error["code"] in ("invalid_token", "unauthorized"), f"{name}: {error}"
    # The genuine token still works (so the 401s above are about the forgery).
    assert (await status_of(client, token))[0] == 200
    assert (await status_of(client, signed()))[0] == 200


async def test_a_token_valid_until_later_works_and_the_same_token_expired_does_not(client) -> None:
    body = await login(client, "alice", PASSWORD)
    tokens = client.app[IDENTITY].tokens
    claims = jwt.get_unverified_claims(body["access_token"])
    now = int(time.time())
    fresh = jwt.encode({**claims, "iat": now - 10, "exp": now + 60}, tokens.secret, algorithm="HS256")
    stale = jwt.encode({**claims, "iat": now - 70, "exp": now - 1}, tokens.secret, algorithm="HS256")
    assert (await status_of(client, fresh))[0] == 200
    status, error = await status_of(client, stale)
    assert (status, error["code"]) == (401, "invalid_token")


async def test_the_authorization_scheme_is_case_insensitive_and_other_schemes_are_not_ours(client) -> None:
    body = await login(client, "alice", PASSWORD)
    response = await client.get(ME, headers={"Authorization": f"bearer {body['access_token']}"})
    assert response.status == 200
    response = await client.get(ME, headers={"Authorization": f"Basic {body['access_token']}"})
    assert response.status == 401
    assert (await response.json())["code"] == "unauthorized"  # no credentials of ours at all


async def test_mfa_tokens_and_access_tokens_are_not_interchangeable(client) -> None:
    tokens = client.app[IDENTITY].tokens
    body = await login(client, "alice", PASSWORD)
    mfa = tokens.issue_mfa(body["user"]["id"])
    assert (await status_of(client, mfa))[0] == 401
    response = await client.post("/api/v1/auth/login/mfa", json={"mfa_token": body["access_token"], "code": "123456"})
    assert response.status == 401
    assert (await response.json())["code"] == "invalid_token"


# --- refresh tokens ------------------------------------------------------------------------------


async def test_refresh_rotates_and_reuse_revokes_the_whole_session(client, config) -> None:
    config.auth.refresh_grace_seconds = 0  # reuse at once, not a concurrent refresh (see test_hardening)
    first = await login(client, "alice", PASSWORD)
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status == 200
    second = await response.json()
    assert second["session_id"] == first["session_id"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["token_type"] == "Bearer"
    for token in (first["access_token"], second["access_token"]):
        assert (await status_of(client, token))[0] == 200

    # Stored as digests, the old one marked used.
    rows = await db_run(client.app,
                        lambda: list(RefreshToken.select().where(RefreshToken.session == first["session_id"])))
    stored = {row.token_hash: row.used_at for row in rows}
    assert stored[hashlib.sha256(first["refresh_token"].encode()).hexdigest()] is not None
    assert stored[hashlib.sha256(second["refresh_token"].encode()).hexdigest()] is None

    # The old refresh token again: someone copied it. The session ends for everyone.
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status == 401
    assert (await response.json())["code"] == "invalid_token"
    for token in (first["access_token"], second["access_token"]):
        assert (await status_of(client, token))[0] == 401
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert response.status == 401
    session = await db_run(client.app, lambda: Session.get_by_id(first["session_id"]))
    assert session.revoked_at is not None and session.revoked_reason == "refresh_reuse"
    actions = await db_run(client.app, lambda: [a.action for a in Activity.select().order_by(Activity.id)])
    assert "token.refresh" in actions and "token.reuse" in actions


async def test_without_grace_two_refreshes_at_once_with_one_token_let_at_most_one_through(client, config) -> None:
    config.auth.refresh_grace_seconds = 0
    body = await login(client, "alice", PASSWORD)
    responses = await asyncio.gather(*[
        client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}) for _ in range(2)])
    statuses = sorted(r.status for r in responses)
    assert statuses == [200, 401]
    winner = await next(r for r in responses if r.status == 200).json()
    # The loser looked like a thief: the session is gone, the winner's tokens too.
    assert (await status_of(client, winner["access_token"]))[0] == 401


async def test_refresh_fails_for_unknown_expired_and_revoked_sessions(client) -> None:
    for bad in ("x" * 43, "short", None, 12, ["a"]):
        response = await client.post("/api/v1/auth/refresh", json={"refresh_token": bad})
        assert response.status in (400, 401), bad
        if response.status == 401:
            assert (await response.json())["code"] == "invalid_token"
    response = await client.post("/api/v1/auth/refresh")
    assert response.status == 401

    body = await login(client, "alice", PASSWORD)
    past = utcnow() - datetime.timedelta(seconds=1)
    await db_run(client.app, lambda: Session.update(expires_at=past).where(Session.id == body["session_id"]).execute())
    await client.app[IDENTITY].sessions.forget(body["session_id"])
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert response.status == 401
    assert (await status_of(client, body["access_token"]))[0] == 401

    body = await login(client, "alice", PASSWORD)
    response = await client.post("/api/v1/auth/logout", headers=bearer(body["access_token"]))
    assert response.status == 204
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert response.status == 401


async def test_refresh_slides_the_session_expiry(client) -> None:
    body = await login(client, "alice", PASSWORD)
    sid = body["session_id"]
    before = (await db_run(client.app, lambda: Session.get_by_id(sid))).expires_at
    await asyncio.sleep(0.01)
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert response.status == 200
    after = (await db_run(client.app, lambda: Session.get_by_id(sid))).expires_at
    assert after > before


async def test_a_disabled_account_cannot_refresh(client) -> None:
    from revenge_core.identity.models import User

    body = await login(client, "alice", PASSWORD)
    await db_run(client.app, lambda: User.update(enabled=False).where(User.username_key == "alice").execute())
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert response.status == 401
