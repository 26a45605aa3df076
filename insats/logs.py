"""Logging that never carries a personnummer (SPEC §3.1).

The only place a personnummer can reach a log line is a request URL: `GET /v1/journeys?person_id=`
(or a sole trader's organisation number, which is the owner's personnummer, as `provider_id`).
Every log record passes through `Redact`, which masks that parameter and anything shaped like a
personnummer — also URL-encoded (`%2D` for -, `%2B` or `+` for +, `%20` for a space) — before any
handler formats it. UUIDs (journey ids) are left as they are, so logs can be searched by
journey: their digit runs can look like a personnummer."""

from __future__ import annotations

import logging
import re
from typing import Any

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# 12 or 10 digits with an optional separator, plain or URL-encoded: YYYYMMDD-NNNC, YYMMDDNNNC …
_PNR = r"(?<!\d)(?:\d{6}|\d{8})(?:[-+ ]|%2[dDbB0])?\d{4}(?!\d)"
_SCAN = re.compile(f"(?<![0-9a-fA-F-])({_UUID})(?![0-9a-fA-F-])|{_PNR}")
_PARAM = re.compile(r"(person_id=)[^&\s\"]*", re.IGNORECASE)


def _mask(match: re.Match[str]) -> str:
    return match.group(1) or "[personnummer]"


def redact(text: str) -> str:
    return _SCAN.sub(_mask, _PARAM.sub(r"\1[redacted]", text))


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
