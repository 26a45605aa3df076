"""Swedish words for what the pages show. Names other parts already give in Swedish (insats
types, exit reasons, target groups, alert kinds, payout line types) are taken from there."""

from __future__ import annotations

from typing import Final

from services.alerts.rules import KIND_LABELS, LEVEL_LABELS
from services.payments.files import LINE_LABELS
from services.statistics.labels import EXIT_REASON_NAMES, INSATS_NAMES, TARGET_GROUP_NAMES

__all__ = [
    "EXIT_REASON_NAMES",
    "INSATS_NAMES",
    "KIND_LABELS",
    "LEVEL_LABELS",
    "LINE_LABELS",
    "TARGET_GROUP_NAMES",
]

ROLE_NAMES: Final = {
    "admin": "administratör",
    "publisher": "systemkonto (beslut)",
    "counsellor": "karriärvägledare",
    "provider": "anordnare",
    "clerk": "utbetalningshandläggare",
    "auditor": "granskare",
}

STATUS_NAMES: Final = {
    "decided": "Beslutad, ej påbörjad",
    "active": "Pågår",
    "exited": "Avslutad",
    "withdrawn": "Återkallad",
}

EMPLOYMENT_FORMS: Final = {
    "permanent": "Tillsvidareanställning",
    "fixed_term": "Visstidsanställning",
    "full_time_hourly": "Heltid, timanställning",
}

SUBSIDIES: Final = {
    "none": "Ingen subvention",
    "extratjanst": "Extratjänst",
    "nystartsjobb": "Nystartsjobb",
    "instegsjobb": "Instegsjobb",
    "other": "Annan subvention",
}

OUTCOMES: Final = {"sustained": "Egen försörjning kvarstår", "deviation": "Avvikelse"}
REVIEW_DECISIONS: Final = {"approved": "Godkänd", "returned": "Återsänd"}

BONUS_STATUS: Final = {
    "none": "Ingen resultatbonus (avslut utan egen försörjning)",
    "not_qualified": "Avslutet ger inte resultatbonus",
    "awaiting_claim": "Väntar på anordnarens anspråk (uppföljning efter 6 månader)",
    "claimed": "Anspråk inkommet – väntar på granskning",
    "returned": "Anspråket återsänt – anordnaren kan lämna ett nytt",
    "approved": "Godkänd – betalas i månadens utbetalning",
}

EVENT_NAMES: Final = {
    "DecisionRegistered": "Beslut registrerat",
    "ProviderChosen": "Anordnare vald",
    "ProviderChanged": "Byte av anordnare",
    "PlanRegistered": "Genomförandeplan registrerad",
    "LanguageInternshipStarted": "Språkpraktik påbörjad",
    "LanguageInternshipEnded": "Språkpraktik avslutad",
    "VoucherGranted": "Tilläggscheck beviljad",
    "JourneyExited": "Insatsen avslutad",
    "FollowUpRecorded": "Uppföljning registrerad",
    "BonusClaimReviewed": "Resultatbonus granskad",
    "DecisionWithdrawn": "Beslut återkallat",
    "Corrected": "Rättelse",
    "ProviderAuthorised": "Anordnare auktoriserad",
    "ProviderDeauthorised": "Anordnare avauktoriserad",
    "ProviderDetailsChanged": "Anordnarens uppgifter ändrade",
    "RatesSet": "Ersättningsnivåer fastställda",
}

CORRECTION_FIELDS: Final = {
    "starts_on": "Startdatum",
    "exited_on": "Avslutsdatum",
    "exit": "Avslutsorsak och detaljer",
    "provider_starts_on": "Startdatum för byte av anordnare",
}

STREAM_TYPES: Final = {"journey": "Insats", "provider": "Anordnare", "rates": "Ersättningsnivåer"}

# Field names (API and events) as the forms and the refusals name them.
FIELD_NAMES: Final = {
    "person_id": "Personnummer",
    "external_ref": "Beslutsreferens",
    "external_ref.system": "Ärendesystem",
    "external_ref.decision_id": "Beslutsnummer",
    "decision_id": "Beslutsnummer",
    "system": "Ärendesystem",
    "insats": "Insats",
    "decided_on": "Beslutsdatum",
    "decided_by": "Beslutsfattare",
    "target_group": "Målgrupp",
    "provider_id": "Anordnare",
    "starts_on": "Startdatum",
    "established_on": "Planen upprättad",
    "planned_internship_start": "Planerad start för språkpraktik",
    "planned_internship_share_percent": "Språkpraktikens andel (%)",
    "employer": "Arbetsplats",
    "started_on": "Påbörjad",
    "ended_on": "Avslutad",
    "share_percent": "Andel av insatsen (%)",
    "amount": "Belopp",
    "purpose": "Ändamål",
    "granted_on": "Beviljad",
    "exited_on": "Avslutsdatum",
    "reason": "Orsak/motivering",
    "employment_form": "Anställningsform",
    "contract_months": "Avtalets längd (månader)",
    "subsidy": "Subvention",
    "csn_eligible": "CSN-berättigande studier",
    "followed_up_on": "Uppföljningsdatum",
    "outcome": "Utfall",
    "evidence": "Underlag",
    "reviewed_on": "Granskningsdatum",
    "decision": "Beslut",
    "withdrawn_on": "Återkallad",
    "field": "Uppgift att rätta",
    "value": "Nytt värde",
    "If-Match": "Version",
    "as_of": "Per datum",
    "known_at": "Känt vid",
    "month": "Månad",
    "rates": "Ersättningsnivåer",
    "journey_id": "Insats",
}

COMMAND_DONE: Final = {
    "provider": "Anordnaren registrerades.",
    "plan": "Genomförandeplanen registrerades.",
    "internship/start": "Språkpraktiken registrerades som påbörjad.",
    "internship/end": "Språkpraktiken registrerades som avslutad.",
    "vouchers": "Tilläggschecken registrerades.",
    "exit": "Avslutet registrerades.",
    "follow-up": "Uppföljningen registrerades.",
    "bonus-review": "Granskningen av resultatbonusen registrerades.",
    "withdrawal": "Beslutet återkallades.",
    "corrections": "Rättelsen registrerades.",
    "decision": "Beslutet registrerades.",
}

# What a payout refusal means for the clerk, by the API's error code.
PAYOUT_REFUSALS: Final = {
    "rate_missing": (
        "Ersättningsnivå saknas",
        "Det finns ingen ersättningsnivå för en insatstyp och månad som körningen behöver. "
        "Ingenting har betalats eller sparats. En administratör registrerar nivåerna "
        "(POST /v1/rates); förhandsgranska sedan igen.",
    ),
    "rate_out_of_bounds": (
        "Ersättningsnivå utanför gränserna",
        "En ersättningsnivå ger belopp utanför tillåtna gränser. Kontakta administratören.",
    ),
    "month_not_ended": (
        "Månaden är inte slut",
        "En månad kan stängas först dagen efter månadens sista dag. Förhandsgranskningen "
        "visar vad som skulle betalas om den stängdes nu.",
    ),
    "later_month_closed": (
        "En senare månad är redan stängd",
        "Månader stängs i ordning. Beloppen för den här månaden ingår i den senare körningen, "
        "med sina egna perioder.",
    ),
    "read_model_behind": (
        "Uppgifterna är inte ikapp",
        "Utbetalningsunderlaget har ännu inte läst in de senaste händelserna. Försök igen om "
        "en stund.",
    ),
    "concurrent_close": (
        "Samtidig stängning",
        "Andra stängningar registrerades samtidigt. Försök igen.",
    ),
    "run_not_found": ("Ingen stängd körning", "Månaden har ingen stängd utbetalningskörning."),
    "file_not_found": ("Filen finns inte", "Körningen har ingen fil med det namnet."),
    "invalid_month": ("Ogiltig månad", "Ange månaden som ÅÅÅÅ-MM, mellan 2009-01 och 2099-12."),
    "read_model_unavailable": (
        "Läsmodellen har stannat",
        "Utbetalningarnas läsmodell har stannat på en händelse den inte kan tillämpa. En "
        "tekniker åtgärdar det (insats readmodels status / rebuild). Ingenting har sparats.",
    ),
    "store_unavailable": (
        "Databasen svarar inte",
        "Ingenting har sparats. Försök igen om en stund.",
    ),
}
