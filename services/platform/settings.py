"""Numbers read from the environment (timeouts, limits): one reading rule for every setting."""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Mapping
from typing import Any


class SettingError(ValueError):
    """A setting in the environment cannot be used; the message names it and the form wanted.
    The CLI and the server report it and stop, without a traceback."""


def numbers_from_env(
    keys: Mapping[str, str],
    env: Mapping[str, str] | None = None,
    *,
    whole: Collection[str] = (),
    zero_allowed: Collection[str] = (),
) -> dict[str, Any]:
    """`{name: value}` for each `name → environment key` that is set and not empty: a finite
    positive number (0 only for names in `zero_allowed`), rounded up for names in `whole`.
    ValueError naming the key for anything else, so a typo stops the start with a clear
    message instead of meaning "wait forever" or "never wait"."""
    source = os.environ if env is None else env
    values: dict[str, Any] = {}
    for name, key in keys.items():
        text = (source.get(key) or "").strip()
        if not text:
            continue
        try:
            number = float(text)
        except ValueError:
            raise SettingError(f"{key} must be a number, not {text!r}") from None
        if not math.isfinite(number) or number < 0 or (number == 0 and name not in zero_allowed):
            raise SettingError(f"{key} must be a positive number, not {text!r}")
        values[name] = math.ceil(number) if name in whole else number
    return values
