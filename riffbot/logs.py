"""Operators' logging: ``RIFFBOT_LOG_LEVEL`` and an optional JSON-lines format.

JSON lines (one object per record: time, level, logger, message, and the exception when there
is one) feed log shippers without a parser; the plain format stays the default for people.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, log_format: str, *, root: logging.Logger | None = None) -> None:
    """Point the root logger at stderr with ``level`` (a name such as ``INFO``) and
    ``log_format`` (``plain`` or ``json``); replaces handlers a previous call installed."""
    target = root or logging.getLogger()
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(PLAIN_FORMAT))
    for old in list(target.handlers):
        target.removeHandler(old)
    target.addHandler(handler)
    target.setLevel(level.upper())
