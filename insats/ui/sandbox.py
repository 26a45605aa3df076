"""The policy sandbox as a page (`/ui/sandbox`, docs/sandbox.md): past payout months replayed
under a scenario and compared with the baseline — through `run_sandbox` and the report's own
`comparison_body`, as `POST /v1/sandbox/runs` answers.

The scenario is built from the form's fields (only those filled in: one change from one date)
or, when the "Avancerat" box holds one, taken whole as JSON; either way `parse_scenario` decides.
The files (CSV, HTML, JSON) are posted from the result page with the same fields and a
`format`: the browser's session has no bearer token for `/v1`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from contracts.events import INSATS_TYPES
from contracts.journey import SPEC_RULES
from contracts.rates import default_rates
from contracts.scenario import (
    MAX_MIN_DAYS,
    Scenario,
    ScenarioInvalid,
    parse_scenario,
    parse_scenario_text,
)
from insats.sandbox import MAX_MONTHS, SandboxRequest, run_sandbox
from insats.sandbox.report import (
    comparison_body,
    render_csv,
    render_html,
    render_journeys_csv,
    render_json,
)
from insats.ui.labels import INSATS_NAMES
from insats.ui.pages import form_dict, page, signed_in, sv_money, today
from insats.ui.refusals import Shown, refusal_of
from insats.ui.sessions import Session
from services.payments.rules import month_of
from services.platform.clock import STOCKHOLM
from services.platform.municipality import municipality_name
from services.platform.refusal import Invalid, Refusal

router = APIRouter(include_in_schema=False)

SPEC_RATES: Final = default_rates()
AMOUNT_FIELDS: Final = (
    *(f"monthly_{i}" for i in INSATS_TYPES),
    *(f"bonus_{i}" for i in INSATS_TYPES),
    "voucher_min",
    "voucher_max",
)
INTEGER_FIELDS: Final = ("min_days_before_payment", "bonus_fixed_term_min_months")
RULE_FLAGS: Final = (
    "bonus_full_time_hourly_counts",
    "bonus_subsidised_work_counts",
    "bonus_csn_studies_count",
    "self_sufficiency_subsidised_work_counts",
)
RULE_FIELDS: Final = ("bonus_fixed_term_min_months", *RULE_FLAGS)
PARAMETERS: Final = (*AMOUNT_FIELDS, "min_days_before_payment", *RULE_FIELDS)
FORM_FIELDS: Final = (
    "name",
    "description",
    "effective_from",
    *PARAMETERS,
    "scenario_json",
    "from",
    "to",
    "known_at",
)

# The form's fields as the refusals and the error summary name them.
FIELD_LABELS: Final[dict[str, str]] = {
    "name": "Scenariots namn",
    "description": "Beskrivning",
    "effective_from": "Ändringarna gäller från",
    **{f"monthly_{i}": f"Månadsersättning, {INSATS_NAMES[i]}" for i in INSATS_TYPES},
    **{f"bonus_{i}": f"Resultatbonus, {INSATS_NAMES[i]}" for i in INSATS_TYPES},
    "min_days_before_payment": "Dagar innan ersättning",
    "voucher_min": "Lägsta tilläggscheck",
    "voucher_max": "Högsta tilläggscheck",
    "bonus_fixed_term_min_months": "Kortaste visstidsanställning som ger resultatbonus",
    "bonus_full_time_hourly_counts": "Timanställning på heltid ger resultatbonus",
    "bonus_subsidised_work_counts": "Subventionerad anställning ger resultatbonus",
    "bonus_csn_studies_count": "CSN-berättigande studier ger resultatbonus",
    "self_sufficiency_subsidised_work_counts": (
        "Subventionerad anställning räknas som egen försörjning"
    ),
    "scenario_json": "Hela scenariot som JSON",
    "scenario": "Scenariot",
    "from": "Från och med månad",
    "to": "Till och med månad",
    "known_at": "Känt per",
}

HEADINGS: Final = {
    "invalid_scenario": "Scenariot kunde inte användas",
    "empty_scenario": "Scenariot ändrar ingenting",
    "sandbox_busy": "Sandlådan räknar redan",
    "too_many_months": "För många månader",
    "known_at_too_early": "Brytpunkten ligger för tidigt",
}
EXPLANATIONS: Final = {
    "invalid_scenario": (
        "Det som är fel står vid fälten nedan, på svenska; svaret från tjänsten nämner "
        "parametrarna som i scenariofilen. Ingenting har räknats."
    ),
    "empty_scenario": (
        "Fyll i minst en nivå eller regel att ändra, eller ett helt scenario under "
        "Avancerat. Tomma fält lämnar det som gäller oförändrat."
    ),
    "invalid_month": (
        "Ange månaderna som ÅÅÅÅ-MM, från 2009-01 (kundval enligt LOV) och högst till "
        "innevarande månad; från-månaden får inte ligga efter till-månaden."
    ),
    "too_many_months": f"En körning i sandlådan omfattar högst {MAX_MONTHS} månader.",
    "invalid_input": "Kontrollera det markerade fältet.",
    "sandbox_busy": (
        "En annan körning i sandlådan räknas just nu. Försök igen om en halv minut; "
        "ingenting har räknats."
    ),
    "known_at_too_early": (
        "Tidpunkten ligger före stängningen av en månad som de valda månaderna bygger på. "
        "Välj en senare tidpunkt eller en tidigare från-månad."
    ),
    "rate_missing": (
        "En månad saknar ersättningsnivå för en insatstyp, i verkligheten eller i scenariot. "
        "Välj andra månader eller lägg till nivån i scenariot."
    ),
}


@dataclass(frozen=True)
class SandboxRefusal(Shown):
    """A refusal as this page shows it: the sandbox's own headings, explanations and field
    names, else those every page uses."""

    @property
    def heading(self) -> str:
        return HEADINGS.get(self.code) or super().heading

    @property
    def explanation(self) -> str:
        return EXPLANATIONS.get(self.code) or super().explanation

    @property
    def field_name(self) -> str | None:
        if self.field is None:
            return None
        return FIELD_LABELS.get(self.field) or super().field_name


class FormInvalid(Exception):
    """What is wrong with the form, by field (Swedish), with the refusal it amounts to."""

    def __init__(self, refusal: SandboxRefusal, errors: dict[str, str]) -> None:
        super().__init__(refusal.message)
        self.refusal, self.errors = refusal, errors


# --- the scenario from the form -------------------------------------------------------------


def _amount(text: str) -> str:
    """'5 000,50 kr' or '5000.50' → '5000.50' (the scenario's amount string)."""
    return re.sub(r"[\s\u00a0]", "", text).replace(",", ".").removesuffix("kr")


def _integer(text: str) -> int | str:
    return int(text) if re.fullmatch(r"-?\d{1,9}", text) else text


def scenario_data(values: Mapping[str, str]) -> dict[str, Any]:
    """The scenario the filled-in fields make: one change from `effective_from`."""
    change: dict[str, Any] = {}
    if values.get("effective_from"):
        change["effective_from"] = values["effective_from"]
    for kind in ("monthly", "bonus"):
        given = {i: _amount(values[f"{kind}_{i}"]) for i in INSATS_TYPES if values[f"{kind}_{i}"]}
        if given:
            change[kind] = given
    if values["min_days_before_payment"]:
        change["min_days_before_payment"] = _integer(values["min_days_before_payment"])
    for bound in ("voucher_min", "voucher_max"):
        if values[bound]:
            change[bound] = _amount(values[bound])
    rules: dict[str, Any] = {}
    if values["bonus_fixed_term_min_months"]:
        rules["bonus_fixed_term_min_months"] = _integer(values["bonus_fixed_term_min_months"])
    for flag in RULE_FLAGS:
        if values[flag] in ("true", "false"):
            rules[flag] = values[flag] == "true"
    if rules:
        change["rules"] = rules
    data: dict[str, Any] = {"name": values["name"], "changes": [change]}
    if values["description"]:
        data["description"] = values["description"]
    return data


def _given(values: Mapping[str, str]) -> bool:
    return any(values[p] for p in PARAMETERS if p not in RULE_FLAGS) or any(
        values[f] in ("true", "false") for f in RULE_FLAGS
    )


def _field_of(loc: tuple[int | str, ...]) -> str:
    """A form field from a scenario error's location (changes.0.monthly.grund → monthly_grund)."""
    path = [str(p) for p in loc]
    if path[:1] == ["changes"] and len(path) >= 3 and path[1] == "0":
        rest = path[2:]
        if rest[0] in ("monthly", "bonus") and len(rest) > 1:
            return f"{rest[0]}_{rest[1]}"
        if rest[0] == "rules" and len(rest) > 1:
            return rest[1]
        return rest[0]
    if path == ["changes"]:
        return "effective_from"
    return path[0] if path else "voucher_min"  # the only check of the whole: the voucher bounds


def _swedish(error: ErrorDetails, field: str) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        return "okänd parameter (se contracts/scenario/v1/scenario.json)"
    if kind == "missing":
        if field == "effective_from":
            return "saknas: ange från vilket datum ändringarna gäller"
        return "saknas"
    if kind == "greater_than_equal":
        return f"minst {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"högst {ctx.get('le')}"
    if kind.startswith("int_"):
        return "ange ett heltal"
    if kind.startswith("bool_"):
        return "ange true eller false"
    if kind == "string_too_short":
        return "får inte vara tomt"
    if kind == "string_too_long":
        return f"högst {ctx.get('max_length')} tecken"
    if kind.startswith("date_"):
        return "ange ett datum som ÅÅÅÅ-MM-DD"
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"] and "voucher_min" in message and "voucher_max" in message:
        return f"lägsta tilläggschecken är högre än den högsta ({message})"
    if field in AMOUNT_FIELDS and kind == "value_error":
        return f"ange ett belopp i kronor, t.ex. 5000 eller 5 000,00 ({message})"
    return message


def _structured(data: Any) -> list[ErrorDetails]:
    try:
        Scenario.model_validate(data)
    except ValidationError as error:
        return error.errors()
    return []


def field_errors(data: dict[str, Any]) -> dict[str, str]:
    """The scenario's problems by the form field they belong to, in Swedish."""
    errors: dict[str, str] = {}
    for e in _structured(data):
        field = _field_of(tuple(e["loc"]))
        if field not in FIELD_LABELS:
            field = "scenario"
        text = _swedish(e, field)
        errors[field] = f"{errors[field]}; {text}" if field in errors else text
    return errors


def json_errors(text: str, message: str) -> dict[str, str]:
    """An advanced scenario's problems, each at its place in the JSON, in Swedish."""
    try:
        data = json.loads(text)
    except ValueError:
        return {"scenario_json": message}
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'scenariot'}: {_swedish(e, '')}"
        for e in _structured(data)
    ]
    return {"scenario_json": "; ".join(problems) or message}


def scenario_of(values: Mapping[str, str]) -> Scenario:
    """The scenario of the form (the advanced JSON when given); FormInvalid naming the fields."""
    advanced = values["scenario_json"]
    if advanced:
        try:
            return parse_scenario_text(advanced)
        except ScenarioInvalid as error:
            raise FormInvalid(
                SandboxRefusal(422, "invalid_scenario", str(error), "scenario_json"),
                json_errors(advanced, str(error)),
            ) from None
    if not _given(values):
        raise FormInvalid(
            SandboxRefusal(422, "empty_scenario", "the scenario changes no parameter"), {}
        )
    data = scenario_data(values)
    try:
        return parse_scenario(data)
    except ScenarioInvalid as error:
        errors = field_errors(data)
        first = next(iter(errors), None)
        raise FormInvalid(
            SandboxRefusal(422, "invalid_scenario", str(error), first), errors
        ) from None


def known_at_of(text: str) -> datetime | None:
    """A `datetime-local` value (Stockholm time) as the UTC moment the sandbox takes."""
    if not text:
        return None
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            "invalid_input", "known_at: ange tidpunkt som ÅÅÅÅ-MM-DD TT:MM", "known_at"
        ) from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=STOCKHOLM)
    return local.astimezone(UTC)


# --- the page -------------------------------------------------------------------------------


def defaults(day: date) -> dict[str, str]:
    """Last calendar year (never after the current month), changes from its first day."""
    values = dict.fromkeys(FORM_FIELDS, "")
    year = day.year - 1
    values.update(
        {
            "from": f"{year}-01",
            "to": min(f"{year}-12", month_of(day)),
            "effective_from": f"{year}-01-01",
        }
    )
    return values


def _level(now: Any, spec: Any, unit: str = "") -> str:
    """The level in force today beside SPEC's ("Gällande i dag: 3 686,00 kr (som SPEC).")."""
    text = (lambda v: f"{v} {unit}") if unit else sv_money
    if now is None:
        return f"SPEC: {text(spec)}."
    if text(now) == text(spec):
        return f"Gällande i dag: {text(now)} (som SPEC)."
    return f"Gällande i dag: {text(now)}. SPEC: {text(spec)}."


def hints(request: Request) -> dict[str, str]:
    """Beside each field: what holds today (the real rate table) and SPEC's value."""
    table = request.app.state.lifecycle.rate_table_on(today(request))

    def now(kind: str, key: str | None = None) -> Any:
        if table is None:
            return None
        value = getattr(table, kind)
        return value.get(key) if key is not None else value

    return {
        **{
            f"{kind}_{i}": _level(now(kind, i), SPEC_RATES[kind][i])
            for kind in ("monthly", "bonus")
            for i in INSATS_TYPES
        },
        "min_days_before_payment": (
            "Så många dagar ska en insats ha pågått innan något tjänas in, för insatser som "
            f"börjar från datumet (1–{MAX_MIN_DAYS}). "
            + _level(now("min_days_before_payment"), SPEC_RATES["min_days_before_payment"], "dagar")
        ),
        "voucher_min": _level(now("voucher_min"), SPEC_RATES["voucher_min"])
        + " En check beviljad under gränsen räknas som gränsen.",
        "voucher_max": _level(now("voucher_max"), SPEC_RATES["voucher_max"])
        + " En check beviljad över gränsen räknas som gränsen.",
        "bonus_fixed_term_min_months": (
            f"SPEC: {SPEC_RULES.bonus_fixed_term_min_months} månader. En visstidsanställning "
            "minst så lång ger resultatbonus."
        ),
    }


RULE_OPTIONS: Final[dict[str, list[tuple[str, str]]]] = {
    flag: [
        ("", f"Oförändrad (SPEC: {'ja' if getattr(SPEC_RULES, flag) else 'nej'})"),
        ("true", "Ja"),
        ("false", "Nej"),
    ]
    for flag in RULE_FLAGS
}


def _render(
    request: Request,
    values: Mapping[str, str],
    *,
    refusal: Shown | None = None,
    errors: Mapping[str, str] | None = None,
    comparison: Mapping[str, Any] | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    day = today(request)
    body = None
    if comparison is not None:
        # The report's own HTML (escaped by it; its charts labelled by their captions).
        body = Markup(comparison_body(comparison, charts=True))
    return page(
        request,
        "sandbox.html",
        status=status,
        headers=headers,
        title="Policysandlåda",
        values=values,
        hidden={k: v for k, v in values.items() if v},
        refusal=refusal,
        errors=errors or {},
        field_labels=FIELD_LABELS,
        comparison=comparison,
        body=body,
        scenario_json=json.dumps(comparison["scenario"], indent=2, ensure_ascii=False)
        if comparison is not None
        else "",
        insats_types=INSATS_TYPES,
        insats_names=INSATS_NAMES,
        hints=hints(request),
        rule_options=RULE_OPTIONS,
        rule_flags=RULE_FLAGS,
        current_month=month_of(day),
        max_months=MAX_MONTHS,
    )


@router.get("/ui/sandbox", response_class=HTMLResponse)
def sandbox_page(
    request: Request, session: Session = Depends(signed_in("sandbox"))
) -> HTMLResponse:
    return _render(request, defaults(today(request)))


FILES: Final = {
    "csv": ("text/csv; charset=utf-8", "{name}.csv"),
    "journeys.csv": ("text/csv; charset=utf-8", "{name}-insatser.csv"),
    "html": ("text/html; charset=utf-8", "{name}.html"),
    "json": ("application/json", "{name}.json"),
}


def _file(comparison: Mapping[str, Any], format: str, month_from: str, month_to: str) -> Response:
    media_type, pattern = FILES[format]
    if format == "csv":
        data = render_csv(comparison)
    elif format == "journeys.csv":
        data = render_journeys_csv(comparison)
    elif format == "html":
        data = render_html(comparison, municipality_name())
    else:
        data = render_json(comparison)
    name = pattern.format(name=f"sandbox-{month_from}-{month_to}")
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if format == "html":
        headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
        )
    return Response(data, media_type=media_type, headers=headers)


@router.post("/ui/sandbox")
def sandbox_run(request: Request, session: Session = Depends(signed_in("sandbox"))) -> Response:
    """Run the sandbox on the form's scenario and months: the comparison on the page, or with
    `format` one of its files (csv, journeys.csv, html, json) as the API gives them."""
    form = form_dict(request)
    values = {k: (form.get(k) or "").strip() for k in FORM_FIELDS}
    format = (form.get("format") or "").strip()
    try:
        scenario = scenario_of(values)
    except FormInvalid as invalid:
        return _render(request, values, refusal=invalid.refusal, errors=invalid.errors, status=422)
    container = request.app.state.container
    try:
        comparison = run_sandbox(
            container.source,
            container.payments.runs,
            SandboxRequest(scenario, values["from"], values["to"], known_at_of(values["known_at"])),
            today=today(request),
        )
    except Refusal as exc:
        shown = refusal_of(exc)
        assert shown is not None
        refusal = SandboxRefusal(shown.status, shown.code, shown.message, shown.field)
        field = exc.field if exc.field in FORM_FIELDS else None
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return _render(
            request,
            values,
            refusal=refusal,
            errors={field: refusal.explanation or refusal.message} if field else {},
            status=exc.status,
            headers=headers,
        )
    if format in FILES:
        return _file(comparison, format, values["from"], values["to"])
    return _render(request, values, comparison=comparison)
