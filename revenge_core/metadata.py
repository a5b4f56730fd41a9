"""``context.metadata``: the enabled metadata providers, asked in order with fallback.

The order and fallback rules are the SDK's :class:`~revenge_hookspecs.media.MetadataChain`
(the test kit uses the same class); the server adds what an operator needs around each call:
a time limit (``metadata.provider_timeout``), a log line naming the provider that failed, a
runtime error counted against the plugin that registered it (shown to admins with the
plugin), and Prometheus counters of calls and failures by provider.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loguru import logger

from revenge_hookspecs.media import ChainedMetadata, MetadataChain, ProviderError

if TYPE_CHECKING:
    from .http.metrics import Metrics
    from .plugins.registry import Registry


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s (metadata.provider_timeout)"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class MetadataService(ChainedMetadata):
    """The host's ``PluginMetadata``; one per server instance (``services.metadata``), shared by every plugin.

    :param registry: the registrations of enabled plugins.
    :param is_enabled: whether a plugin is enabled right now.
    :param on_plugin_error: ``on_plugin_error(plugin, exc)`` counts a failure against the plugin.
    """

    def __init__(self, registry: Registry, *, timeout: float, is_enabled: Callable[[str], bool],
                 on_plugin_error: Callable[[str, BaseException], None] | None = None):
        self.registry = registry
        self.timeout = timeout
        self._is_enabled = is_enabled
        self._on_plugin_error = on_plugin_error
        self.metrics: Metrics | None = None
        """Set by the HTTP server to count calls in its Prometheus registry."""
        self.chain = MetadataChain(self.enabled_providers, timeout=timeout, on_request=self.requested,
                                   on_failure=self.failed)

    def enabled_providers(self) -> list[Any]:
        return [provider for plugin, provider in self.registry.items("metadata_providers") if self._is_enabled(plugin)]

    def count(self, what: str, provider: str) -> None:
        if self.metrics is not None:
            counter = self.metrics.metadata_requests if what == "requests" else self.metrics.metadata_failures
            counter.labels(provider).inc()

    def requested(self, provider: str) -> None:
        """Count a call about to be made to a provider."""
        self.count("requests", provider)

    def failed(self, provider: str, exc: BaseException) -> None:
        """Log a provider's failure and count it against the plugin that registered the provider."""
        self.count("failures", provider)
        found = self.registry.get("metadata_providers", provider)
        plugin = found[0] if found is not None else "unknown"
        reason = _reason(exc, self.timeout)
        if isinstance(exc, ProviderError | TimeoutError):
            logger.bind(plugin=plugin).warning("metadata provider {} failed: {}", provider, reason)
        else:  # not the documented way to fail: a bug in the provider, worth its traceback
            logger.bind(plugin=plugin).opt(exception=exc).error("metadata provider {} crashed: {}", provider, reason)
        if self._on_plugin_error is not None and found is not None:
            self._on_plugin_error(plugin, exc)

    # --- PluginMetadata (the rest comes from ChainedMetadata) -----------------------------------------

    def searched(self, content_type: str, query: str, attempts: list[Any]) -> None:
        logger.debug("metadata search {} {!r}: {}", content_type, query[:100],
                     ", ".join(f"{a.provider} {'ok' if a.ok else 'failed'} ({a.results})" for a in attempts) or
                     "no provider")
