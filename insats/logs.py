"""Logging that never carries a personnummer (SPEC §3.1).

The only place a personnummer can reach a log line is a request URL: `GET /v1/journeys?person_id=`.
Every log record passes through `Redact`, which masks that parameter and anything shaped like a
personnummer, before any handler formats it."""

from __future__ import annotations

import logging
import re
from typing import Any

# 12 or 10 digits with an optional - or +: YYYYMMDD-NNNC, YYMMDDNNNC, ...
_PNR = re.compile(r"(?<!\d)(\d{6}|\d{8})[-+]?\d{4}(?!\d)")
_PARAM = re.compile(r"(person_id=)[^&\s\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    return _PNR.sub("[personnummer]", _PARAM.sub(r"\1[redacted]", text))


class Redact(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            args: Any = record.args
            if isinstance(args, tuple):
                record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
            elif isinstance(args, dict):
                record.args = {k: redact(v) if isinstance(v, str) else v for k, v in args.items()}
        return True


def install() -> None:
    """Attach the filter to every handler uvicorn and the root logger use."""
    for name in ("", "uvicorn", "uvicorn.access", "uvicorn.error", "insats", "services"):
        logger = logging.getLogger(name)
        logger.addFilter(Redact())
        for handler in logger.handlers:
            handler.addFilter(Redact())
