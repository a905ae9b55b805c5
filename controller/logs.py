"""Structured logging for the controller process: JSON lines on stderr via structlog.

Called once by an entry point (``run``, ``chatops``); library modules only ever
call ``structlog.get_logger`` and bind ``namespace``, ``rollout`` and
``reconcile_id``. Records of the standard library's ``logging`` — the
``kubernetes`` client, ``urllib3``, ``httpx``, ``tenacity``, ``asyncio`` — go
through the same processors (structlog's ``ProcessorFormatter``) and come out
as the same JSON lines, at the same level. Below ``debug``, httpx's line per
request is held back (it is ``INFO``, one per Prometheus query). Every line is
scrubbed of credentials last (:mod:`controller.redaction`).
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from controller.redaction import redact_event

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS["error"] = logging.ERROR

_CHATTY = ("httpx", "httpcore")
"""Libraries that log each request at INFO: only shown at ``debug``."""


def configure(level: str = "info", *, json: bool = True, stream: TextIO | None = None) -> None:
    """Render events as JSON (or for a console) on ``stream`` (stderr) and drop those
    below ``level``, structlog's and the standard library's alike."""
    threshold = _LEVELS.get(level.lower())
    if threshold is None:
        raise ValueError(f"unknown log level {level!r}: use one of {', '.join(_LEVELS)}")
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_event,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
    chatty = logging.DEBUG if threshold == logging.DEBUG else max(threshold, logging.WARNING)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(chatty)
    logging.captureWarnings(True)
