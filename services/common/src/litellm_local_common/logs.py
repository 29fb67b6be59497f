"""Log formats of the services: plain text, or one JSON object per line (`log_format = "json"`) for log shippers."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Literal

LogFormat = Literal["text", "json"]
LogLevel = Literal["debug", "info", "warning", "error"]

TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message"}` plus any `extra=` fields, one object per line."""

    RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in self.RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def formatter_config(log_format: LogFormat) -> dict[str, Any]:
    """The same formatter as a `logging.config.dictConfig` entry (Gunicorn's `logconfig_dict`)."""
    if log_format == "json":
        return {"()": f"{JsonFormatter.__module__}.{JsonFormatter.__qualname__}"}
    return {"format": TEXT_FORMAT}


def configure(level: str, log_format: LogFormat) -> None:
    """Set up the root logger once, for the whole process."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
