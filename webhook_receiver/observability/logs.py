"""JSON logs, one object per line, with event_id and trace_id when the record has them.

Secrets never reach a log line: the formatter replaces every configured secret value by
``***`` in the final text (belt and braces: no code path logs a header or a token).
"""
from __future__ import annotations

import json
import logging
import sys
import time

_FIELDS = ("event_id", "trace_id", "request_id", "job", "key", "launch_id", "external_id", "reason", "status",
           "attempt", "delay", "mode", "requests", "kind")


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: list[str] | None = None):
        super().__init__()
        self.secrets = [s for s in (secrets or []) if s]

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        for name in _FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        text = json.dumps(entry, default=str)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def configure(level: str = "INFO", secrets: list[str] | None = None, stream=None) -> None:
    """Routes the ``stoa.receiver`` loggers to ``stream`` (stderr) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    for name in ("stoa.receiver", "aiohttp"):  # aiohttp's own errors (malformed requests) too, as JSON lines
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level if name == "stoa.receiver" else "WARNING")
        logger.propagate = False
