"""Login throttling: too many failures for one account, or from one address, lock further tries.

Failures are rows of ``login_attempts``. An account is locked once it has
``auth.lockout_threshold`` failures inside ``auth.lockout_window`` seconds (counted since its
last successful login); an address once it has ``IP_FACTOR`` times as many, whatever
accounts they named. A locked login is refused before the password is even checked, so
guessing gains nothing, and the refusal does not extend the lock.
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from revenge_hookspecs.errors import ApiError

from ..db.models import utcnow
from .models import LoginAttempt

if TYPE_CHECKING:
    from .service import Identity

IP_FACTOR = 4
PRUNE_INTERVAL = 300.0


class TooManyAttempts(ApiError):
    def __init__(self, retry_after: int):
        super().__init__(429, "too_many_attempts", "Too many failed logins; wait before trying again.",
                         {"retry_after": retry_after}, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class Lockout:
    def __init__(self, identity: Identity):
        self.identity = identity
        self.db = identity.db
        self.config = identity.config.auth
        self._pruned_at = 0.0

    @property
    def window(self) -> datetime.timedelta:
        return datetime.timedelta(seconds=self.config.lockout_window)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.identity.run(fn, *args)

    async def retry_after(self, account: str, ip: str) -> int:
        """Seconds until a login for ``account`` from ``ip`` is allowed again; 0 when it is now."""
        account, ip = account[:254], ip[:64]
        threshold = self.config.lockout_threshold
        ip_threshold = threshold * IP_FACTOR

        def count() -> float:
            now = utcnow()
            since = now - self.window
            last_ok = (LoginAttempt.select(LoginAttempt.at)
                       .where(LoginAttempt.username_key == account, LoginAttempt.success == True,  # noqa: E712
                              LoginAttempt.at > since)
                       .order_by(LoginAttempt.at.desc()).first())
            account_since = max(since, last_ok.at) if last_ok is not None else since
            waits = [0.0]
            for condition, start, limit in ((LoginAttempt.username_key == account, account_since, threshold),
                                            (LoginAttempt.ip == ip, since, ip_threshold)):
                failures = list(LoginAttempt.select(LoginAttempt.at)
                                .where(condition, LoginAttempt.success == False, LoginAttempt.at > start)  # noqa: E712
                                .order_by(LoginAttempt.at.desc()).limit(limit))
                if len(failures) >= limit:
                    # Unlocked once the limit-th newest failure leaves the window.
                    waits.append((failures[limit - 1].at + self.window - now).total_seconds())
            return max(waits)

        wait = await self._run(count)
        return max(1, math.ceil(wait)) if wait > 0 else 0

    async def check(self, account: str, ip: str) -> None:
        """:raises TooManyAttempts: the account or the address is locked."""
        wait = await self.retry_after(account, ip)
        if wait:
            raise TooManyAttempts(wait)

    async def prune(self) -> int:
        """Forget attempts older than the lockout window: they no longer count for anything."""
        cutoff = utcnow() - self.window
        return await self._run(lambda: LoginAttempt.delete().where(LoginAttempt.at < cutoff).execute())

    async def failed(self, account: str, ip: str) -> None:
        await self._note(account, ip, False)

    async def succeeded(self, account: str, ip: str) -> None:
        """A completed login; the account's earlier failures stop counting."""
        await self._note(account, ip, True)

    async def _note(self, account: str, ip: str, success: bool) -> None:
        prune = time.monotonic() - self._pruned_at >= PRUNE_INTERVAL
        if prune:
            self._pruned_at = time.monotonic()
        cutoff = utcnow() - self.window

        def note() -> None:
            LoginAttempt.create(username_key=account[:254], ip=ip[:64], success=success, at=utcnow())
            if prune:
                LoginAttempt.delete().where(LoginAttempt.at < cutoff).execute()

        await self._run(note)
