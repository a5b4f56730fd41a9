"""The plugin's one table: every delivery attempt, kept 30 days."""

from __future__ import annotations

import datetime

import peewee

from revenge_hookspecs.db import Model


def utcnow() -> datetime.datetime:
    """Naive UTC, as the server stores times."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class Delivery(Model):
    """One attempt to deliver one webhook to one URL.

    The URL itself is not stored: webhook URLs often carry a token in their path. ``target``
    keeps scheme and host, ``url_hash`` tells URLs on the same host apart.
    """

    delivery_id = peewee.CharField(max_length=32, index=True)
    event = peewee.CharField(max_length=128)
    target = peewee.CharField(max_length=255)
    url_hash = peewee.CharField(max_length=16)
    attempt = peewee.IntegerField()
    status_code = peewee.IntegerField(null=True)
    ok = peewee.BooleanField()
    error = peewee.TextField(default="")
    duration_ms = peewee.IntegerField()
    attempted_at = peewee.DateTimeField(default=utcnow, index=True)

    class Meta:
        schema = "shared"
        table_name = "webhook_deliveries"

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "delivery_id": self.delivery_id,
            "event": self.event,
            "target": self.target,
            "url_hash": self.url_hash,
            "attempt": self.attempt,
            "status_code": self.status_code,
            "ok": self.ok,
            "error": self.error,
            "duration_ms": self.duration_ms,
            "attempted_at": self.attempted_at.isoformat() + "Z",
        }
