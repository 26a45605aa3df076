"""Refusals (`services.platform.refusal`) as the pages show them: the API's status, code,
message and field, with a Swedish heading and, where one is known, a Swedish explanation."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from insats.ui import labels
from services.platform.outage import UNAVAILABLE_TYPES, is_store_unavailable
from services.platform.refusal import Refusal

HEADINGS = {
    400: "Felaktig begäran",
    401: "Du är inte inloggad",
    403: "Ingen behörighet",
    404: "Hittades inte",
    409: "Uppgiften krockar med det som redan är registrerat",
    422: "Uppgifterna kunde inte tas emot",
    503: "Tjänsten är tillfälligt otillgänglig",
}

# Swedish explanations of the refusals a person meets most often, by code.
EXPLANATIONS = {
    "journey_not_found": "Insatsen finns inte, eller så hör den inte till dina kunder.",
    "not_your_customer": "Bara den anordnare som har kunden nu kan registrera detta.",
    "stale_version": (
        "Insatsen har ändrats sedan du öppnade sidan. Sidan visar nu de senaste uppgifterna: "
        "kontrollera dem och skicka igen."
    ),
    "forbidden": "Din roll får inte göra detta.",
    "date_in_future": "Datumet får inte ligga i framtiden.",
    "plan_exists": "En genomförandeplan är redan registrerad.",
    "journey_exited": "Insatsen är avslutad.",
    "journey_not_started": "Insatsen har inte påbörjats: ingen anordnare är vald.",
    "journey_withdrawn": "Beslutet är återkallat.",
    "journey_not_exited": "Insatsen är inte avslutad.",
    "no_claim_pending": "Det finns inget anspråk på resultatbonus att granska.",
    "bonus_approved": "Resultatbonusen är redan godkänd.",
    "claim_pending": "Ett anspråk väntar redan på granskning.",
    "open_journey_exists": "Personen har redan en pågående insats. Avsluta eller flytta över den.",
    "duplicate_external_ref": "Beslutsreferensen är redan registrerad med andra uppgifter.",
    "idempotency_key_reused": "Formuläret har redan skickats med andra uppgifter.",
    "invalid_input": "Kontrollera de markerade uppgifterna.",
    "read_model_unavailable": labels.PAYOUT_REFUSALS["read_model_unavailable"][1],
    "store_unavailable": labels.PAYOUT_REFUSALS["store_unavailable"][1],
    "not_found": "Sidan finns inte.",
    **{code: text for code, (_, text) in labels.PAYOUT_REFUSALS.items()},
}


@dataclass(frozen=True)
class Shown:
    status: int
    code: str
    message: str
    field: str | None = None

    @property
    def heading(self) -> str:
        if self.code in labels.PAYOUT_REFUSALS:
            return labels.PAYOUT_REFUSALS[self.code][0]
        return HEADINGS.get(self.status, "Det gick inte")

    @property
    def explanation(self) -> str:
        return EXPLANATIONS.get(self.code, "")

    @property
    def field_name(self) -> str | None:
        if self.field is None:
            return None
        return labels.FIELD_NAMES.get(self.field, self.field)


REFUSED: tuple[type[Exception], ...] = (
    Refusal,
    ValidationError,
    RequestValidationError,
    StarletteHTTPException,
    *UNAVAILABLE_TYPES,
)


def refusal_of(exc: Exception) -> Shown | None:
    """The refusal an exception stands for; None for one that is a bug (re-raise it)."""
    if isinstance(exc, Refusal):
        return Shown(exc.status, exc.code, exc.message, exc.field)
    if isinstance(exc, ValidationError | RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        return Shown(
            422, "invalid_input", str(first.get("msg", "ogiltig uppgift")), ".".join(loc) or None
        )
    if isinstance(exc, StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return Shown(exc.status_code, code, str(exc.detail))
    if isinstance(exc, UNAVAILABLE_TYPES) and is_store_unavailable(exc):
        return Shown(503, "store_unavailable", "the database did not answer in time")
    return None
