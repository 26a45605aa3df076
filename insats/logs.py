"""Logging that never carries a personnummer (SPEC §3.1).

The only place a personnummer can reach a log line is a request URL: `GET /v1/journeys?person_id=`
(or a sole trader's organisation number, which is the owner's personnummer, as `provider_id`).
Every log record passes through `Redact`, which masks that parameter and anything shaped like a
personnummer — also URL-encoded (`%2D` for -, `%2B` or `+` for +, `%20` for a space) — before any
handler formats it. UUIDs (journey ids) are left as they are, so logs can be searched by
journey: their digit runs can look like a personnummer.

`INSATS_LOG_FORMAT=json` writes one JSON object per line (time, level, logger, message; for
access lines also client, method, path, status) for a log collector; `text` (the default) is
uvicorn's own format. Both are masked the same way."""

from __future__ import annotations

import copy
import json
import logging
import os
import re
from datetime import UTC, datetime
from typing import Any

from services.platform.settings import SettingError

LOG_FORMATS = ("text", "json")

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# 12 or 10 digits with an optional separator, plain or URL-encoded: YYYYMMDD-NNNC, YYMMDDNNNC …
_PNR = r"(?<!\d)(?:\d{6}|\d{8})(?:[-+ ]|%2[dDbB0])?\d{4}(?!\d)"
_SCAN = re.compile(f"(?<![0-9a-fA-F-])({_UUID})(?![0-9a-fA-F-])|{_PNR}")
_PARAM = re.compile(r"(person_id=)[^&\s\"]*", re.IGNORECASE)


def _mask(match: re.Match[str]) -> str:
    return match.group(1) or "[personnummer]"


# Quick checks before the full scans: `_PARAM` needs an "=", and a personnummer `_PNR` matches
# holds a run of at least six digits (`\d` as `_PNR` has it, so any Unicode digit).
_DIGIT_RUN = re.compile(r"\d{6}")


def redact(text: str) -> str:
    if "=" in text:
        text = _PARAM.sub(r"\1[redacted]", text)
    if _DIGIT_RUN.search(text) is None:
        return text  # nothing shaped like a personnummer (and no UUID with one's digits)
    return _SCAN.sub(_mask, text)


class Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            args: Any = record.args
            if isinstance(args, tuple):
                record.args = tuple([redact(a) if isinstance(a, str) else a for a in args])
            elif isinstance(args, dict):
                record.args = {k: redact(v) if isinstance(v, str) else v for k, v in args.items()}
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record. The message is formatted (and masked by `Redact`, a filter
    of the handler, which runs first); an access line's parts get their own keys."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, _, status = args
            line.update(client=client, method=method, path=path, status=status)
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def log_format() -> str:
    """INSATS_LOG_FORMAT: text (default) or json."""
    value = os.environ.get("INSATS_LOG_FORMAT", "").strip().lower() or "text"
    if value not in LOG_FORMATS:
        raise SettingError(f"INSATS_LOG_FORMAT must be text or json, not {value!r}")
    return value


def log_config(fmt: str | None = None) -> dict[str, Any]:
    """A `logging.config.dictConfig` for every process of the service (uvicorn takes it as its
    `log_config`): uvicorn's handlers and the root logger's, each masked by `Redact`, in the
    chosen format. The root handler carries the application's own records (`insats.*`,
    `services.*`), which would otherwise reach Python's last-resort handler unmasked."""
    import uvicorn.config

    chosen = fmt or log_format()
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": Redact}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    if chosen == "json":
        config["formatters"] = {"default": {"()": JsonLines}, "access": {"()": JsonLines}}
    else:
        config["formatters"]["plain"] = {
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s"
        }
        config["handlers"]["root"] = {**config["handlers"]["default"], "formatter": "plain"}
    config["loggers"][""] = {
        "handlers": ["root" if chosen == "text" else "default"],
        "level": "INFO",
    }
    config["loggers"]["kafka"] = {"level": "WARNING"}  # the client library's own chatter
    return config


def install(fmt: str | None = None) -> None:
    """Configure logging for a process that is not uvicorn's (worker, relay, CLI tools)."""
    import logging.config

    logging.config.dictConfig(log_config(fmt))
