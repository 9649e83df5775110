"""Structured logging: ``configure_logging`` once per process, ``structlog.get_logger()`` everywhere else.

Console rendering on a terminal, JSON lines otherwise or when ``SUNSHINE_LOG_FORMAT=json`` (read into
:class:`federation.config.LogConfig` by the entry point).
"""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["configure_logging"]


def configure_logging(fmt: str = "auto", level: str = "info") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    # Alembic narrates every migration step at INFO; the CLI reports the result itself
    logging.getLogger("alembic").setLevel(max(numeric, logging.WARNING))
    # httpx logs every request at INFO; clients of Sunshine log what matters themselves
    logging.getLogger("httpx").setLevel(max(numeric, logging.WARNING))
