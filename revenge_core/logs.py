"""Logging through loguru, with the standard library's loggers (aiohttp, huey) routed in."""

from __future__ import annotations

import logging
import sys

from loguru import logger

from .config import LoggingConfig


class _InterceptHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


TEXT_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{extra[plugin]}</cyan>{message}"
)


def _plugin_prefix(record: dict) -> bool:
    plugin = record["extra"].get("plugin")
    record["extra"]["plugin"] = f"[{plugin}] " if plugin else ""
    return True


def setup_logging(config: LoggingConfig, *, stream=None) -> None:
    """Send logs to stderr (and a file when set), as text or JSON lines."""
    logger.remove()
    level = config.level.upper()
    serialize = config.format == "json"
    sink = stream or sys.stderr
    logger.add(sink, level=level, serialize=serialize, format=TEXT_FORMAT, filter=_plugin_prefix,
               colorize=None if not serialize else False, backtrace=False, diagnose=False)
    if config.file:
        logger.add(config.file, level=level, serialize=serialize, format=TEXT_FORMAT, filter=_plugin_prefix,
                   rotation="50 MB", retention=5, backtrace=False, diagnose=False, enqueue=True)
    # Let the standard library drop records below our level itself: libraries such as guessit
    # emit thousands of debug records per scan, which would be built only to be discarded.
    stdlib_level = logging.getLevelName(level) if isinstance(logging.getLevelName(level), int) else logging.DEBUG
    logging.basicConfig(handlers=[_InterceptHandler()], level=stdlib_level, force=True)
    # huey narrates every task at INFO; the job queue logs what matters itself.
    for noisy in ("aiohttp.access", "huey"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
