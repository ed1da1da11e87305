"""Structured logs (structlog): JSON lines in production, readable lines on a terminal.

LOG_FORMAT=auto (the default) picks readable lines when stderr is a terminal or in dev mode
(`make run`), JSON lines otherwise: a container has no terminal.

Every line carries what is bound in structlog's contextvars: the request id while a request is
served (services/web/request_ids.py), the job id while an RQ job runs (services/projector/worker.py).
Lines of the standard library (uvicorn, rq, alembic) go through the same renderer and get them too.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

# Loggers that install handlers of their own (uvicorn's config, `rq worker`'s colour handlers):
# emptied and sent up to the root, so that each line is rendered once, the same way.
FOREIGN = ("uvicorn", "uvicorn.error", "uvicorn.access", "rq", "rq.worker", "rq.job", "rq.scheduler")
# Loggers that talk about their own machinery at INFO (alembic's "setup plugin ..." on every
# command, httpx's line per request in `frontline demo`): heard only at DEBUG. `frontline migrate`
# says itself what it migrated.
CHATTY = ("alembic", "httpx", "httpcore")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is now, not to what it was when logging was configured."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _: object) -> None:
        pass


_handler: logging.Handler | None = None


def resolve_format(fmt: str, dev: bool = False) -> str:
    """`auto` made definite: console on a terminal or in dev mode, else JSON."""
    if fmt != "auto":
        return fmt
    return "console" if dev or sys.stderr.isatty() else "json"


def configure(level: str = "INFO", fmt: str = "auto", dev: bool = False) -> None:
    """Route structlog and the standard library through one renderer (at most one handler of ours
    on the root logger, whatever other handlers, a test runner's say, are there)."""
    global _handler
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    _configure_structlog(shared)
    handler = _StderrHandler()
    handler.setFormatter(_formatter(shared, _renderer(fmt, dev)))
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(level)
    _handler = handler
    _adopt_foreign(level)


def _renderer(fmt: str, dev: bool) -> structlog.types.Processor:
    if resolve_format(fmt, dev) == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())


def _configure_structlog(shared: list[structlog.types.Processor]) -> None:
    structlog.configure(
        # filter_by_level first: a line below LOG_LEVEL costs one comparison, not a rendering.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def _formatter(
    shared: list[structlog.types.Processor], renderer: structlog.types.Processor
) -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def _adopt_foreign(level: str) -> None:
    """Send the FOREIGN loggers' lines up to our handler; hear the CHATTY ones only at DEBUG."""
    for name in FOREIGN:
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.NOTSET if level == "DEBUG" else logging.WARNING)


@contextmanager
def quieted(*names: str, level: int = logging.WARNING) -> Iterator[None]:
    """Hold the INFO lines of the `names` loggers back for a while (a progress bar says the same),
    letting warnings and errors through."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(level, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        for logger, old in zip(loggers, levels, strict=True):
            logger.setLevel(old)


def configure_once(level: str = "INFO", fmt: str = "auto", dev: bool = False) -> None:
    """Configure logging unless this process already has (the CLI does it before anything else;
    a process started by `uvicorn --factory` or a server's worker subprocess has not)."""
    if _handler is None:
        configure(level, fmt, dev)
