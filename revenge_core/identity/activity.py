"""The activity log: who did what, from where, whether it worked, and what changed.

Every security-relevant action lands here (logins, token refreshes, password and key
changes, role and setting changes, plugin toggles). Values that look like secrets are
replaced by ``********`` before anything is stored, so the log itself never holds one.
Entries older than ``auth.activity_retention_days`` are deleted by a daily core job.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from revenge_hookspecs.errors import BadRequest
from revenge_hookspecs.types import Job, Schedule

from ..db.models import utcnow
from ..jobs import CORE_OWNER
from .models import Activity
from .principal import PRINCIPAL

if TYPE_CHECKING:
    from .service import Identity

REDACTED = "********"
# Substrings anywhere (``client_secret``, ``refresh_token``), or whole dotted/underscored parts for
# short words that occur inside harmless ones (``backup_codes`` but not ``max_transcodes``).
SECRET_KEY = re.compile(r"password|passwd|secret|token|api_?key|key_hash|(^|[._])(codes?|pin|otp)($|[._])",
                        re.IGNORECASE)
MAX_PER_PAGE = 200
RETENTION_JOB = "core.activity_retention"
RETENTION_SCHEDULE = "core.activity_retention.daily"
RETENTION_CRONTAB = "17 3 * * *"  # daily, at a quiet minute


# --- helpers ------------------------------------------------------------------------------------


def is_secret_key(key: Any) -> bool:
    """Whether a key names a secret: password, secret, token, api key, key hash, code, pin."""
    return bool(SECRET_KEY.search(str(key).replace("-", "_").replace(" ", "_")))


def redact(value: Any) -> Any:
    """A copy of ``value`` with every secret-looking key's value replaced by ``********``."""
    if isinstance(value, Mapping):
        return {
            str(key): (REDACTED if is_secret_key(key) and item not in (None, "") else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact(item) for item in value]
    return value


def _to_json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(redact(value), default=str, sort_keys=True)


def _from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _valid_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def client_ip(request: web.BaseRequest) -> str:
    """The caller's address; ``X-Forwarded-For`` counts only when the peer is this machine.

    A reverse proxy on the same host appends the address it saw, so the entry nearest the
    proxy that is not itself a loopback address is the client. Anything further left was
    written by the client and is not trusted.
    """
    remote = request.remote or ""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if not forwarded or not _is_loopback(remote):
        return remote
    hops = [ip for ip in (_valid_ip(part) for part in forwarded.split(",")) if ip]
    for hop in reversed(hops):
        if not _is_loopback(hop):
            return hop
    return hops[-1] if hops else remote


def _iso(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=datetime.UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str, key: str) -> datetime.datetime:
    """An ISO 8601 date or datetime as naive UTC (naive input is taken as UTC)."""
    try:
        value = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{key} must be an ISO 8601 date or datetime, e.g. 2025-01-31T12:00:00Z.",
                         {"key": key}) from None
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value


def entry_as_dict(row: Activity) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": _iso(row.at),
        "actor_id": row.actor_id,
        "actor": row.actor,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "ip": row.ip,
        "user_agent": row.user_agent,
        "success": row.success,
        "before": _from_json(row.before),
        "after": _from_json(row.after),
        "details": _from_json(row.details),
    }


# --- the service --------------------------------------------------------------------------------


class ActivityLog:
    def __init__(self, identity: Identity):
        self.identity = identity
        self.db = identity.db

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.identity.run(fn, *args)

    async def record(self, action: str, *, request: web.BaseRequest | None = None, actor_id: int | None = None,
                     actor: str = "", target_type: str = "", target_id: Any = "", success: bool = True,
                     before: Any = None, after: Any = None, details: Any = None) -> None:
        """Store one entry. ``request`` supplies ip, user agent and, unless given, the actor."""
        ip = user_agent = ""
        if request is not None:
            ip = client_ip(request)
            user_agent = request.headers.get("User-Agent", "")
            principal = request.get(PRINCIPAL)
            if principal is not None and actor_id is None and not actor:
                actor_id, actor = principal.user_id, principal.username
        fields = {
            "at": utcnow(),
            "actor_id": actor_id,
            "actor": str(actor or "")[:128],
            "action": action[:64],
            "target_type": str(target_type or "")[:32],
            "target_id": str(target_id if target_id is not None else "")[:64],
            "ip": ip[:64],
            "user_agent": user_agent[:512],
            "success": bool(success),
            "before": _to_json(before),
            "after": _to_json(after),
            "details": _to_json(details),
        }
        await self._run(lambda: Activity.insert(**fields).execute())

    async def query(self, *, actor_id: int | None = None, action: str | None = None, target: str | None = None,
                    success: bool | None = None, since: datetime.datetime | None = None,
                    until: datetime.datetime | None = None, page: int = 1, per_page: int = 50) -> dict[str, Any]:
        """Entries newest first.

        :param action: an exact action, or a prefix: ``auth.*`` or ``auth.`` match every
            ``auth.`` action; ``auth.login`` also matches ``auth.login.failed``.
        :param target: ``type`` or ``type:id``.
        :param since: inclusive lower bound (naive UTC).
        :param until: exclusive upper bound (naive UTC).
        """
        if page < 1:
            raise BadRequest("page must be 1 or more.", {"key": "page"})
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise BadRequest(f"per_page must be between 1 and {MAX_PER_PAGE}.", {"key": "per_page"})
        conditions: list[Any] = []
        if actor_id is not None:
            conditions.append(Activity.actor_id == actor_id)
        if action:
            if action.endswith("*") or action.endswith("."):
                conditions.append(Activity.action.startswith(action.rstrip("*")))
            else:
                conditions.append((Activity.action == action) | Activity.action.startswith(action + "."))
        if target:
            target_type, sep, target_id = target.partition(":")
            conditions.append(Activity.target_type == target_type)
            if sep:
                conditions.append(Activity.target_id == target_id)
        if success is not None:
            conditions.append(Activity.success == success)
        if since is not None:
            conditions.append(Activity.at >= since)
        if until is not None:
            conditions.append(Activity.at < until)

        def read() -> dict[str, Any]:
            query = Activity.select()
            if conditions:
                query = query.where(*conditions)
            total = query.count()
            rows = query.order_by(Activity.at.desc(), Activity.id.desc()).paginate(page, per_page)
            return {"items": [entry_as_dict(row) for row in rows], "total": total, "page": page,
                    "per_page": per_page}

        return await self._run(read)

    async def prune(self, older_than_days: float) -> int:
        """Delete entries older than ``older_than_days``; returns how many went."""
        if older_than_days < 0:
            raise ValueError("older_than_days must not be negative")
        cutoff = utcnow() - datetime.timedelta(days=older_than_days)
        return await self._run(lambda: Activity.delete().where(Activity.at < cutoff).execute())

    async def prune_expired(self) -> int:
        """Apply ``auth.activity_retention_days``."""
        return await self.prune(self.identity.config.auth.activity_retention_days)

    # --- the retention job -------------------------------------------------------------------

    def retention_registrations(self) -> dict[str, list[Any]]:
        async def retention(context: Any = None) -> int:
            # Daily housekeeping of everything identity keeps only for a while.
            await self.identity.sessions.prune()
            await self.identity.lockout.prune()
            await self.identity.tokens.prune_spent()
            return await self.prune_expired()

        return {
            "jobs": [Job(RETENTION_JOB, retention, retries=2, retry_delay=60.0, queue="maintenance")],
            "schedules": [Schedule(RETENTION_SCHEDULE, RETENTION_JOB, RETENTION_CRONTAB)],
        }

    def install_jobs(self) -> None:
        """Register the retention job and its daily schedule, owned by ``core``. Idempotent."""
        services = self.identity.services
        registry = services.registry
        current = registry.owned_by(CORE_OWNER)
        for kind, items in self.retention_registrations().items():
            names = {item.name for item in items}
            current[kind] = [item for item in current.get(kind, []) if item.name not in names] + items
        registry.replace(CORE_OWNER, current)


def int_param(query: Mapping[str, str], key: str, default: int | None = None) -> int | None:
    text = query.get(key)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"{key} must be a whole number.", {"key": key}) from None


def bool_param(query: Mapping[str, str], key: str) -> bool | None:
    text = query.get(key)
    if text is None or text == "":
        return None
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise BadRequest(f"{key} must be true or false.", {"key": key})


__all__ = ["ActivityLog", "bool_param", "client_ip", "int_param", "is_secret_key", "parse_time", "redact"]
