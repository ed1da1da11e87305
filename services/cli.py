"""The `frontline` command: one entrypoint per process kind, each wiring itself here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from services.config import Settings

app = typer.Typer(help="Frontline: who controls which place, from news reports.", no_args_is_help=True)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and `.env`), or exit naming the variable that is wrong."""
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors():
            variable = "_".join(str(p) for p in error["loc"][:1]).upper()
            typer.echo(f"configuration error: {variable}: {error['msg']}", err=True)
        raise typer.Exit(2) from None
    from services import logs

    logs.configure(settings.log_level, settings.log_format)
    return settings


Host = Annotated[str | None, typer.Option(help="Interface to listen on (HOST).")]
Port = Annotated[int | None, typer.Option(help="Port to listen on (PORT).")]
Workers = Annotated[int, typer.Option(help="Server processes (each reads the same environment).")]


@app.command()
def migrate() -> None:
    """Migrate the database to the newest schema and build the gazetteer cache."""
    settings = load_settings()
    from services.gazetteer import load
    from services.store.migrations import upgrade

    upgrade(settings.database_url)
    load(settings.gazetteer_countries, settings.cache_dir)
    typer.echo("database at head; gazetteer cached")


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
    from services.combined import create_app

    _run(create_app(settings), settings)


@app.command("ingest-api")
def ingest_api(host: Host = None, port: Port = None, workers: Workers = 1) -> None:
    """Serve the write API only (reports, corrections, places, actors)."""
    settings = load_settings(host=host, port=port)
    _run("services.ingest.app:create_app", settings, workers)


@app.command("read-api")
def read_api(host: Host = None, port: Port = None, workers: Workers = 1) -> None:
    """Serve the read API only (state, contested, actors, time travel, changes, GeoJSON)."""
    settings = load_settings(host=host, port=port)
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

    from services.doorbell import redis_connection
    from services.projector import process
    from services.projector.worker import ProjectorWorker

    process.configure(settings)
    connection = redis_connection(settings.redis_url)
    queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
    projector = ProjectorWorker([queue], connection=connection, serializer=JSONSerializer)
    projector.work(burst=burst, logging_level=settings.log_level)


@app.command()
def replay() -> None:
    """Rebuild every read model from the log beside the live ones, then swap them in."""
    settings = load_settings()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.projector.replay import batch_size_for, run_replay
    from services.store import replay_runners, replays
    from services.store.database import Database

    db = Database(settings.database_url)
    for abandoned in replay_runners.fail_abandoned(db):
        typer.echo(f"replay {abandoned} had lost its runner: marked failed", err=True)
    with db.transaction() as conn:
        if (running := replays.active(conn)) is not None:
            typer.echo(f"replay {running.replay_id} is already {running.status}", err=True)
            raise typer.Exit(1)
        record = replays.create(conn)
    columns = (
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as progress:
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


@app.command("import")
def import_reports(
    file: Annotated[str, typer.Argument(help="NDJSON file of reports, one per line; - for stdin.")],
) -> None:
    """Import reports through the same validation and idempotency as POST /v1/reports."""
    settings = load_settings()
    from services.importer import import_lines

    stream = sys.stdin if file == "-" else Path(file).open(encoding="utf-8")  # noqa: SIM115
    with stream:
        summary = import_lines(settings, stream)
    raise typer.Exit(0 if summary.rejected == 0 else 1)


@app.command()
def demo(
    url: Annotated[str, typer.Option(help="Base URL of a running Frontline.")] = "",
    key: Annotated[
        str | None, typer.Option(help="Ingest key (default: the first of INGEST_API_KEYS).")
    ] = None,
) -> None:
    """POST the claims of the seed article to a running Frontline."""
    import httpx

    from services.demo import SEED_REPORT

    settings = load_settings()
    base = url or f"http://127.0.0.1:{settings.port}"
    token = key or (settings.ingest_api_keys[0] if settings.ingest_api_keys else None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{base}/v1/reports", json=SEED_REPORT, headers=headers, timeout=30)
    typer.echo(f"{response.status_code} {response.text}")
    raise typer.Exit(0 if response.status_code in (200, 201) else 1)


def _run(asgi_app: Any, settings: Settings, workers: int = 1) -> None:
    """Serve an app, or an app factory's import path (needed for several worker processes, each of
    which builds its app from the environment)."""
    import uvicorn

    uvicorn.run(
        asgi_app,
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
    app()
