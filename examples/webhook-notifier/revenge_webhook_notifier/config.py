"""The plugin's configuration, ``plugins.webhook_notifier`` in the server's config file."""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs

DEFAULT_EVENTS = ("item.added", "library.scanned", "playback.started", "playback.stopped")


@attrs.define
class WebhookConfig:
    """Where to post, for which events, and how.

    :param urls: http:// or https:// URLs that receive every webhook.
    :param events: the event names that trigger a webhook (``*`` for all).
    :param secret: when set, each body is signed with HMAC-SHA256 in ``X-Revenge-Signature``.
    :param timeout: seconds to wait for a receiver before the attempt counts as failed.
    """

    urls: list[str] = attrs.Factory(list)
    events: list[str] = attrs.Factory(lambda: list(DEFAULT_EVENTS))
    secret: str = attrs.field(default="", repr=False)
    timeout: float = 10.0

    def validate(self) -> None:
        """Reject what could never be delivered; messages never repeat a URL (it may hold a token)."""
        for index, url in enumerate(self.urls):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https"):
                raise ValueError(f"urls[{index}]: only http:// and https:// URLs are allowed")
            if not parts.hostname:
                raise ValueError(f"urls[{index}]: the URL has no host")
        if any(not event.strip() for event in self.events):
            raise ValueError("events: event names cannot be empty")
        if not 0 < self.timeout <= 300:
            raise ValueError(f"timeout: must be between 0 and 300 seconds, got {self.timeout}")
