"""Payments (SPEC §4): what providers earned, monthly payout runs, their files.

- `rules`: the entitlement rules as pure functions (facts folded from public events);
- `compute`: a run's lines from facts and earlier runs (pure);
- `projection.PaymentsProjection`: the read model fed by the platform feed;
- `runs.PayoutRuns`: closed runs recorded as `PayoutRunClosed` events (eventsourcing);
- `service.PaymentsService`: preview, close, get, files, verify;
- `files`: CSV, JSON, SIE 4I and the providers' ersättningsunderlag (HTML);
- `verify.verify_runs`: auditors' replay-and-reproduce of every closed run;
- `api.router` (FastAPI) and `cli.app` (typer).
"""
