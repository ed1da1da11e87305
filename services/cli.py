"""The `frontline` command: one entrypoint per process kind, each wiring itself here.

A failure a user can fix (a database or Redis that does not answer, a database not migrated, a
bad setting) ends a command with a line or two from services.failures and exit code 1 (2 for a
bad setting); its traceback is shown with `--debug` or LOG_LEVEL=DEBUG.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from services import collector
from services.config import ConfigurationError, Settings

app = typer.Typer(
    help="Frontline: who controls which place, from news reports.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals hold settings: keys and passwords
)
_debug = False


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of a failure.")] = False,
) -> None:
    global _debug
    _debug = debug


def main() -> None:
    """The installed `frontline` command."""
    from services.failures import explain

    try:
        app()
    except Exception as exc:
        message = explain(exc)
        if message is None or _debug:
            raise
        typer.echo(message, err=True)
        sys.exit(1)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and `.env`), or exit naming the variable that is wrong."""
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigurationError as exc:  # what Settings raises: its message names each variable
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    from services import logs

    global _debug
    _debug = _debug or settings.log_level == "DEBUG"
    logs.configure(settings.log_level, settings.log_format, dev=settings.dev_mode)
    return settings


def announce_database(settings: Settings) -> None:
    """Say which database a command is about to act on (stderr; the password hidden), so that a
    replay of ./var/frontline.db meant for PostgreSQL cannot pass unnoticed."""
    from services.store.locations import display

    given = "DATABASE_URL" in {name.upper() for name in settings.model_fields_set}
    origin = "DATABASE_URL" if given else "the default: DATABASE_URL is not set"
    typer.echo(f"database: {display(settings.database_url)} ({origin})", err=True)


def check_ready(settings: Settings) -> None:
    """Fail now, in words, when the database (or Redis) a command needs is down or not migrated."""
    from services.store.migrations import check_migrated

    warn(check_migrated(settings.database_url))
    if settings.redis_url:
        from services.doorbell import check_reachable

        check_reachable(settings.redis_url)


def warn(warnings: list[str]) -> None:
    """Log what in the server's settings will slow the services down (they start anyway): through
    the log, whose lines a server's stderr is made of (JSON lines in a container)."""
    import structlog

    for warning in warnings:
        structlog.get_logger(__name__).warning("database.settings_warning", detail=warning)


Host = Annotated[str | None, typer.Option(help="Interface to listen on (HOST).")]
Port = Annotated[int | None, typer.Option(help="Port to listen on (PORT).")]
Workers = Annotated[int, typer.Option(help="Server processes (each reads the same environment).")]


@app.command()
def migrate() -> None:
    """Migrate the database to the newest schema and build the gazetteer cache."""
    settings = load_settings()
    announce_database(settings)
    from services.gazetteer import load
    from services.store.migrations import check_migrated, upgrade

    before, after = upgrade(settings.database_url)
    warn(check_migrated(settings.database_url))
    load(settings.gazetteer_countries, settings.cache_dir)
    done = "already at head" if before == after else f"migrated from {before or 'empty'} to head"
    typer.echo(f"database {done} ({after}); gazetteer cached")


@app.command()
def serve(
    host: Host = None,
    port: Port = None,
    dev: Annotated[
        bool, typer.Option(help="Dev mode: open writes on loopback when no keys are set.")
    ] = False,
) -> None:
    """Serve the read API, the write API and the projector in one process."""
    settings = load_settings(host=host, port=port, dev_mode=dev or None)
    check_ready(settings)
    from services.combined import create_app

    collector.collect_rarely()  # the embedded projector folds in this process too
    _run(create_app(settings), settings)


@app.command("ingest-api")
def ingest_api(host: Host = None, port: Port = None, workers: Workers = 1) -> None:
    """Serve the write API only (reports, corrections, places, actors)."""
    settings = load_settings(host=host, port=port)
    check_ready(settings)
    _run("services.ingest.app:create_app", settings, workers)


@app.command("read-api")
def read_api(host: Host = None, port: Port = None, workers: Workers = 1) -> None:
    """Serve the read API only (state, contested, actors, time travel, changes, GeoJSON)."""
    settings = load_settings(host=host, port=port)
    check_ready(settings)
    collector.collect_rarely()
    _run("services.api.app:create_app", settings, workers)


@app.command()
def worker(
    burst: Annotated[bool, typer.Option(help="Run the queued jobs, then exit.")] = False,
) -> None:
    """Run a projector worker (RQ, JSON serializer) on the configured queue, with its reconciler."""
    settings = load_settings()
    if not settings.redis_url:
        typer.echo("configuration error: REDIS_URL: a worker needs Redis", err=True)
        raise typer.Exit(2)
    from rq import Queue
    from rq.serializers import JSONSerializer

    from services.doorbell import redis_connection, translated
    from services.projector import process
    from services.projector.worker import ProjectorWorker

    check_ready(settings)
    process.configure(settings)
    connection = redis_connection(settings.redis_url)
    queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
    projector = ProjectorWorker([queue], connection=connection, serializer=JSONSerializer)
    with translated(settings.redis_url):
        projector.work(burst=burst, logging_level=settings.log_level)


@app.command()
def replay() -> None:
    """Rebuild every read model from the log beside the live ones, then swap them in."""
    settings = load_settings()
    announce_database(settings)
    check_ready(settings.model_copy(update={"redis_url": None}))
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.projector.replay import batch_size_for, run_replay
    from services.store import replay_runners, replays
    from services.store.database import Database

    db = Database(settings.database_url)
    for abandoned in replay_runners.fail_abandoned(db, settings.replay_start_timeout):
        typer.echo(f"replay {abandoned} had lost its runner: marked failed", err=True)
    with db.transaction() as conn:
        record, created = replays.start(conn)
    if not created:
        typer.echo(f"replay {record.replay_id} is already {record.status}", err=True)
        raise typer.Exit(1)
    columns = (
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeElapsedColumn(),
    )
    from services.logs import quieted

    # The bar tells the progress; a warning still prints above it, not through it. The process
    # does nothing else: the cyclic collector may wait for the end.
    bar = Progress(*columns, console=Console(stderr=True))
    with quieted("services.projector"), collector.paused(), bar as progress:
        task = progress.add_task("replay", total=None)
        run_replay(
            db,
            record.replay_id,
            batch_size_for(settings.projection_batch_size),
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    typer.echo(f"replay {record.replay_id} done: the rebuilt read models are live")


@app.command()
def verify() -> None:
    """Rebuild into scratch tables and compare them row for row with the live read models."""
    settings = load_settings()
    announce_database(settings)
    check_ready(settings.model_copy(update={"redis_url": None}))
    from services.projector.rebuild import verify as compare_with_rebuild
    from services.store.database import Database

    differences = compare_with_rebuild(Database(settings.database_url))
    for d in differences:
        typer.echo(f"{d.table}: {d.only_in_live} rows only live, {d.only_in_rebuilt} only rebuilt")
        for example in d.examples:
            typer.echo(f"  {example}")
    if differences:
        raise typer.Exit(1)
    typer.echo("live read models equal a rebuild from the log")


class ImportFormat(StrEnum):
    ndjson = "ndjson"
    acled = "acled"


class UnknownActors(StrEnum):
    register = "register"
    reject = "reject"


@app.command("import")
def import_reports(
    file: Annotated[str, typer.Argument(help="The file to import; - for stdin.")],
    format_: Annotated[
        ImportFormat,
        typer.Option("--format", help="ndjson: Frontline reports, one per line; acled: an ACLED CSV export."),
    ] = ImportFormat.ndjson,
    unknown_actors: Annotated[
        UnknownActors, typer.Option(help="acled: register an actor the actor map lacks, or reject its rows.")
    ] = UnknownActors.register,
    actor_map: Annotated[
        Path | None, typer.Option(help="acled: your own actor map (TOML) instead of the shipped one.")
    ] = None,
) -> None:
    """Import reports through the same validation and idempotency as POST /v1/reports.

    Exit status: 0 all went in, 1 some lines rejected (the rest went in), 2 unreadable input,
    3 the database stopped answering."""
    settings = load_settings()
    announce_database(settings)
    check_ready(settings.model_copy(update={"redis_url": None}))
    from services.import_file import run

    reject = unknown_actors is UnknownActors.reject
    raise typer.Exit(run(settings, file, format_.value, reject, actor_map))


@app.command()
def demo(
    url: Annotated[
        str, typer.Option(help="Base URL of a running Frontline (default: http://127.0.0.1:$PORT).")
    ] = "",
    key: Annotated[
        str | None, typer.Option(help="Ingest key (default: the first of INGEST_API_KEYS).")
    ] = None,
) -> None:
    """POST the claims of the seed article to a running Frontline (`make run`), and summarise."""
    from services import demo as seed

    settings = load_settings()
    base = (url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    token = key or (settings.ingest_api_keys[0] if settings.ingest_api_keys else None)
    for line in seed.run(base, token):
        typer.echo(line)


def _run(asgi_app: Any, settings: Settings, workers: int = 1, one_write: bool = True) -> None:
    """Serve an app, or an app factory's import path (needed for several worker processes, each of
    which builds its app from the environment). `one_write=False` runs uvicorn's own HTTP protocol
    (the benchmark's ceiling measures both)."""
    import uvicorn

    from services.web.protocol import OneWriteProtocol

    uvicorn.run(
        asgi_app,
        http=OneWriteProtocol if one_write else "httptools",  # one write per answer: services.web.protocol
        factory=isinstance(asgi_app, str),
        workers=workers if isinstance(asgi_app, str) else None,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
