"""`insats` — the command line (API.md "CLI")."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from insats.bootstrap import Container, build, config_from_env, keys_path
from services.lifecycle.store import StoreConfig
from services.platform.auth import KeyStore


class _Reporting(TyperGroup):
    """Reports what a user can fix — a setting, a refused value, a store that is away, a
    stopped read model — as a message and exit code, never as a traceback."""

    def invoke(self, ctx: Any) -> Any:
        from services.platform.feed import ReadModelStopped
        from services.platform.outage import UNAVAILABLE_TYPES
        from services.platform.refusal import Refusal
        from services.platform.settings import SettingError

        try:
            return super().invoke(ctx)
        except SettingError as exc:
            fail(f"insats: {exc}", 2)
        except ReadModelStopped as stopped:
            fail(
                f"{stopped.failure.describe()}\nFix the cause, then: insats readmodels rebuild "
                f"{stopped.name}"
            )
        except Refusal as refused:
            fail(f"insats: {refused.message}", 2 if refused.status == 422 else 1)
        except UNAVAILABLE_TYPES as exc:
            fail(f"insats: the store is unavailable ({type(exc).__name__}: {exc})")


app = typer.Typer(
    cls=_Reporting, help="Insatser under kundval: the lifecycle service and its outputs."
)
keys_app = typer.Typer(help="API keys.")
audit_app = typer.Typer(help="Read-only tools for auditors.")
events_app = typer.Typer(
    help="The public event contract as JSON Lines, for sharing and analysis (not a backup: "
    "use `insats backup`)."
)
backup_app = typer.Typer(
    help="Faithful backup of every record (all streams, closed payout runs, published alerts) "
    "and its restore into an empty store."
)
readmodels_app = typer.Typer(help="Read models fed from the event log.")
contracts_app = typer.Typer(help="The public contract files in contracts/.")
sandbox_app = typer.Typer(
    help="The policy sandbox: past months replayed under another rate table or rule "
    "(docs/sandbox.md). Read-only."
)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(events_app, name="events")
app.add_typer(backup_app, name="backup")
app.add_typer(readmodels_app, name="readmodels")
app.add_typer(contracts_app, name="contracts")
app.add_typer(sandbox_app, name="sandbox")

DbOption = Annotated[
    Path | None, typer.Option("--db", help="SQLite event store file (default var/insats.db)")
]
PgOption = Annotated[
    str | None,
    typer.Option("--postgres", help="PostgreSQL URL (or INSATS_POSTGRES_URL)", show_default=False),
]


@contextmanager
def opened(db: Path | None, postgres: str | None, *, default_rates: bool = True) -> Any:
    container = build(config_from_env(db, postgres), record_default_rates=default_rates)
    try:
        yield container
    finally:
        container.close()


def fail(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.callback()
def main_callback(ctx: typer.Context) -> None:
    """Most commands open the store named by --db/--postgres or the environment."""
    from services.platform.clock import today

    today()  # a malformed INSATS_TODAY stops every command before it starts


def option_date(value: str | None, option: str) -> date | None:
    """A date option (YYYY-MM-DD), or a usage error naming the option."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise typer.BadParameter(f"expected a date YYYY-MM-DD, not {value!r}", param_hint=option)


def option_timestamp(value: str | None, option: str) -> datetime | None:
    """A time stamp option with a time zone (2026-05-01T12:00:00Z), or a usage error."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or len(value) <= 10:
        raise typer.BadParameter(
            f"expected a time stamp with a time zone, e.g. 2026-05-01T12:00:00Z, not {value!r}",
            param_hint=option,
        )
    if moment.tzinfo is None:
        raise typer.BadParameter(
            f"{value!r} has no time zone: add Z (UTC) or an offset such as +01:00",
            param_hint=option,
        )
    return moment


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8000,
    db: DbOption = None,
    postgres: PgOption = None,
    projections: Annotated[
        bool,
        typer.Option(
            help="Run the read models in this process (embedded default). Scaled-out API "
            "instances use --no-projections and one `insats worker` feeds the read models."
        ),
    ] = True,
) -> None:
    """Serve the HTTP API (embedded default: SQLite under ./var/, read models in-process)."""
    import uvicorn

    from insats.logs import install, log_config
    from insats.web import create_app
    from services.platform.collector import startup_frozen
    from services.platform.limits import RequestLimits, uvicorn_options

    limits = RequestLimits.from_env()
    install()  # before anything logs; a bad INSATS_LOG_FORMAT stops the start here
    container = build(config_from_env(db, postgres))
    from services.platform.auth import KeysFileError

    try:
        container.keys.check()
    except KeysFileError as exc:
        container.close()
        fail(f"insats: cannot start: {exc}", 2)
    if projections:
        # Never fails the start: a read model that cannot apply an event stops alone.
        container.feed.catch_up(retry_stopped=True)
    where = (container.config.postgres_url and "PostgreSQL") or str(container.config.sqlite_file)
    typer.echo(f"insats: event store {where}; API keys in {keys_path(container.config)}")
    if not container.keys.path.exists():
        typer.echo(
            "insats: no API keys yet — create one with `insats keys add --role admin --name me`"
        )
    api = create_app(container, run_feed=projections, limits=limits)
    startup_frozen()
    try:
        uvicorn.run(
            api,
            host=host,
            port=port,
            log_level="info",
            log_config=log_config(),
            **uvicorn_options(limits),
        )
    finally:
        container.close()


@app.command()
def worker(
    db: DbOption = None,
    postgres: PgOption = None,
    source: Annotated[
        str, typer.Option(help="store: the event log; kafka: the topics, as a consumer group")
    ] = "store",
) -> None:
    """Feed every read model from the event log until stopped (production: one per database;
    the daily alert scan runs here too)."""
    import signal
    import threading

    from insats.logs import install

    if source not in ("store", "kafka"):
        fail(f"insats worker: unknown --source {source!r} (store or kafka)", 2)
    install()  # the read models' failures and the daily scans are logged (INSATS_LOG_FORMAT)
    container = build(config_from_env(db, postgres))
    if source == "kafka":
        from services.platform.kafka.commands import kafka_worker

        try:
            kafka_worker(container)
        finally:
            container.close()
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    container.feed.catch_up(retry_stopped=True)  # the first daily scan sees the whole log
    container.start()
    typer.echo("insats worker: feeding read models; stop with Ctrl-C or SIGTERM")
    try:
        stop.wait()
    finally:
        container.close()


@keys_app.command("add")
def keys_add(
    role: Annotated[
        str, typer.Option(help="admin, publisher, counsellor, provider, clerk, auditor")
    ],
    name: Annotated[str, typer.Option(help="A label for the key's holder")],
    provider_id: Annotated[
        str | None, typer.Option("--provider-id", help="Organisation number (role provider)")
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Make a provider key although the provider is not authorised"),
    ] = False,
    db: DbOption = None,
    postgres: PgOption = None,
) -> None:
    """Create an API key: prints the token once and stores only its SHA-256."""
    config = config_from_env(db, postgres)
    if provider_id is not None:
        from services.platform.identifiers import normalise_org_number
        from services.platform.refusal import Refusal

        try:
            provider_id = normalise_org_number(provider_id)
        except Refusal as exc:
            fail(exc.message, 2)
        if role == "provider":
            problem = _unauthorised_provider(config, provider_id)
            if problem and not force:
                fail(f"{problem}; register it first (POST /v1/providers) or use --force", 2)
            if problem:
                typer.secho(f"warning: {problem}; the key is made anyway (--force)", err=True)
    path = keys_path(config)
    try:
        token = KeyStore(path).add(role, name, provider_id)
    except ValueError as exc:
        fail(str(exc), 2)
    typer.secho(f"key added to {path}", err=True)
    typer.echo(token)


def _unauthorised_provider(config: StoreConfig, provider_id: str) -> str | None:
    """Why a provider key for `provider_id` would be of no use, or None."""
    from services.platform.refusal import Refusal

    container = build(config)
    try:
        try:
            provider = container.lifecycle.provider(provider_id)
        except Refusal:
            return f"provider {provider_id} is not registered in this store"
        day = container.clock.today()
        if provider.deauthorised_on is not None and provider.deauthorised_on <= day:
            return f"provider {provider_id} was de-authorised on {provider.deauthorised_on}"
        return None
    finally:
        container.close()


@keys_app.command("list")
def keys_list(db: DbOption = None, postgres: PgOption = None) -> None:
    """The API keys in the keys file, without secrets: id, role, name, provider."""
    from services.platform.auth import KeysFileError

    path = keys_path(config_from_env(db, postgres))
    try:
        keys = KeyStore(path).listed()
    except KeysFileError as exc:
        fail(str(exc), 2)
    typer.echo(f"{path}: {len(keys)} key(s)")
    for key in keys:
        typer.echo(f"{key.key_id}  {key.role:<10} {key.provider_id or '-':<10}  {key.name}")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id as `insats keys list` shows it")],
    db: DbOption = None,
    postgres: PgOption = None,
) -> None:
    """Revoke an API key: it stops working at once on every instance, web sessions included."""
    from services.platform.auth import KeysFileError

    path = keys_path(config_from_env(db, postgres))
    try:
        revoked = KeyStore(path).revoke(key_id)
    except KeyError as exc:
        fail(str(exc.args[0]), 2)
    except KeysFileError as exc:
        fail(str(exc), 2)
    typer.echo(f"revoked {revoked.key_id} ({revoked.role}, {revoked.name}) in {path}")


@audit_app.command("history")
def audit_history(
    journey_id: str,
    db: DbOption = None,
    postgres: PgOption = None,
) -> None:
    """Every recorded fact of one journey, oldest first, with who recorded it and when."""
    from services.platform.refusal import Refusal

    with opened(db, postgres) as c:
        try:
            events = c.lifecycle.journey_events(journey_id)
        except Refusal as exc:
            fail(exc.message)
        for e in events:
            payload = json.dumps(e.payload(), ensure_ascii=False, sort_keys=True)
            typer.echo(
                f"v{e.originator_version:<3} {e.timestamp.isoformat(timespec='seconds')} "
                f"{type(e).__name__:<26} effective {e.effective_date}  by {e.actor} "
                f"({e.source_system})\n      {payload}"
            )


@audit_app.command("as-of")
def audit_as_of(
    journey_id: str,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Date YYYY-MM-DD")] = None,
    known_at: Annotated[
        str | None, typer.Option("--known-at", help="Timestamp, e.g. 2026-05-01T12:00:00Z")
    ] = None,
    db: DbOption = None,
    postgres: PgOption = None,
) -> None:
    """A journey as it stood on a date, from what was known at a time."""
    from services.lifecycle.view import journey_view
    from services.platform.refusal import Refusal

    wanted_day = option_date(as_of, "--as-of")
    moment = option_timestamp(known_at, "--known-at")
    with opened(db, postgres) as c:
        try:
            journey = (
                c.lifecycle.journey_known_at(journey_id, moment)
                if moment is not None
                else c.lifecycle.journey(journey_id)
            )
        except Refusal as exc:
            fail(exc.message)
        day = wanted_day or c.clock.today()
        # The API's view, de-authorisations included (an auditor sees what the API shows).
        view = journey_view(
            journey.facts,
            as_of=day,
            providers=c.lifecycle.provider_facts(journey.facts.providers_ever),
        )
        if view is None:
            fail(f"the journey was not decided on {day.isoformat()}")
        typer.echo(json.dumps(view, ensure_ascii=False, indent=2))


@audit_app.command("verify")
def audit_verify(db: DbOption = None, postgres: PgOption = None) -> None:
    """Replay every event into fresh read models and compare them (and every closed payout
    run's files) with what is stored. Exits non-zero on any difference."""
    from insats.audit import verify_read_models
    from insats.bootstrap import fresh_projections, service_verifications

    with opened(db, postgres) as c:
        head = c.source.max_position()
        with log_position_bar("replaying the log into fresh read models", head) as advance:
            problems = verify_read_models(c, lambda: fresh_projections(c), progress=advance)
        for check in service_verifications(c):
            problems.extend(check())
        if problems:
            for p in problems:
                typer.secho(f"DIFFERENCE: {p}", fg=typer.colors.RED)
            raise typer.Exit(1)
        typer.secho(
            f"OK: {c.lifecycle.max_position()} log positions replayed; read models and files "
            "reproduced exactly",
            fg=typer.colors.GREEN,
        )


@audit_app.command("checkpoint")
def audit_checkpoint(db: DbOption = None, postgres: PgOption = None) -> None:
    """Sign a checkpoint of the event log now (C2SP signed note) and print it."""
    with opened(db, postgres) as c:
        stored = c.transparency.checkpoints.write("on_demand")
        typer.echo(f"checkpoint {stored.id}: {stored.tree_size} events", err=True)
        typer.echo(stored.note, nl=False)


@audit_app.command("keys")
def audit_keys(db: DbOption = None, postgres: PgOption = None) -> None:
    """The log's verifier keys (the active one first): give them to auditors and witnesses."""
    with opened(db, postgres) as c:
        for key in c.transparency.keys.verifiers:
            typer.echo(str(key))


@audit_app.command("keygen")
def audit_keygen(
    name: Annotated[str, typer.Argument(help="Key name, e.g. the log's origin")],
    witness: Annotated[bool, typer.Option(help="A witness key (cosignature/v1)")] = False,
) -> None:
    """A new Ed25519 signing key (for INSATS_CHECKPOINT_KEY, or a witness): the secret key on
    standard output, its verifier key on standard error."""
    from services.transparency.checkpoints import Signer

    try:
        signer = Signer.generate(name, witness=witness)
    except ValueError as exc:
        fail(str(exc), 2)
    typer.echo(str(signer))
    typer.echo(f"verifier key: {signer.verifier}", err=True)


@audit_app.command("prove")
def audit_prove(
    journey_id: str,
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle file to write")],
    db: DbOption = None,
    postgres: PgOption = None,
) -> None:
    """Write a self-contained bundle: the journey's events, their inclusion proofs and the
    signed checkpoint (check it with `insats audit check` or contracts/audit_verify.py)."""
    from services.platform.refusal import Refusal

    if out.exists():
        fail(f"{out} exists already", 2)
    with opened(db, postgres) as c:
        try:
            c.lifecycle.journey(journey_id)  # refuses an unknown or malformed id
            events = c.lifecycle.public_stream(journey_id)
            bundle = c.transparency.bundle(journey_id, events)
        except (Refusal, LookupError) as exc:
            fail(str(getattr(exc, "message", exc)))
    out.write_text(json.dumps(bundle, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    typer.echo(f"wrote {out}: {len(bundle['events'])} events, key {bundle['public_key']}")


@audit_app.command("witness")
def audit_witness(
    url: Annotated[
        str, typer.Option("--url", help="The insats instance, e.g. https://insats.kommun.se")
    ],
    log_key: Annotated[
        str, typer.Option("--log-key", help="The log's verifier key (insats audit keys)")
    ],
    key_file: Annotated[
        Path,
        typer.Option(
            "--key-file", help="This witness's signing key (insats audit keygen NAME --witness)"
        ),
    ],
    state: Annotated[Path, typer.Option("--state", help="This witness's directory")] = Path(
        "witness"
    ),
    submit: Annotated[
        bool,
        typer.Option(
            "--submit",
            help="Give the cosignature back to the log (it must list this witness's key in "
            "INSATS_WITNESS_KEYS): audit bundles then carry it",
        ),
    ] = False,
) -> None:
    """Witness the event log: verify the latest checkpoint, its consistency with the last one
    cosigned and every live leaf against it, then cosign it. The API key (role auditor) is read
    from INSATS_WITNESS_TOKEN. Exits 1 on a finding (nothing cosigned), 2 when the log cannot
    be read or refuses the cosignature."""
    import os

    import httpx

    from contracts.audit_verify import VerificationError, VerifierKey
    from insats.witness import HttpAuditLog, Witness, WitnessError
    from services.transparency.checkpoints import Signer

    token = os.environ.get("INSATS_WITNESS_TOKEN", "")
    if not token:
        fail("set INSATS_WITNESS_TOKEN to an API key of the instance (role auditor)", 2)
    try:
        key = VerifierKey(log_key)
        signer = Signer.parse(key_file.read_text(encoding="utf-8"))
    except (VerificationError, ValueError, OSError) as exc:
        fail(str(exc), 2)
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=url, headers=headers, timeout=60) as client,
        _progress_bars() as bars,
    ):
        task = bars.add_task("reading the log's leaves", total=None, count="")
        read = [0]

        def advance(n: int) -> None:
            read[0] += n
            bars.update(task, advance=n, count=f"{read[0]} leaves")

        log = HttpAuditLog(client)
        witness = Witness(log, key, signer, state, progress=advance)
        submitted: dict[str, Any] | None = None
        try:
            result = witness.run()
            if submit and not result.problems and result.cosigned:
                submitted = log.submit(result.cosigned)
        except (WitnessError, httpx.HTTPError) as exc:
            fail(str(exc), 2)
        finally:
            witness.close()
    for p in result.problems:
        typer.secho(f"FINDING: {p}", fg=typer.colors.RED)
    if result.problems:
        typer.secho("not cosigned", fg=typer.colors.RED)
        raise typer.Exit(1)
    typer.secho(
        f"OK: cosigned the checkpoint of {result.checkpoint.size} events ({result.path})",
        fg=typer.colors.GREEN,
    )
    if submitted is not None:
        typer.echo(f"the log keeps the cosignature with checkpoint {submitted['checkpoint_id']}")


@audit_app.command("check")
def audit_check(
    bundle: Annotated[Path, typer.Argument(help="A bundle `insats audit prove` wrote")],
    public_key: Annotated[str, typer.Option("--public-key", help="The log's verifier key")],
    witness_key: Annotated[
        list[str] | None,
        typer.Option(
            "--witness-key", help="Require this witness's cosignature on the checkpoint (repeat)"
        ),
    ] = None,
) -> None:
    """Verify a bundle with nothing but the bundle and the log's public key (and, with
    --witness-key, that each witness cosigned its checkpoint)."""
    from contracts.audit_verify import VerificationError, VerifierKey, check_bundle

    try:
        key = VerifierKey(public_key)
        witnesses = [VerifierKey(k) for k in witness_key or []]
        data = json.loads(bundle.read_text(encoding="utf-8"))
    except (VerificationError, OSError, ValueError) as exc:
        fail(str(exc), 2)
    problems = check_bundle(data, key, witnesses)
    for p in problems:
        typer.secho(f"FAIL: {p}", fg=typer.colors.RED)
    if problems:
        raise typer.Exit(1)
    typer.secho(
        f"OK: {len(data['events'])} events of journey {data['journey_id']} are in the signed log",
        fg=typer.colors.GREEN,
    )


@backup_app.command("create")
def backup_create(
    file: Annotated[Path, typer.Argument(help="Backup file to write (- for standard output)")],
    include_person_key: Annotated[
        bool,
        typer.Option(
            help="Also write the person key (the file then re-derives person_ref: keep it as "
            "secret as the key)"
        ),
    ] = False,
    db: DbOption = None,
    postgres: PgOption = None,
) -> None:
    """Write a backup: every stored event of both event stores as stored (encrypted ones stay
    encrypted), the published alerts and the API keys' hashes. Holds personal data."""
    from insats import backup

    if str(file) != "-" and file.exists():
        fail(f"{file} exists already; a backup is never written over", 2)
    with opened(db, postgres, default_rates=False) as c:
        if str(file) == "-":
            counts = backup.create(c, sys.stdout.buffer, include_person_key=include_person_key)
        else:
            partial = file.with_name(file.name + ".partial")
            file.parent.mkdir(parents=True, exist_ok=True)
            partial.touch(mode=0o600)  # personal data: readable by the owner only
            try:
                with partial.open("wb") as out, _progress("backup") as step:
                    counts = backup.create(
                        c, out, include_person_key=include_person_key, progress=step
                    )
                partial.rename(file)  # a file under the name is always complete
            finally:
                partial.unlink(missing_ok=True)
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    typer.echo(f"backup written: {summary}", err=True)


@backup_app.command("restore")
def backup_restore(
    file: Annotated[Path, typer.Argument(help="A file made by `insats backup create`")],
    db: DbOption = None,
    postgres: PgOption = None,
) -> None:
    """Restore a backup into an empty store (all or nothing), then rebuild the read models.
    The person key and cipher key must be the ones the backup was made with."""
    from insats import backup

    if not file.exists():
        fail(f"{file}: no such file", 2)
    try:
        checked = backup.Backup.open(file)
        with _progress("restore") as step:
            restored = backup.restore(config_from_env(db, postgres), checked, progress=step)
    except backup.BackupError as exc:
        fail(f"nothing restored: {exc}")
    for note in restored.notes:
        typer.echo(note)
    summary = ", ".join(f"{n} {k}" for k, n in restored.counts.items())
    typer.echo(f"restored: {summary}; read models rebuilt. Check with `insats audit verify`.")


@contextmanager
def _progress(what: str) -> Any:
    """A progress line on standard error for a long command that counts records as it goes
    (no total known ahead)."""
    with _progress_bars() as bars:
        task = bars.add_task(what, total=None, count="")
        done = 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            bars.update(task, advance=n, count=f"{done} records")

        yield step


@events_app.command("export")
def events_export(
    file: Annotated[Path, typer.Argument(help="Output file (- for standard output)")],
    include_person_ids: Annotated[
        bool,
        typer.Option(
            help="Add person_id to decisions (needed to import elsewhere; personal data!)"
        ),
    ] = False,
    db: DbOption = None,
    postgres: PgOption = None,
) -> None:
    """Write every public event, in log order, as JSON Lines: the sharing format (analysis,
    another system). Not a backup: recorded-at times, sources and person references are not
    kept by `events import`; use `insats backup create`."""
    from services.lifecycle.transfer import export_events

    with opened(db, postgres, default_rates=False) as c:
        if str(file) == "-":
            n = export_events(c.lifecycle, sys.stdout, include_person_ids=include_person_ids)
        else:
            head = c.lifecycle.public_head()
            with (
                file.open("w", encoding="utf-8") as out,
                log_position_bar("export: writing events", head) as step,
            ):
                n = export_events(
                    c.lifecycle, out, include_person_ids=include_person_ids, progress=step
                )
    typer.echo(f"exported {n} events", err=True)


@events_app.command("import")
def events_import(
    file: Annotated[Path, typer.Argument(help="JSON Lines file made by `insats events export`")],
    db: DbOption = None,
    postgres: PgOption = None,
) -> None:
    """Load a sharing export into an empty store (all or nothing), as new recordings (source
    `import`, recorded now). To restore a backup use `insats backup restore`."""
    from services.lifecycle.transfer import ImportError_, import_events

    if not file.exists():
        fail(f"{file}: no such file", 2)
    with opened(db, postgres, default_rates=False) as c, _progress_bars() as bars:
        total = 0 if bars.disable else _count_lines(file)
        reading = bars.add_task("import: checking lines", total=max(total, 1), count="")
        done = 0
        saving: list[Any] = []

        def step(stage: str, n: int) -> None:
            nonlocal done
            if stage == "read":
                done += n
                bars.update(reading, completed=done, count=f"{done}/{total} lines")
            else:  # "save": every line is read and checked; one transaction saves them
                bars.update(reading, completed=max(total, 1), count=f"{total}/{total} lines")
                saving.append(bars.add_task(f"import: saving {n} events", total=None, count=""))

        try:
            with file.open(encoding="utf-8") as lines:
                n = import_events(c.lifecycle, lines, progress=step)
        except ImportError_ as exc:
            bars.stop()
            fail(f"nothing imported: {exc}")
        for task in saving:
            bars.update(task, total=1, completed=1)
        bars.add_task("import: updating the read models", total=None, count="")
        c.lifecycle.ensure_default_rates()
        c.feed.catch_up()
    typer.echo(f"imported {n} events")


@contextmanager
def _progress_bars() -> Any:
    """Progress bars on standard error for the long commands, a line a stage (rich; nothing
    when standard error is not a terminal: `.disable`). Each task
    gives its `count` field, words saying how far it is. Yields the rich `Progress`."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[count]}"),
        TimeElapsedColumn(),
        transient=True,
        console=console,
        disable=not console.is_terminal,
    ) as bars:
        yield bars


def _count_lines(file: Path) -> int:
    """The lines of a file (a last one without a newline counts), read in large blocks."""
    count, last = 0, b"\n"
    with file.open("rb") as f:
        while block := f.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


@readmodels_app.command("rebuild")
def readmodels_rebuild(
    name: Annotated[str | None, typer.Argument(help="One read model; all when left out")] = None,
    db: DbOption = None,
    postgres: PgOption = None,
) -> None:
    """Forget a read model (or all) and rebuild it from the whole event log (one pass over
    the log feeds every read model being rebuilt)."""
    import time

    with opened(db, postgres) as c:
        names = [name] if name else sorted(c.feed.projections)
        for n in names:
            if n not in c.feed.projections:
                fail(f"unknown read model {n!r}; known: {', '.join(sorted(c.feed.projections))}", 2)
        head = c.source.max_position()
        started = time.perf_counter()
        with log_position_bar(f"rebuilding {', '.join(names)}", head) as advance:
            applied = c.feed.rebuild(names, progress=advance)
        took = time.perf_counter() - started
        positions = c.feed.positions()
        for n in names:
            typer.echo(f"{n}: rebuilt to log position {positions[n]}")
        typer.echo(f"{applied} events applied in {took:.1f} s (log head {head})")


@contextmanager
def log_position_bar(what: str, head: int) -> Any:
    """A bar on standard error from log position 0 to `head` for a command that reads the
    whole log."""
    with _progress_bars() as bars:
        task = bars.add_task(what, total=max(head, 1), count="")

        def step(position: int) -> None:
            at = min(position, head)
            bars.update(task, completed=at, count=f"{at}/{head} positions")

        yield step


@readmodels_app.command("status")
def readmodels_status(db: DbOption = None, postgres: PgOption = None) -> None:
    """Each read model's position in the event log, and where a stopped one stopped."""
    with opened(db, postgres) as c:
        head = c.source.max_position()  # the last public event: where a caught-up one stands
        stopped = c.failures()
        positions = sorted(c.positions().items())
        width = max((len(n) for n, _ in positions), default=0)
        for n, pos in positions:
            failure = stopped.get(n)
            state = "running" if failure is None else "STOPPED"
            typer.echo(f"{n:<{width}} {pos:>10} / {head}  {state}")
            if failure is not None:
                typer.echo(
                    f"    at event {failure.position} ({failure.event_type}, "
                    f"{failure.event_id}) since {failure.failed_at}:\n    {failure.error}\n"
                    f"    fix the cause, then: {_restart_hint(c, n)}"
                )
        from services.platform.kafka.commands import status_lines  # kafka (issue 10)

        for line in status_lines(c):
            typer.echo(line)
        if stopped:
            raise typer.Exit(1)


def _restart_hint(c: Container, name: str) -> str:
    if name in c.feed.projections:
        return f"insats readmodels rebuild {name}"
    # The Merkle log is evidence, never rebuilt: a restarted process retries the event once.
    return "restart insats, then run insats audit verify (docs/audit.md)"


# --- the services' commands -------------------------------------------------------------------

from services.alerts import cli as alerts_cli  # noqa: E402


@app.command("alerts")
def alerts(
    ctx: typer.Context,
    as_of: str | None = alerts_cli.AS_OF_OPTION,
    kind: str | None = alerts_cli.KIND_OPTION,
    level: str | None = alerts_cli.LEVEL_OPTION,
    provider: str | None = alerts_cli.PROVIDER_OPTION,
    counsellor: str | None = alerts_cli.COUNSELLOR_OPTION,
    limit: int | None = alerts_cli.LIMIT_OPTION,
    csv_file: str | None = alerts_cli.CSV_OPTION,
    db: DbOption = None,
    postgres: PgOption = None,
) -> None:
    """Traffic lights and deadlines on a date, as a table or CSV (SPEC §5)."""
    open_container(ctx, db, postgres)
    alerts_cli.show_alerts(ctx, as_of, kind, level, provider, counsellor, limit, csv_file)


from services.payments import cli as payments_cli  # noqa: E402
from services.statistics import cli as statistics_cli  # noqa: E402


@app.command("stats")
def stats(
    ctx: typer.Context,
    from_: Annotated[str, typer.Option("--from", help="First day of the period, YYYY-MM-DD")],
    to: Annotated[str, typer.Option("--to", help="Last day of the period (included)")],
    group_by: Annotated[
        str, typer.Option("--group-by", help="insats (default), provider or target_group")
    ] = "insats",
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML report here")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Write the figures as CSV here")] = None,
    db: DbOption = None,
    postgres: PgOption = None,
) -> None:
    """The statistics of a period (SPEC §6): table, HTML report with charts, CSV."""
    open_container(ctx, db, postgres)
    statistics_cli.stats_command(ctx, from_, to, group_by, html, csv)


def _open_for_payouts(ctx: typer.Context, db: DbOption = None, postgres: PgOption = None) -> None:
    """Monthly payout runs: preview, close and export the files (SPEC §4)."""
    open_container(ctx, db, postgres)


app.add_typer(payments_cli.app, name="payouts", callback=_open_for_payouts)

from services.platform.kafka.commands import relay as kafka_relay  # noqa: E402 (issue 10)

app.command("relay")(kafka_relay)


@contracts_app.command("write")
def contracts_write() -> None:
    """Regenerate contracts/openapi.json and the event JSON Schemas from the code."""
    from contracts.kafka import write_all as write_kafka_schemas  # kafka (issue 10)
    from contracts.scenario import write_schema as write_scenario_schema
    from contracts.schemas import write_all
    from insats.openapi import write_openapi

    for p in [*write_all(), *write_kafka_schemas(), write_scenario_schema()]:
        typer.echo(str(p))
    typer.echo(str(write_openapi()))


def _scenario(path: Path) -> Any:
    from contracts.scenario import ScenarioInvalid, load_scenario

    try:
        return load_scenario(path)
    except OSError as error:
        fail(f"{path}: {error.strerror or error}", 2)
    except ScenarioInvalid as error:
        fail(f"{path}: {error}", 2)


@sandbox_app.command("check")
def sandbox_check(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (.json or .toml)")],
) -> None:
    """Check a scenario file against contracts/scenario/v1/scenario.json and SPEC's bounds."""
    loaded = _scenario(scenario)
    typer.echo(f"{scenario}: {loaded.name!r}, {len(loaded.changes)} changes, valid")


@sandbox_app.command("run")
def sandbox_run(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (.json or .toml)")],
    from_: Annotated[str, typer.Option("--from", help="First payout month, YYYY-MM or a date")],
    to: Annotated[str, typer.Option("--to", help="Last payout month, YYYY-MM or a date")],
    known_at: Annotated[
        str | None,
        typer.Option(
            "--known-at",
            help="Only what was recorded by then (ISO time, e.g. 2026-01-31T23:59:59+01:00; "
            "default: each closed run as it closed, the rest as known now)",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write sandbox.json, .csv, -insatser.csv, .html here"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON")] = False,
    db: DbOption = None,
    postgres: PgOption = None,
) -> None:
    """Replay the months under the baseline and the scenario and compare them: totals and
    differences per month, provider, insats and line type, the journeys whose outcome
    changes, and the self-sufficiency figures under both rules. Writes nothing to the store."""
    from insats.sandbox import SandboxRequest, month_of_text, months_between, run_sandbox
    from insats.sandbox.report import write_all
    from services.platform.clock import today as today_
    from services.platform.municipality import municipality_name
    from services.platform.refusal import Refusal

    loaded = _scenario(scenario)
    moment = None
    if known_at is not None:
        try:
            moment = datetime.fromisoformat(known_at.replace("Z", "+00:00"))
        except ValueError:
            fail(
                f"--known-at must be an ISO time such as 2026-01-31T23:59:59+01:00, "
                f"got {known_at[:40]!r}",
                2,
            )
        if moment is not None and moment.tzinfo is None:
            fail("--known-at needs a time zone, e.g. 2026-01-31T23:59:59+01:00", 2)
    try:
        request = SandboxRequest(
            loaded, month_of_text(from_, "--from"), month_of_text(to, "--to"), moment
        )
    except Refusal as refused:
        fail(refused.message, 2)
    with opened(db, postgres, default_rates=False) as c, _progress_bars() as bars:
        total = len(months_between(request.month_from, request.month_to))
        task = bars.add_task("sandbox: replaying", total=total or None, count="")

        def advance(month: str) -> None:
            bars.update(task, advance=1, count=month)

        try:
            comparison = run_sandbox(
                c.source, c.payments.runs, request, today=today_(), progress=advance
            )
        except Refusal as refused:
            fail(f"{refused.field or 'sandbox'}: {refused.message}", 2)
    if out is not None:
        for path in write_all(comparison, out, municipality_name()):
            typer.echo(f"wrote {path}", err=as_json)
    if as_json:
        typer.echo(json.dumps(comparison, ensure_ascii=False, indent=2))
        return
    _print_comparison(comparison)


def _print_comparison(comparison: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from insats.sandbox.report import BASIS_NAMES

    console = Console()
    t = comparison["totals"]
    table = Table(
        title=f"{comparison['scenario']['name']}: {comparison['from']}–{comparison['to']}"
    )
    for column in ("Månad", "Underlag", "Utbetalt", "Baslinje", "Scenario", "Skillnad"):
        table.add_column(column, justify="left" if column in ("Månad", "Underlag") else "right")
    for m in comparison["months"]:
        table.add_row(
            m["month"],
            BASIS_NAMES[m["basis"]],
            m["paid"] or "",
            m["baseline"] or "",
            m["scenario"] or "",
            m["difference"] or "",
        )
    table.add_row("Totalt", "", t["paid"] or "", t["baseline"], t["scenario"], t["difference"])
    console.print(table)
    matches = t["baseline_matches_paid"]
    if matches is not None:
        console.print(
            "baseline reproduces the closed runs line for line"
            if matches
            else "[red]the baseline does NOT reproduce the closed runs: run insats audit verify[/]"
        )
    j = comparison["journeys"]
    console.print(
        f"{j['changed']} journeys paid differently, {j['outcome_changed']} change outcome"
    )


def main() -> None:
    app()


def open_container(ctx: typer.Context, db: Path | None, postgres: str | None) -> Container:
    """For services' commands: open the store and close it when the command ends."""
    container = build(config_from_env(db, postgres))
    ctx.call_on_close(container.close)
    container.feed.catch_up()
    ctx.obj = container
    return container
