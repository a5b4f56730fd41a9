"""revenge-webhook-notifier: post signed JSON webhooks when things happen in Revenge.

The plugin object is :mod:`revenge_webhook_notifier.plugin`, published under the
``revenge.plugins`` entry point ``webhook_notifier``.
"""

__version__ = "0.1.0"
