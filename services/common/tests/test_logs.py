"""The log formats (litellm_local_common.logs): text, or one JSON object per line with the `extra=` fields."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys

from litellm_local_common.logs import TEXT_FORMAT, JsonFormatter, configure, formatter_config


def record(msg: str = "%s done", args: tuple = ("x",), exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("litellm_local.access", logging.WARNING, __file__, 1, msg, args, exc_info)


def test_json_is_one_object_with_time_level_logger_message_and_extras() -> None:
    entry = record()
    entry.status, entry.latency_ms = 200, 12.5
    line = JsonFormatter().format(entry)
    assert "\n" not in line
    got = json.loads(line)
    assert got["message"] == "x done" and got["level"] == "warning" and got["logger"] == "litellm_local.access"
    assert got["status"] == 200 and got["latency_ms"] == 12.5
    assert got["time"].endswith("Z") and got["time"][10] == "T"
    assert "args" not in got and "msg" not in got  # the record's own attributes stay out


def test_json_holds_the_exception_and_survives_values_json_cannot_encode() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        entry = record("failed", (), sys.exc_info())
    entry.where = object()
    got = json.loads(JsonFormatter().format(entry))
    assert "ValueError: bad" in got["exception"] and got["where"].startswith("<object")


def test_the_dict_config_entry_gives_the_same_formats() -> None:
    for log_format, check in (("json", lambda line: json.loads(line)["message"] == "hi"), ("text", None)):
        stream = io.StringIO()
        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"f": formatter_config(log_format)},
                "handlers": {"h": {"class": "logging.StreamHandler", "formatter": "f", "stream": stream}},
                "loggers": {"litellm_local.test": {"level": "INFO", "handlers": ["h"], "propagate": False}},
            }
        )
        logging.getLogger("litellm_local.test").info("hi")
        line = stream.getvalue().strip()
        if check is None:
            assert line == TEXT_FORMAT % {"levelname": "INFO", "name": "litellm_local.test", "message": "hi"}
        else:
            assert check(line), line


def test_configure_sets_the_root_logger_once_with_the_format() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure("warning", "json")
        assert root.level == logging.WARNING
        assert len(root.handlers) == 1 and isinstance(root.handlers[0].formatter, JsonFormatter)
        configure("debug", "text")
        assert root.level == logging.DEBUG and len(root.handlers) == 1
        assert root.handlers[0].formatter._fmt == TEXT_FORMAT
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
