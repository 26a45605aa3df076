"""A policy scenario: changes to the rate table and to SPEC's named rule parameters, each from
an effective date (docs/sandbox.md; JSON Schema `contracts/scenario/v1/scenario.json`).

A scenario is data, as a reform is in tax-benefit microsimulation: a copy of the parameters with
some changed from a date on. The sandbox replays the recorded events and pays every month under
the real parameters (the baseline) and under the scenario, with the code that closes real runs.

- **rates**: `monthly` and `bonus` per insats, `min_days_before_payment`, `voucher_min` and
  `voucher_max`. A change holds from its `effective_from` for every later rate table too (a real
  re-indexing later does not undo it); of two changes to one value the later dated wins.
- **rules** (`contracts.journey.Rules`): which exit qualifies for the bonus, which exit is
  self-sufficient. A rule in force on the exit day decides for that exit.
- **vouchers**: a tilläggscheck granted outside the scenario's bounds counts at the nearest
  bound (what the counsellor could have granted under them).

Unknown parameters are refused, naming them: a misspelt parameter must never silently leave the
baseline in place.
"""

from __future__ import annotations

import json
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from contracts.bounds import MAX_NAME, MAX_REASON, Day, parse_amount
from contracts.journey import SPEC_RULES, Exit, Rules

SCENARIO_VERSION = 1
SCHEMA_PATH = Path(__file__).parent / "scenario" / f"v{SCENARIO_VERSION}" / "scenario.json"
MAX_CHANGES = 100  # a scenario is a handful of reforms, not a rate history
MAX_SCENARIO_BYTES = 64 * 1024
MAX_MIN_DAYS = 366  # a waiting period beyond a year would mean no monthly compensation at all
MAX_CONTRACT_MONTHS = 120


class ScenarioInvalid(ValueError):
    """A scenario that cannot be used; the message names every offending parameter."""


def _amount(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ValueError('amounts are strings with two decimals, e.g. "5000.00"')
    amount = parse_amount(value)
    if amount < 0:
        raise ValueError("an amount in a scenario cannot be negative")
    return amount


ScenarioAmount = Annotated[
    Decimal,
    Field(json_schema_extra={"type": "string", "pattern": r"^\d+(\.\d{1,2})?$"}),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PerInsatsChange(_Strict):
    grund: ScenarioAmount | None = None
    forstarkt: ScenarioAmount | None = None
    sai: ScenarioAmount | None = None

    @field_validator("grund", "forstarkt", "sai", mode="before")
    @classmethod
    def _money(cls, value: Any) -> Decimal | None:
        return None if value is None else _amount(value)

    def given(self) -> dict[str, Decimal]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class RulesChange(_Strict):
    """SPEC §4.2 and §6's named rule parameters; those left out keep their value."""

    bonus_fixed_term_min_months: int | None = Field(
        default=None,
        ge=0,
        le=MAX_CONTRACT_MONTHS,
        description="a fixed-term contract of at least this many months qualifies (SPEC: 6)",
    )
    bonus_full_time_hourly_counts: bool | None = Field(
        default=None, description="a full-time hourly contract qualifies (SPEC: true)"
    )
    bonus_subsidised_work_counts: bool | None = Field(
        default=None,
        description="work with a subsidy (extratjänst, nystartsjobb …) qualifies (SPEC: true)",
    )
    bonus_csn_studies_count: bool | None = Field(
        default=None, description="CSN-eligible studies qualify (SPEC: true)"
    )
    self_sufficiency_subsidised_work_counts: bool | None = Field(
        default=None,
        description="work with a subsidy counts as self-sufficient in the statistics (SPEC: true)",
    )


class Change(_Strict):
    effective_from: Day
    reason: str | None = Field(default=None, max_length=MAX_REASON)
    monthly: PerInsatsChange | None = None
    bonus: PerInsatsChange | None = None
    min_days_before_payment: int | None = Field(default=None, ge=1, le=MAX_MIN_DAYS)
    voucher_min: ScenarioAmount | None = None
    voucher_max: ScenarioAmount | None = None
    rules: RulesChange | None = None

    @field_validator("voucher_min", "voucher_max", mode="before")
    @classmethod
    def _money(cls, value: Any) -> Decimal | None:
        return None if value is None else _amount(value)


class Scenario(_Strict):
    """A named set of dated changes (see the module docstring)."""

    name: str = Field(min_length=1, max_length=MAX_NAME)
    description: str | None = Field(default=None, max_length=MAX_REASON * 4)
    scenario_version: int = Field(default=SCENARIO_VERSION, ge=1, le=SCENARIO_VERSION)
    changes: list[Change] = Field(min_length=1, max_length=MAX_CHANGES)

    _ordered: tuple[Change, ...] = PrivateAttr(default=())
    _rules: tuple[tuple[date, Rules], ...] = PrivateAttr(default=())

    def model_post_init(self, context: Any, /) -> None:
        ordered = sorted(self.changes, key=lambda c: c.effective_from)  # stable: file order
        self._ordered = tuple(ordered)
        self._rules = _rule_steps(ordered)

    @model_validator(mode="after")
    def _voucher_bounds_in_order(self) -> Scenario:
        for c in self.ordered:
            lo, hi = self.voucher_bounds_on(c.effective_from)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(
                    f"from {c.effective_from}: voucher_min {lo:.2f} is above voucher_max {hi:.2f}"
                )
        return self

    # --- what the sandbox asks ------------------------------------------------------------------

    @property
    def ordered(self) -> tuple[Change, ...]:
        return self._ordered

    def change_dates(self) -> list[date]:
        return sorted({c.effective_from for c in self.changes})

    def changes_on(self, day: date) -> list[Change]:
        """The changes in force on `day`, oldest first."""
        return [c for c in self.ordered if c.effective_from <= day]

    def rules_on(self, day: date) -> Rules:
        rules = SPEC_RULES
        for since, step in self._rules:
            if since > day:
                break
            rules = step
        return rules

    def voucher_bounds_on(self, day: date) -> tuple[Decimal | None, Decimal | None]:
        lo: Decimal | None = None
        hi: Decimal | None = None
        for c in self.changes_on(day):
            lo = c.voucher_min if c.voucher_min is not None else lo
            hi = c.voucher_max if c.voucher_max is not None else hi
        return lo, hi

    def voucher_amount(self, amount: Decimal, granted_on: date) -> Decimal:
        lo, hi = self.voucher_bounds_on(granted_on)
        if hi is not None and amount > hi:
            return hi
        if lo is not None and amount < lo:
            return lo
        return amount

    def qualifies_for_bonus(self, exit_: Exit) -> bool:
        return self.rules_on(exit_.exited_on).qualifies_for_bonus(exit_)

    def self_sufficient(self, exit_: Exit) -> bool:
        return self.rules_on(exit_.exited_on).self_sufficient(exit_)

    @property
    def changes_rules(self) -> bool:
        return any(c.rules is not None for c in self.changes)


def _rule_steps(ordered: list[Change]) -> tuple[tuple[date, Rules], ...]:
    steps: list[tuple[date, Rules]] = []
    rules = SPEC_RULES
    for c in ordered:
        if c.rules is None:
            continue
        given = {k: v for k, v in c.rules.model_dump().items() if v is not None}
        rules = rules._replace(**given)
        if steps and steps[-1][0] == c.effective_from:
            steps[-1] = (c.effective_from, rules)
        else:
            steps.append((c.effective_from, rules))
    return tuple(steps)


def _messages(error: ValidationError) -> str:
    lines = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "<scenario>"
        if e["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown parameter (see contracts/scenario/v1/scenario.json)")
        else:
            lines.append(f"{where}: {str(e['msg']).removeprefix('Value error, ')}")
    return "; ".join(lines)


def parse_scenario(data: Any) -> Scenario:
    """A scenario from parsed JSON or TOML; ScenarioInvalid naming every problem."""
    if not isinstance(data, dict):
        raise ScenarioInvalid("a scenario is an object with 'name' and 'changes'")
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise ScenarioInvalid(_messages(error)) from None


def parse_scenario_text(text: str | bytes, *, toml: bool = False) -> Scenario:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioInvalid(f"a scenario is at most {MAX_SCENARIO_BYTES // 1024} KiB")
    try:
        decoded = raw.decode("utf-8")
        data = tomllib.loads(decoded) if toml else json.loads(decoded)
    except UnicodeDecodeError:
        raise ScenarioInvalid("a scenario file is UTF-8 text") from None
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        kind = "TOML" if toml else "JSON"
        raise ScenarioInvalid(f"not valid {kind}: {error}") from None
    return parse_scenario(data)


def load_scenario(path: Path) -> Scenario:
    """A scenario file: `.toml` is TOML, anything else JSON."""
    return parse_scenario_text(path.read_bytes(), toml=path.suffix.lower() == ".toml")


def scenario_schema() -> dict[str, Any]:
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://insats.example/contracts/scenario/v{SCENARIO_VERSION}/scenario.json"
    return schema


def render_schema() -> str:
    return json.dumps(scenario_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema() -> Path:
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(render_schema(), encoding="utf-8")
    return SCHEMA_PATH
