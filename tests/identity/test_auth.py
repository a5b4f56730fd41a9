"""Logging in and out, lockout, sessions, browser cookies with CSRF, TOTP, and secrets kept secret."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import statistics
import time

import pyotp
import pytest
from loguru import logger

from revenge_core.db.models import utcnow
from revenge_core.http.app import create_app
from revenge_core.identity.models import Activity, BackupCode, LoginAttempt, Session, User

from .conftest import PASSWORD, bearer, db_run, login, make_user

LOGIN = "/api/v1/auth/login"
SESSIONS = "/api/v1/me/sessions"


async def attempt(client, username, password, headers=None):
    return await client.post(LOGIN, json={"username": username, "password": password}, headers=headers)


async def actions(client) -> list[tuple[str, bool]]:
    return await db_run(client.app, lambda: [(a.action, a.success) for a in Activity.select().order_by(Activity.id)])


@pytest.fixture
def alice_email() -> str:
    """Alice of the shared ``client`` fixture has an email here."""
    return "Alice@Example.org"


@pytest.fixture
def configured(aiohttp_client, config):
    """Build a client after the test changed ``config.auth``."""
    async def build(**auth):
        for key, value in auth.items():
            setattr(config.auth, key, value)
        client = await aiohttp_client(create_app(config, plugins={}))
        await make_user(client.app, "alice", PASSWORD)
        return client

    return build


# --- login ---------------------------------------------------------------------------------------


async def test_login_by_username_or_email_in_any_case(client) -> None:
    for name in ("alice", "ALICE", "alice@example.org", "ALICE@EXAMPLE.ORG", "  alice  "):
        body = await login(client, name, PASSWORD)
        assert body["token_type"] == "Bearer"
        assert body["access_token"] and body["refresh_token"] and body["expires_in"] == 900
        user = body["user"]
        assert user["username"] == "alice" and user["roles"] == ["user"]
        assert user["last_login_at"] is not None
        assert not {"password", "password_hash", "totp_secret"} & set(user)
    response = await client.get(SESSIONS, headers=bearer(body["access_token"]))
    assert response.status == 200
    assert len((await response.json())["items"]) == 5
    assert ("auth.login", True) in await actions(client)


async def test_wrong_password_unknown_user_and_disabled_account_fail_alike(client) -> None:
    bob = await make_user(client.app, "bob", PASSWORD)
    await db_run(client.app, lambda: User.update(enabled=False).where(User.id == bob).execute())
    answers = []
    for username, password in (("alice", "wrong password!"), ("nobody", PASSWORD), ("bob", PASSWORD)):
        response = await attempt(client, username, password)
        answers.append((response.status, await response.json()))
    assert {status for status, _ in answers} == {401}
    assert len({(body["code"], body["message"]) for _, body in answers}) == 1
    assert answers[0][1]["code"] == "invalid_credentials"
    assert [a for a in await actions(client) if a[0] == "auth.login"] == [("auth.login", False)] * 3


async def test_malformed_logins_are_400_not_500(client) -> None:
    for body in ({}, {"username": "alice"}, {"password": PASSWORD}, {"username": 1, "password": PASSWORD},
                 {"username": "alice", "password": ["x"]}, {"username": "a" * 300, "password": PASSWORD},
                 {"username": "alice", "password": PASSWORD, "cookie": "yes"}, [1, 2]):
        response = await client.post(LOGIN, json=body)
        assert response.status == 400, body
    response = await client.post(LOGIN, data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status == 400
    response = await client.post(LOGIN, data=b"\xff\xfe", headers={"Content-Type": "application/json"})
    assert response.status == 400


async def test_unknown_users_take_as_long_as_wrong_passwords(configured) -> None:
    client = await configured(lockout_threshold=1000)
    await attempt(client, "alice", "warm up the path")
    unknown, wrong = [], []
    for round_ in range(10):
        for name, samples in ((f"ghost-{round_}", unknown), ("alice", wrong)):
            started = time.perf_counter()
            response = await attempt(client, name, "not the password")
            samples.append(time.perf_counter() - started)
            assert response.status == 401
    a, b = statistics.median(unknown), statistics.median(wrong)
    assert abs(a - b) / max(a, b) < 0.25, (unknown, wrong)
    # Both really did the bcrypt work (a fast unknown-user path would show here).
    assert min(a, b) > 0.05


async def test_a_disabled_account_is_refused_even_with_a_valid_token(client) -> None:
    body = await login(client, "alice", PASSWORD)
    assert (await client.get(SESSIONS, headers=bearer(body["access_token"]))).status == 200
    await db_run(client.app, lambda: User.update(enabled=False).where(User.username_key == "alice").execute())
    response = await client.get(SESSIONS, headers=bearer(body["access_token"]))
    assert response.status == 401


# --- lockout -------------------------------------------------------------------------------------


async def test_an_account_locks_after_the_threshold_even_for_the_right_password(client, config) -> None:
    threshold = config.auth.lockout_threshold
    for i in range(threshold):
        # From different addresses: the account lock does not depend on the address.
        response = await attempt(client, "alice", "wrong password!", headers={"X-Forwarded-For": f"10.0.0.{i}"})
        assert response.status == 401
    started = time.perf_counter()
    response = await attempt(client, "ALICE", PASSWORD)
    elapsed = time.perf_counter() - started
    assert response.status == 429
    body = await response.json()
    assert body["code"] == "too_many_attempts"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= config.auth.lockout_window
    # Refused before the password was looked at: no bcrypt work.
    assert elapsed < 0.1
    # By email too, since it is the same account.
    assert (await attempt(client, "alice@example.org", PASSWORD)).status == 429
    # Another account from the same address is not affected.
    await make_user(client.app, "bob", PASSWORD)
    assert (await attempt(client, "bob", PASSWORD)).status == 200
    # Once the failures leave the window, the account opens again.
    earlier = utcnow() - datetime.timedelta(seconds=config.auth.lockout_window + 1)
    await db_run(client.app, lambda: LoginAttempt.update(at=earlier).execute())
    assert (await attempt(client, "alice", PASSWORD)).status == 200


async def test_a_successful_login_clears_the_account_count(client, config) -> None:
    threshold = config.auth.lockout_threshold
    for _ in range(threshold - 1):
        assert (await attempt(client, "alice", "wrong password!")).status == 401
    assert (await attempt(client, "alice", PASSWORD)).status == 200
    for _ in range(threshold - 1):
        assert (await attempt(client, "alice", "wrong password!")).status == 401
    assert (await attempt(client, "alice", PASSWORD)).status == 200
    for _ in range(threshold):
        assert (await attempt(client, "alice", "wrong password!")).status == 401
    assert (await attempt(client, "alice", PASSWORD)).status == 429


async def test_an_address_locks_after_many_failures_across_accounts(configured) -> None:
    client = await configured(lockout_threshold=2)  # the address limit is four times that: 8
    here = {"X-Forwarded-For": "203.0.113.7"}
    for i in range(8):
        response = await attempt(client, f"nobody-{i}", "whatever it is", headers=here)
        assert response.status == 401, i
    response = await attempt(client, "alice", PASSWORD, headers=here)
    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 1
    # Someone elsewhere logs in to the same account without trouble.
    assert (await attempt(client, "alice", PASSWORD, headers={"X-Forwarded-For": "198.51.100.1"})).status == 200


async def test_locked_attempts_do_not_extend_the_lock(client, config) -> None:
    for _ in range(config.auth.lockout_threshold):
        await attempt(client, "alice", "wrong password!")
    count = await db_run(client.app, lambda: LoginAttempt.select().count())
    for _ in range(3):
        assert (await attempt(client, "alice", "wrong password!")).status == 429
    assert await db_run(client.app, lambda: LoginAttempt.select().count()) == count


# --- sessions ------------------------------------------------------------------------------------


async def test_the_oldest_sessions_are_evicted_beyond_the_maximum(configured) -> None:
    client = await configured(max_sessions_per_user=3)
    bodies = [await login(client, "alice", PASSWORD, device=f"device {i}") for i in range(4)]
    assert (await client.get(SESSIONS, headers=bearer(bodies[0]["access_token"]))).status == 401
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": bodies[0]["refresh_token"]})
    assert response.status == 401
    response = await client.get(SESSIONS, headers=bearer(bodies[3]["access_token"]))
    items = (await response.json())["items"]
    assert sorted(item["device"] for item in items) == ["device 1", "device 2", "device 3"]
    assert [item["current"] for item in items if item["device"] == "device 3"] == [True]
    for body in bodies[1:]:
        assert (await client.get(SESSIONS, headers=bearer(body["access_token"]))).status == 200


async def test_revoking_a_session_ends_its_tokens_at_once(client) -> None:
    a = await login(client, "alice", PASSWORD)
    b = await login(client, "alice", PASSWORD)
    # b's session state is now cached; revocation must still be immediate.
    assert (await client.get(SESSIONS, headers=bearer(b["access_token"]))).status == 200
    response = await client.delete(f"{SESSIONS}/{b['session_id']}", headers=bearer(a["access_token"]))
    assert response.status == 204
    response = await client.get(SESSIONS, headers=bearer(b["access_token"]))
    assert response.status == 401
    assert (await response.json())["code"] == "invalid_token"
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": b["refresh_token"]})).status == 401
    assert (await client.get(SESSIONS, headers=bearer(a["access_token"]))).status == 200
    # Gone is gone: a second revoke, or a made-up id, is 404.
    for sid in (b["session_id"], "nope"):
        response = await client.delete(f"{SESSIONS}/{sid}", headers=bearer(a["access_token"]))
        assert response.status == 404
    assert ("session.revoke", True) in await actions(client)


async def test_nobody_revokes_or_lists_someone_elses_sessions(client) -> None:
    await make_user(client.app, "mallory", PASSWORD)
    alice = await login(client, "alice", PASSWORD)
    mallory = await login(client, "mallory", PASSWORD)
    response = await client.delete(f"{SESSIONS}/{alice['session_id']}", headers=bearer(mallory["access_token"]))
    assert response.status == 404
    assert (await client.get(SESSIONS, headers=bearer(alice["access_token"]))).status == 200
    items = (await (await client.get(SESSIONS, headers=bearer(mallory["access_token"]))).json())["items"]
    assert [item["id"] for item in items] == [mallory["session_id"]]


async def test_revoke_all_other_sessions_keeps_the_current_one(client) -> None:
    current, *others = [await login(client, "alice", PASSWORD) for _ in range(3)]
    response = await client.delete(SESSIONS, headers=bearer(current["access_token"]))
    assert response.status == 200
    assert (await response.json()) == {"revoked": 2}
    for body in others:
        assert (await client.get(SESSIONS, headers=bearer(body["access_token"]))).status == 401
    assert (await client.get(SESSIONS, headers=bearer(current["access_token"]))).status == 200


async def test_logout_by_access_token_or_by_refresh_token(client) -> None:
    body = await login(client, "alice", PASSWORD)
    response = await client.post("/api/v1/auth/logout", headers=bearer(body["access_token"]))
    assert response.status == 204
    assert (await client.get(SESSIONS, headers=bearer(body["access_token"]))).status == 401
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})).status == 401

    body = await login(client, "alice", PASSWORD)
    response = await client.post("/api/v1/auth/logout", json={"refresh_token": body["refresh_token"]})
    assert response.status == 204
    assert (await client.get(SESSIONS, headers=bearer(body["access_token"]))).status == 401
    session = await db_run(client.app, lambda: Session.get_by_id(body["session_id"]))
    assert session.revoked_reason == "logout"
    # Without credentials, logout does nothing and says so quietly.
    assert (await client.post("/api/v1/auth/logout")).status == 204
    assert [a for a in await actions(client) if a[0] == "auth.logout"] == [("auth.logout", True)] * 2


async def test_session_routes_need_credentials(client) -> None:
    for method, path in (("GET", SESSIONS), ("DELETE", SESSIONS), ("DELETE", f"{SESSIONS}/x"),
                         ("GET", "/api/v1/me/totp"), ("POST", "/api/v1/me/totp")):
        response = await client.request(method, path)
        assert response.status == 401, (method, path)


# --- browser mode --------------------------------------------------------------------------------


def cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in jar.items())


async def cookie_login(client, username="alice") -> tuple[dict[str, str], dict]:
    response = await client.post(LOGIN, json={"username": username, "password": PASSWORD, "cookie": True})
    assert response.status == 200
    body = await response.json()
    client.session.cookie_jar.clear()  # every request below says exactly which cookies it sends
    return {name: morsel.value for name, morsel in response.cookies.items()}, body


async def test_cookie_login_sets_httponly_samesite_secure_cookies_and_no_tokens_in_the_body(client) -> None:
    response = await client.post(LOGIN, json={"username": "alice", "password": PASSWORD, "cookie": True})
    assert response.status == 200
    body = await response.json()
    client.session.cookie_jar.clear()
    assert "access_token" not in body and "refresh_token" not in body
    assert body["token_type"] == "cookie"
    cookies = response.cookies
    access, refresh, csrf = cookies["revenge_access"], cookies["revenge_refresh"], cookies["revenge_csrf"]
    assert access["httponly"] and refresh["httponly"] and not csrf["httponly"]
    for morsel in (access, refresh, csrf):
        assert morsel["samesite"] == "Lax"
        assert morsel["secure"]
    assert refresh["path"] == "/api/v1/auth"
    assert access["path"] == "/" and csrf["path"] == "/"
    assert body["csrf_token"] == csrf.value
    assert response.headers["Cache-Control"] == "no-store"


async def test_cookies_are_not_secure_when_configured_off(configured) -> None:
    client = await configured(cookie_secure=False)
    response = await client.post(LOGIN, json={"username": "alice", "password": PASSWORD, "cookie": True})
    assert not response.cookies["revenge_access"]["secure"]


async def test_csrf_double_submit_for_cookie_requests(client) -> None:
    jar, _ = await cookie_login(client)
    cookies = {"Cookie": cookie_header(jar)}
    # Safe methods pass without the header.
    assert (await client.get(SESSIONS, headers=cookies)).status == 200
    # Unsafe ones need it, and it must match.
    for headers in (cookies, {**cookies, "X-CSRF-Token": "wrong"}, {**cookies, "X-CSRF-Token": ""},
                    {**cookies, "X-CSRF-Token": jar["revenge_csrf"] + "x"}):
        response = await client.delete(SESSIONS, headers=headers)
        assert response.status == 403, headers
        assert (await response.json())["code"] == "csrf_failed"
    response = await client.delete(SESSIONS, headers={**cookies, "X-CSRF-Token": jar["revenge_csrf"]})
    assert response.status == 200
    # Without the CSRF cookie, even a header of the right value fails.
    no_csrf_cookie = {"Cookie": cookie_header({k: v for k, v in jar.items() if k != "revenge_csrf"}),
                      "X-CSRF-Token": jar["revenge_csrf"]}
    assert (await client.delete(SESSIONS, headers=no_csrf_cookie)).status == 403


async def test_a_csrf_value_of_another_session_does_not_pass(client) -> None:
    mine, _ = await cookie_login(client)
    theirs, _ = await cookie_login(client)
    # An attacker able to plant cookies sets a matching pair from their own session.
    forged = {"Cookie": cookie_header({**mine, "revenge_csrf": theirs["revenge_csrf"]}),
              "X-CSRF-Token": theirs["revenge_csrf"]}
    response = await client.delete(SESSIONS, headers=forged)
    assert response.status == 403


async def test_a_bearer_token_needs_no_csrf_and_wins_over_cookies(client) -> None:
    jar, _ = await cookie_login(client)
    body = await login(client, "alice", PASSWORD)
    headers = {"Cookie": cookie_header(jar), **bearer(body["access_token"])}
    response = await client.delete(SESSIONS, headers=headers)
    assert response.status == 200
    # The bearer session stayed; the cookie session was one of the "others".
    assert (await client.get(SESSIONS, headers={"Cookie": cookie_header(jar)})).status == 401


async def test_cookie_refresh_needs_csrf_and_rotates_the_cookies(client) -> None:
    jar, _ = await cookie_login(client)
    refresh_only = {"Cookie": cookie_header({"revenge_refresh": jar["revenge_refresh"],
                                             "revenge_csrf": jar["revenge_csrf"]})}
    response = await client.post("/api/v1/auth/refresh", headers=refresh_only)
    assert response.status == 403
    response = await client.post("/api/v1/auth/refresh", headers={**refresh_only, "X-CSRF-Token": jar["revenge_csrf"]})
    assert response.status == 200
    body = await response.json()
    assert "access_token" not in body and "refresh_token" not in body
    new = {name: morsel.value for name, morsel in response.cookies.items()}
    client.session.cookie_jar.clear()
    assert new["revenge_refresh"] != jar["revenge_refresh"]
    assert new["revenge_access"] != jar["revenge_access"]
    assert new["revenge_csrf"] == jar["revenge_csrf"]  # still bound to the same session
    assert (await client.get(SESSIONS, headers={"Cookie": cookie_header(new)})).status == 200
    # Logging out by cookie also needs the header, and clears the cookies.
    logout_cookies = {"Cookie": cookie_header(new)}
    assert (await client.post("/api/v1/auth/logout", headers=logout_cookies)).status == 403
    assert (await client.get(SESSIONS, headers={"Cookie": cookie_header(new)})).status == 200
    response = await client.post("/api/v1/auth/logout", headers={**logout_cookies, "X-CSRF-Token": new["revenge_csrf"]})
    assert response.status == 204
    assert response.cookies["revenge_access"].value == ""
    assert (await client.get(SESSIONS, headers={"Cookie": cookie_header(new)})).status == 401


# --- TOTP ----------------------------------------------------------------------------------------


async def enable_totp(client, token: str) -> tuple[pyotp.TOTP, list[str]]:
    response = await client.post("/api/v1/me/totp", headers=bearer(token))
    assert response.status == 200
    enrolment = await response.json()
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(enrolment["secret"])
    response = await client.post("/api/v1/me/totp/confirm", headers=bearer(token), json={"code": "000000"})
    assert response.status == 400
    response = await client.post("/api/v1/me/totp/confirm", headers=bearer(token), json={"code": totp.now()})
    assert response.status == 200
    codes = (await response.json())["backup_codes"]
    assert len(codes) == len(set(codes)) == 10
    return totp, codes


def later_code(totp: pyotp.TOTP, steps: int = 1) -> str:
    """A code for a coming time step (the window accepts one step ahead)."""
    return totp.at(time.time() + 30 * steps)


async def password_step(client, **extra) -> dict:
    response = await client.post(LOGIN, json={"username": "alice", "password": PASSWORD, **extra})
    assert response.status == 200
    body = await response.json()
    assert body == {"mfa_required": True, "mfa_token": body["mfa_token"]}
    assert not response.cookies
    return body


async def test_totp_login_yields_no_tokens_without_the_second_step(client) -> None:
    first = await login(client, "alice", PASSWORD)
    totp, backup_codes = await enable_totp(client, first["access_token"])
    status = await (await client.get("/api/v1/me/totp", headers=bearer(first["access_token"]))).json()
    assert status == {"enabled": True, "pending": False, "backup_codes_remaining": 10}

    sessions_before = await db_run(client.app, lambda: Session.select().count())
    challenge = await password_step(client)
    assert await db_run(client.app, lambda: Session.select().count()) == sessions_before
    # The MFA token is no access token.
    assert (await client.get(SESSIONS, headers=bearer(challenge["mfa_token"]))).status == 401

    response = await client.post("/api/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"],
                                                                 "code": "000000"})
    assert response.status == 401
    assert (await response.json())["code"] == "invalid_code"
    code = later_code(totp)
    response = await client.post("/api/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"], "code": code})
    assert response.status == 200
    body = await response.json()
    assert (await client.get(SESSIONS, headers=bearer(body["access_token"]))).status == 200
    # The MFA token worked once, even with another good code.
    response = await client.post("/api/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"],
                                                                 "backup_code": backup_codes[0]})
    assert response.status == 401
    assert (await response.json())["code"] == "invalid_token"

    # The same code never works twice, even in a new login.
    challenge = await password_step(client)
    response = await client.post("/api/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"], "code": code})
    assert response.status == 401


async def test_backup_codes_work_once_and_are_stored_hashed(client) -> None:
    first = await login(client, "alice", PASSWORD)
    _, codes = await enable_totp(client, first["access_token"])
    stored = await db_run(client.app, lambda: [row.code_hash for row in BackupCode.select()])
    assert sorted(stored) == sorted(hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in codes)

    challenge = await password_step(client)
    response = await client.post("/api/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"],
                                                                 "backup_code": codes[0].upper()})
    assert response.status == 200
    challenge = await password_step(client)
    response = await client.post("/api/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"],
                                                                 "backup_code": codes[0]})
    assert response.status == 401
    # A backup code may also go in the code field.
    response = await client.post("/api/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"],
                                                                 "code": codes[1]})
    assert response.status == 200
    status = await (await client.get("/api/v1/me/totp", headers=bearer(first["access_token"]))).json()
    assert status["backup_codes_remaining"] == 8


async def test_cookie_mode_survives_the_second_step(client) -> None:
    first = await login(client, "alice", PASSWORD)
    totp, _ = await enable_totp(client, first["access_token"])
    challenge = await password_step(client, cookie=True)
    response = await client.post("/api/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"],
                                                                 "code": later_code(totp)})
    assert response.status == 200
    assert "access_token" not in await response.json()
    assert response.cookies["revenge_access"].value


async def test_guessing_the_second_factor_hits_the_lockout(client, config) -> None:
    first = await login(client, "alice", PASSWORD)
    await enable_totp(client, first["access_token"])
    challenge = await password_step(client)
    for _ in range(config.auth.lockout_threshold):
        response = await client.post("/api/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"],
                                                                     "code": "123456"})
        assert response.status == 401
    response = await client.post("/api/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"],
                                                                 "code": "123456"})
    assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
    # And passing the password step again does not reset the count.
    assert (await attempt(client, "alice", PASSWORD)).status == 429


async def test_turning_totp_off_needs_a_code_or_the_password(client) -> None:
    first = await login(client, "alice", PASSWORD)
    token = first["access_token"]
    await enable_totp(client, token)
    for body in ({}, {"password": "not my password"}, {"code": "000000"}):
        response = await client.post("/api/v1/me/totp/disable", headers=bearer(token), json=body)
        assert response.status in (400, 403), body
    response = await client.post("/api/v1/me/totp/disable", headers=bearer(token), json={"password": PASSWORD})
    assert response.status == 204
    assert await db_run(client.app, lambda: BackupCode.select().count()) == 0
    user = await db_run(client.app, lambda: User.get(User.username_key == "alice"))
    assert not user.totp_enabled and user.totp_secret is None
    body = await login(client, "alice", PASSWORD)
    assert "access_token" in body
    recorded = await actions(client)
    assert ("totp.enable", True) in recorded and ("totp.disable", True) in recorded
    assert ("totp.disable", False) in recorded


async def test_enrolling_twice_is_refused_while_on(client) -> None:
    first = await login(client, "alice", PASSWORD)
    await enable_totp(client, first["access_token"])
    response = await client.post("/api/v1/me/totp", headers=bearer(first["access_token"]))
    assert response.status == 409


# --- secrets never leak --------------------------------------------------------------------------


@pytest.fixture
def log_lines():
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="TRACE", serialize=True)
    yield lines
    logger.remove(sink)


async def test_no_response_or_log_line_holds_a_password_token_or_key(client, log_lines) -> None:
    bodies: list[tuple[str, str]] = []

    async def call(method, path, **kwargs):
        response = await client.request(method, path, **kwargs)
        text = await response.text()
        bodies.append((f"{method} {path}", text))
        return response, (json.loads(text) if text else None)

    wrong = "my-wrong-password-123"
    await call("POST", LOGIN, json={"username": "alice", "password": wrong})
    await call("POST", LOGIN, json={"username": "nobody-at-all", "password": PASSWORD})
    _, first = await call("POST", LOGIN, json={"username": "alice", "password": PASSWORD})
    token = first["access_token"]
    _, refreshed = await call("POST", "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    await call("POST", "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})  # reuse
    _, second = await call("POST", LOGIN, json={"username": "alice", "password": PASSWORD})
    token = second["access_token"]
    _, key = await call("POST", "/api/v1/me/api-keys", headers=bearer(token), json={"name": "ci", "scopes": ["read"]})
    await call("GET", "/api/v1/me/api-keys", headers=bearer(token))
    await call("GET", "/api/v1/me", headers={"X-API-Key": key["key"]})
    await call("GET", "/api/v1/me", headers={"X-API-Key": key["key"][:-2] + "zz"})
    _, enrolment = await call("POST", "/api/v1/me/totp", headers=bearer(token))
    totp = pyotp.TOTP(enrolment["secret"])
    _, confirmed = await call("POST", "/api/v1/me/totp/confirm", headers=bearer(token), json={"code": totp.now()})
    await call("GET", "/api/v1/me/totp", headers=bearer(token))
    await call("GET", "/api/v1/me", headers=bearer(token))
    await call("GET", SESSIONS, headers=bearer(token))
    _, challenge = await call("POST", LOGIN, json={"username": "alice", "password": PASSWORD})
    await call("POST", "/api/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"],
                                                       "backup_code": confirmed["backup_codes"][0]})
    await call("POST", "/api/v1/auth/logout", headers=bearer(token))
    await call("GET", SESSIONS, headers=bearer(token))

    issued_at = {  # where each secret may appear: only in the response that hands it out
        PASSWORD: None, wrong: None,
        first["refresh_token"]: f"POST {LOGIN}", refreshed["refresh_token"]: "POST /api/v1/auth/refresh",
        key["key"]: "POST /api/v1/me/api-keys", key["key"][3:]: "POST /api/v1/me/api-keys",
        enrolment["secret"]: "POST /api/v1/me/totp",
        confirmed["backup_codes"][0]: "POST /api/v1/me/totp/confirm",
    }
    for secret, allowed in issued_at.items():
        for where, text in bodies:
            if secret in text:
                assert where == allowed, f"a secret shows up in the response to {where}"
        for line in log_lines:
            assert secret not in line, f"a secret is in a log line: {line[:200]}"
    for line in log_lines:
        for token_text in (first["access_token"], second["access_token"], challenge["mfa_token"]):
            assert token_text not in line
    # Hashes are no business of any response either.
    stored = await db_run(client.app, lambda: User.get(User.username_key == "alice").password_hash)
    assert all(stored not in text for _, text in bodies)
    assert log_lines  # the sink did capture the server's lines
    # The activity log recorded all of it without holding any of it.
    entries = await db_run(client.app, lambda: [json.dumps([a.actor, a.details, a.before, a.after])
                                         for a in Activity.select()])
    for secret in issued_at:
        assert all(secret not in entry for entry in entries)


async def test_concurrent_logins_respect_the_session_maximum(configured) -> None:
    client = await configured(max_sessions_per_user=2)
    await asyncio.gather(*[login(client, "alice", PASSWORD) for _ in range(5)])
    live = await db_run(client.app, lambda: Session.select().where(Session.revoked_at.is_null()).count())
    assert live == 2
