"""Structured logs (one JSON object per line) that carry no personal data.

The gateway logs events, pseudonyms, channels, statuses and timings. It never
logs message text, phone numbers, chat ids or secrets; the HTTP libraries that
would (httpx logs request URLs, which hold the bot token; twilio's client logs
request parameters, which hold the phone number and text) are held at WARNING.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

QUIET = ("httpx", "httpcore", "twilio", "telegram", "aiohttp", "uvicorn.access", "hpack")
# Record attributes that are not ``extra`` fields (uvicorn adds a coloured copy of its message).
STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """One JSON line per record; ``extra={...}`` fields are kept, the traceback as text."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in STANDARD:
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str = "INFO") -> None:
    """Sends every log record to stderr as JSON, with the chatty libraries quietened."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
