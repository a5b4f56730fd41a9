"""The ``webhook_notifier`` plugin: what it registers with Revenge.

- a ``webhook`` notification channel;
- one event handler per configured event, which only enqueues deliveries (one job per URL),
  so a slow receiver never holds up the event bus;
- the ``webhook_notifier.deliver`` job (retried with growing delays) and the daily
  ``webhook_notifier.prune`` schedule;
- ``GET /webhooks/deliveries`` and ``POST /webhooks/test`` under ``/api/v1``;
- its migrations, and a self-check that wants at least one URL.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web

from revenge_hookspecs import (
    Event,
    EventHandler,
    Job,
    Migrations,
    Notification,
    NotificationChannel,
    Route,
    Schedule,
    hookimpl,
)
from revenge_hookspecs.errors import BadRequest, Conflict

from . import delivery
from .config import WebhookConfig

NAME = "webhook_notifier"
READ_PERMISSION = "webhooks:read"
WRITE_PERMISSION = "webhooks:write"
DELIVERY_RETRIES = 5
FIRST_RETRY_DELAY = 30.0
MAX_LISTED = 500


@hookimpl
def revenge_config_schema() -> type:
    return WebhookConfig


@hookimpl
def revenge_migrations() -> Migrations:
    return Migrations(Path(__file__).parent / "migrations")


@hookimpl
async def revenge_self_check(context) -> str | None:
    if not context.config.urls:
        return f"no webhook URLs configured; set plugins.{context.name}.urls"
    return None


# --- events ----------------------------------------------------------------------------------------


def _handler_name(index: int, event: str) -> str:
    # Handler names must match the SDK's name pattern; event names are freer than that.
    slug = re.sub(r"[^a-z0-9_.-]+", "_", event.lower()).strip("_.-") or "event"
    return f"{NAME}.on{index}.{slug}"[:63]


@hookimpl
def revenge_event_handlers(context) -> list[EventHandler]:
    def enqueue(event: Event) -> None:
        body = delivery.event_body(event.name, event.payload, event.source, event.occurred_at)
        for url in context.config.urls:
            context.jobs.enqueue(delivery.DELIVER_JOB, {
                "url": url, "event": event.name, "body": body, "delivery_id": delivery.new_delivery_id(),
            })

    return [EventHandler(event, enqueue, name=_handler_name(i, event))
            for i, event in enumerate(dict.fromkeys(context.config.events))]


# --- jobs ---------------------------------------------------------------------------------------------


@hookimpl
def revenge_jobs(context) -> list[Job]:
    return [
        Job(delivery.DELIVER_JOB, delivery.deliver_job, retries=DELIVERY_RETRIES, retry_delay=FIRST_RETRY_DELAY,
            queue="notification", timeout=context.config.timeout + 5),
        Job(delivery.PRUNE_JOB, delivery.prune_job, retries=1, queue="notification"),
    ]


@hookimpl
def revenge_schedules(context) -> Schedule:
    return Schedule(delivery.PRUNE_JOB, job=delivery.PRUNE_JOB, crontab="17 3 * * *",
                    payload={"days": delivery.KEEP_DAYS})


# --- notifications ---------------------------------------------------------------------------------------


@hookimpl
def revenge_notification_channels(context) -> NotificationChannel:
    async def send(notification: Notification) -> None:
        body = delivery.notification_body(notification.title, notification.body, notification.severity,
                                          notification.data)
        attempts = await delivery.send_to_all(context, body, event="notification")
        failed = [a for a in attempts if not a.ok]
        if failed:
            raise delivery.DeliveryFailed(
                f"{len(failed)} of {len(attempts)} webhook(s) failed: " + "; ".join(a.describe() for a in failed)
            )

    return NotificationChannel("webhook", send)


# --- routes -------------------------------------------------------------------------------------------------


@hookimpl
def revenge_routes(context) -> list[Route]:
    async def list_deliveries(request: web.Request) -> web.Response:
        raw = request.query.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LISTED:
            raise BadRequest(f"limit must be a whole number from 1 to {MAX_LISTED}.", {"limit": raw})
        return web.json_response({"deliveries": await delivery.recent(context, int(raw))})

    async def send_test(request: web.Request) -> web.Response:
        if not context.config.urls:
            raise Conflict(f"No webhook URLs are configured; set plugins.{context.name}.urls first.")
        body = delivery.notification_body("Test from Revenge", "If you can read this, webhooks work.",
                                          "info", {"test": True})
        attempts = await delivery.send_to_all(context, body, event="notification")
        return web.json_response({"ok": all(a.ok for a in attempts), "results": [a.as_dict() for a in attempts]})

    return [
        Route("GET", "/webhooks/deliveries", list_deliveries, permission=READ_PERMISSION,
              summary="Recent webhook delivery attempts, newest first", tags=("webhooks",),
              response_schema=DELIVERIES_SCHEMA),
        Route("POST", "/webhooks/test", send_test, permission=WRITE_PERMISSION,
              summary="Send a test webhook to every configured URL", tags=("webhooks",),
              response_schema=TEST_SCHEMA),
    ]


_ATTEMPT_PROPERTIES: dict[str, Any] = {
    "target": {"type": "string", "description": "scheme and host; the path is not shown"},
    "url_hash": {"type": "string"},
    "ok": {"type": "boolean"},
    "status_code": {"type": ["integer", "null"]},
    "error": {"type": "string"},
    "duration_ms": {"type": "integer"},
}
DELIVERIES_SCHEMA = {
    "type": "object",
    "properties": {"deliveries": {"type": "array", "items": {"type": "object", "properties": {
        **_ATTEMPT_PROPERTIES,
        "id": {"type": "integer"},
        "delivery_id": {"type": "string"},
        "event": {"type": "string"},
        "attempt": {"type": "integer"},
        "attempted_at": {"type": "string", "format": "date-time"},
    }}}},
}
TEST_SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"},
                   "results": {"type": "array", "items": {"type": "object", "properties": _ATTEMPT_PROPERTIES}}},
}
