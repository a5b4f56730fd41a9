"""TOTP second factor (RFC 6238, through pyotp) with single-use backup codes.

Enrolment is two steps: :meth:`Totp.enroll` stores a new secret, not yet active, and shows
it once (with its ``otpauth://`` URI for a QR code); :meth:`Totp.confirm` turns it on when
the user proves their app produces valid codes, and returns ten backup codes, also shown
once and stored only as SHA-256 digests. The secret itself must be read back to check
codes, so it is stored encrypted (``crypto``), bound to its user.

A code is accepted for the current 30-second step or one step either side
(``valid_window=1``), and only for a step later than the last one the user used, so an
observed code cannot be replayed. The step is claimed with a conditional update, which
holds across instances.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

import peewee
import pyotp

from revenge_hookspecs.errors import ApiError, BadRequest, Conflict

from ..db.models import utcnow
from .models import IDENTITY_MODELS, BackupCode, Shared, User
from .passwords import verify_password
from .tokens import digest, record, write_transaction

if TYPE_CHECKING:
    from aiohttp import web

    from .crypto import SecretBox
    from .service import Identity

ISSUER = "Revenge"
VALID_WINDOW = 1
BACKUP_CODES = 10
_CODE = re.compile(r"^\d{6}$")
SECRET_PURPOSE = "totp-secret"


class TotpState(Shared):
    """The last time step a user's code was accepted for (migration 0004)."""

    user = peewee.ForeignKeyField(User, primary_key=True, on_delete="CASCADE")
    last_step = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "totp_state"


MODELS = [*IDENTITY_MODELS, TotpState]


def seal_secret(box: SecretBox, user_id: int, secret: str) -> str:
    """The stored (encrypted) form of a user's TOTP secret."""
    return box.encrypt(SECRET_PURPOSE, secret, context=str(user_id))


def unseal_secret(box: SecretBox, user_id: int, stored: str) -> str:
    """A user's TOTP secret from its stored form; ``DecryptionError`` when it cannot be read."""
    return box.decrypt(SECRET_PURPOSE, stored, context=str(user_id))


def normalise_backup_code(code: Any) -> str:
    return re.sub(r"[\s-]", "", code).lower() if isinstance(code, str) else ""


def new_backup_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()  # 80 bits, 16 characters
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def matching_step(secret: str, code: Any, now: float | None = None) -> int | None:
    """The time step ``code`` is valid for (within the window), or ``None``."""
    if not isinstance(code, str) or not _CODE.match(code := code.strip().replace(" ", "")):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(time.time() if now is None else now)
    found = None
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(current + offset), code):
            found = current + offset
    return found


class Totp:
    def __init__(self, identity: Identity):
        self.identity = identity
        self.db = identity.db

    async def _run(self, fn: Any) -> Any:
        def call() -> Any:
            self.db.bind(MODELS)
            return fn()

        return await self.db.run(call)

    async def _user(self, user_id: int) -> User:
        user = await self._run(lambda: User.get_or_none(User.id == user_id))
        if user is None:
            raise ApiError(404, "not_found", "There is no such user.")
        return user

    def _secret_of(self, user: User) -> str:
        return unseal_secret(self.identity.secret_box, user.id, user.totp_secret)

    async def status(self, user_id: int) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            user = User.get_by_id(user_id)
            left = BackupCode.select().where(BackupCode.user == user_id, BackupCode.used_at.is_null()).count()
            return {"enabled": user.totp_enabled, "pending": bool(user.totp_secret) and not user.totp_enabled,
                    "backup_codes_remaining": left if user.totp_enabled else 0}

        return await self._run(read)

    async def enroll(self, user_id: int) -> dict[str, str]:
        """Store a new, inactive secret and return it with its otpauth URI (shown once)."""
        user = await self._user(user_id)
        if user.totp_enabled:
            raise Conflict("Two-factor authentication is already on; turn it off first to enrol again.")
        secret = pyotp.random_base32(32)
        stored = seal_secret(self.identity.secret_box, user_id, secret)
        await self._run(lambda: User.update(totp_secret=stored).where(
            User.id == user_id, User.totp_enabled == False).execute())  # noqa: E712
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
        return {"secret": secret, "otpauth_uri": uri}

    async def confirm(self, user_id: int, code: Any, *, request: web.BaseRequest | None = None) -> list[str]:
        """Turn TOTP on after a valid code; returns the backup codes (their only showing)."""
        user = await self._user(user_id)
        if user.totp_enabled:
            raise Conflict("Two-factor authentication is already on.")
        if not user.totp_secret:
            raise Conflict("Start enrolment first (POST /api/v1/me/totp).")
        step = matching_step(self._secret_of(user), code)
        if step is None:
            raise BadRequest("The code is not valid; check the time on your device and try again.",
                             {"key": "code"})
        codes = [new_backup_code() for _ in range(BACKUP_CODES)]

        def enable() -> bool:
            with write_transaction(self.db.database):
                changed = User.update(totp_enabled=True).where(
                    User.id == user_id, User.totp_enabled == False,  # noqa: E712
                    User.totp_secret == user.totp_secret).execute()
                if not changed:
                    return False
                BackupCode.delete().where(BackupCode.user == user_id).execute()
                BackupCode.insert_many([{"user": user_id, "code_hash": digest(normalise_backup_code(c))}
                                        for c in codes]).execute()
                TotpState.delete().where(TotpState.user == user_id).execute()
                TotpState.create(user=user_id, last_step=step)
                return True

        if not await self._run(enable):
            raise Conflict("Enrolment changed meanwhile; start again.")
        await record(self.identity, "totp.enable", request=request, actor_id=user_id, actor=user.username,
                     target_type="user", target_id=user_id)
        return codes

    async def disable(self, user_id: int, *, code: Any = None, password: Any = None,
                      request: web.BaseRequest | None = None, ip: str = "") -> None:
        """Turn TOTP off; needs a current code, a backup code or the account password."""
        user = await self._user(user_id)
        if not user.totp_enabled and not user.totp_secret:
            raise Conflict("Two-factor authentication is not on.")
        if code is None and password is None:
            raise BadRequest("Send a current code or your password to turn two-factor authentication off.")
        lockout = self.identity.lockout
        await lockout.check(user.username_key, ip)
        ok = False
        if code is not None:
            ok = await self.verify(user_id, code) if user.totp_enabled else False
            ok = ok or (user.totp_enabled and await self.use_backup_code(user_id, code))
        if not ok and isinstance(password, str):
            ok = await asyncio.to_thread(verify_password, password, user.password_hash)
        if not ok:
            await lockout.failed(user.username_key, ip)
            await record(self.identity, "totp.disable", request=request, actor_id=user_id, actor=user.username,
                         target_type="user", target_id=user_id, success=False)
            raise ApiError(403, "verification_failed", "The code or password is wrong.")

        def turn_off() -> None:
            with write_transaction(self.db.database):
                User.update(totp_enabled=False, totp_secret=None).where(User.id == user_id).execute()
                BackupCode.delete().where(BackupCode.user == user_id).execute()
                TotpState.delete().where(TotpState.user == user_id).execute()

        await self._run(turn_off)
        await record(self.identity, "totp.disable", request=request, actor_id=user_id, actor=user.username,
                     target_type="user", target_id=user_id)

    # --- verification -----------------------------------------------------------------------

    async def verify(self, user_id: int, code: Any) -> bool:
        """Whether ``code`` is a valid, not yet used TOTP code of the user (and claim it)."""
        user = await self._run(lambda: User.get_or_none(User.id == user_id))
        if user is None or not user.totp_enabled or not user.totp_secret:
            return False
        step = matching_step(self._secret_of(user), code)
        if step is None:
            return False

        def claim() -> bool:
            with write_transaction(self.db.database):
                claimed = TotpState.update(last_step=step).where(
                    TotpState.user == user_id, TotpState.last_step < step).execute()
                if claimed:
                    return True
                if TotpState.get_or_none(TotpState.user == user_id) is None:
                    TotpState.create(user=user_id, last_step=step)
                    return True
                return False

        return await self._run(claim)

    async def use_backup_code(self, user_id: int, code: Any) -> bool:
        """Whether ``code`` is an unused backup code of the user; it is used up if so."""
        normal = normalise_backup_code(code)
        if len(normal) != 16:
            return False
        return bool(await self._run(lambda: BackupCode.update(used_at=utcnow()).where(
            BackupCode.user == user_id, BackupCode.code_hash == digest(normal),
            BackupCode.used_at.is_null()).execute()))
