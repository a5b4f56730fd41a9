"""Numbered migrations of revenge-webhook-notifier, applied by the Revenge server."""
