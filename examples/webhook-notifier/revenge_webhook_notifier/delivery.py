"""Building, signing, posting and recording webhooks.

A webhook is a ``POST`` of a JSON body with these headers:

- ``Content-Type: application/json``
- ``X-Revenge-Event``: the event name (``notification`` for notifications and tests)
- ``X-Revenge-Delivery``: an id shared by every retry of the same webhook, for de-duplication
- ``X-Revenge-Signature: sha256=<hex>``: HMAC-SHA256 of the raw body with the secret,
  only when a secret is configured

Redirects are not followed: a receiver that moved must be reconfigured, not guessed.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import attrs

from .models import Delivery, utcnow

SIGNATURE_HEADER = "X-Revenge-Signature"
EVENT_HEADER = "X-Revenge-Event"
DELIVERY_HEADER = "X-Revenge-Delivery"
DELIVER_JOB = "webhook_notifier.deliver"
PRUNE_JOB = "webhook_notifier.prune"
KEEP_DAYS = 30


class DeliveryFailed(Exception):
    """A receiver did not accept a webhook; raised so the job queue retries it."""


@attrs.frozen
class Attempt:
    """What one POST to one URL came to."""

    target: str
    url_hash: str
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def describe(self) -> str:
        return f"{self.target}: " + (f"HTTP {self.status_code}" if self.status_code is not None else self.error)

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "url_hash": self.url_hash, "ok": self.ok,
                "status_code": self.status_code, "error": self.error, "duration_ms": self.duration_ms}


# --- bodies and signatures --------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """The ``X-Revenge-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def redact(url: str) -> str:
    """Scheme and host of a URL, with any path or query (where tokens live) elided."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    rest = "/…" if parts.path.strip("/") or parts.query else "/"
    return f"{parts.scheme}://{netloc}{rest}"


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def _dumps(document: Mapping[str, Any]) -> str:
    # default=str: an odd value in a payload must not cost the whole webhook.
    return json.dumps(document, separators=(",", ":"), default=str)


def event_body(name: str, payload: Mapping[str, Any], source: str, occurred_at: datetime.datetime) -> str:
    # A naive time from the server is local time; give receivers an explicit offset.
    return _dumps({"event": name, "source": source, "occurred_at": occurred_at.astimezone().isoformat(),
                   "payload": dict(payload)})


def notification_body(title: str, body: str, severity: str, data: Mapping[str, Any]) -> str:
    now = datetime.datetime.now(datetime.UTC)
    return _dumps({"event": "notification", "source": "revenge", "occurred_at": now.isoformat(),
                   "notification": {"title": title, "body": body, "severity": severity, "data": dict(data)}})


def new_delivery_id() -> str:
    return uuid.uuid4().hex


# --- sending -----------------------------------------------------------------------------------------


async def post(context: Any, url: str, body: str, *, event: str, delivery_id: str) -> Attempt:
    """POST ``body`` to ``url`` once; never raises for a failed delivery."""
    config = context.config
    raw = body.encode()
    headers = {"Content-Type": "application/json", EVENT_HEADER: event, DELIVERY_HEADER: delivery_id}
    if config.secret:
        headers[SIGNATURE_HEADER] = sign(config.secret, raw)
    status, error = None, ""
    started = time.perf_counter()
    try:
        async with (
            context.http_client(timeout=aiohttp.ClientTimeout(total=config.timeout)) as session,
            session.post(url, data=raw, headers=headers, allow_redirects=False) as response,
        ):
            status = response.status
            await response.read()
    except TimeoutError:
        error = f"no answer within {config.timeout:g} s"
    except aiohttp.ClientError as exc:
        # Exception texts of aiohttp name the host and port, never the path.
        error = f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = round((time.perf_counter() - started) * 1000)
    return Attempt(target=redact(url), url_hash=url_hash(url), status_code=status, error=error,
                   duration_ms=duration_ms)


def _bind(context: Any) -> type[Delivery]:
    context.db.bind([Delivery])
    return Delivery


async def record(context: Any, attempt: Attempt, *, event: str, delivery_id: str) -> int:
    """Store one attempt; returns its number among the attempts of the same delivery."""
    model = _bind(context)

    def write() -> int:
        with model._meta.database.atomic():
            number = model.select().where(model.delivery_id == delivery_id).count() + 1
            model.create(delivery_id=delivery_id, event=event, target=attempt.target, url_hash=attempt.url_hash,
                         attempt=number, status_code=attempt.status_code, ok=attempt.ok, error=attempt.error,
                         duration_ms=attempt.duration_ms, attempted_at=utcnow())
        return number

    return await context.db.run(write)


async def send_and_record(context: Any, url: str, body: str, *, event: str, delivery_id: str) -> Attempt:
    attempt = await post(context, url, body, event=event, delivery_id=delivery_id)
    number = await record(context, attempt, event=event, delivery_id=delivery_id)
    log = context.logger.info if attempt.ok else context.logger.warning
    log("webhook {} attempt {} to {}: {}", event, number, attempt.target,
        "delivered" if attempt.ok else attempt.describe())
    return attempt


async def send_to_all(context: Any, body: str, *, event: str) -> list[Attempt]:
    """One attempt per configured URL, concurrently, each recorded."""
    return list(await asyncio.gather(*(
        send_and_record(context, url, body, event=event, delivery_id=new_delivery_id())
        for url in context.config.urls
    )))


# --- jobs --------------------------------------------------------------------------------------------


async def deliver_job(context: Any, url: str, event: str, body: str, delivery_id: str) -> int:
    """The ``webhook_notifier.deliver`` job: one attempt; raising makes the queue retry."""
    attempt = await send_and_record(context, url, body, event=event, delivery_id=delivery_id)
    if not attempt.ok:
        raise DeliveryFailed(attempt.describe())
    return attempt.status_code


async def prune_job(context: Any, days: int = KEEP_DAYS) -> int:
    """The ``webhook_notifier.prune`` job: forget attempts older than ``days``."""
    model = _bind(context)
    cutoff = utcnow() - datetime.timedelta(days=days)
    removed = await context.db.run(lambda: model.delete().where(model.attempted_at < cutoff).execute())
    context.logger.info("pruned {} webhook deliveries older than {} days", removed, days)
    return removed


async def recent(context: Any, limit: int) -> list[dict[str, Any]]:
    """The newest attempts first."""
    model = _bind(context)

    def read() -> list[dict[str, Any]]:
        query = model.select().order_by(model.attempted_at.desc(), model.id.desc()).limit(limit)
        return [row.as_dict() for row in query]

    return await context.db.run(read)

