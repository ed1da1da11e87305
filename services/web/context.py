"""A running app's context: the process's Runtime and the parts its routes need (the report
writer, the read side, the replay runner, the embedded projector), built by one function at start
(`services.web.setup.bootstrap`) and closed at stop.

Parts are found by their type: the three services never import each other, so this module cannot
name their parts, and a route asks for the one it knows (`context.get(ReportWriter)`). Each type
is provided once: an app factory says which replay runner it means, no hook overrides another.
Parts with a life (`start`/`stop`) are started in the order the app factory gives and stopped in
the reverse order, each before what it depends on goes. A part holding what only the event loop
can close (an async engine) says so with `on_aclose`: the lifespan awaits it after the stops.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import Any, Protocol, TypeVar, cast

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from services.loops import Loop
from services.web.runtime import Runtime

T = TypeVar("T")


class Part(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


P = TypeVar("P", bound=Part)


class AppContext:
    def __init__(self, runtime: Runtime, owns_runtime: bool = True) -> None:
        self.runtime = runtime
        self._parts: dict[type, object] = {}
        self._started: list[Part] = []
        self._stops = ExitStack()
        self._async_closes: list[Callable[[], Awaitable[None]]] = []
        if owns_runtime:
            self._stops.callback(runtime.close)  # closed last, after every part has stopped

    def provide(self, kind: type[T], part: T) -> T:
        """Make `part` the app's one `kind`."""
        if kind in self._parts:
            raise ValueError(f"this app already has a {kind.__name__}: its factory must choose one")
        self._parts[kind] = part
        return part

    def start(self, kind: type[P], part: P) -> P:
        """Provide `part` and start it now; it stops when the context closes, before what started
        earlier."""
        self.provide(kind, part)
        part.start()
        self._started.append(part)
        self._stops.callback(part.stop)
        return part

    def ended(self) -> list[str]:
        """The started parts that are loops (services.loops) whose thread has ended while the app
        runs: a defect ended it, and what it did is no longer done."""
        return [p.name for p in self._started if isinstance(p, Loop) and not p.running]

    def get(self, kind: type[T]) -> T:
        part = self._parts.get(kind)
        if part is None:
            raise LookupError(f"this app has no {kind.__name__}")
        return cast(T, part)

    def find(self, kind: type[T]) -> T | None:
        return cast(T | None, self._parts.get(kind))

    def on_aclose(self, close: Callable[[], Awaitable[None]]) -> None:
        """Await `close` on the event loop when the app stops, after every part has stopped."""
        self._async_closes.append(close)

    def close(self) -> None:
        """Stop every part, the last started first, then close the runtime (if it is the app's)."""
        self._stops.close()

    async def aclose(self) -> None:
        """`close`, then what only the loop can close, the last registered first."""
        try:
            self.close()
        finally:
            closes, self._async_closes = self._async_closes, []
            for close in reversed(closes):
                await close()


class ServiceApp(FastAPI):
    """FastAPI, with the context of the app while it runs (None before its start, after its stop),
    and the middleware in front of it.

    Front middleware is plain ASGI composed around the whole app, outside the framework's own
    layers (its error handling and exception middleware, which `add_middleware` stays inside):
    what every request passes and a cached read needs alone (request ids, metrics, the read
    cache). Measured: a cached read costs a fifth more when those layers are in its way.
    """

    context: AppContext | None = None

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._front: list[tuple[Callable[..., ASGIApp], dict[str, Any]]] = []
        self._entry: ASGIApp | None = None

    def add_front_middleware(self, factory: Callable[..., ASGIApp], **options: Any) -> None:
        """Put `factory(app, **options)` in front of the app: the last added is the outermost, as
        with `add_middleware`. Before the app serves its first request."""
        self._front.append((factory, options))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._entry is None:
            entry: ASGIApp = super().__call__
            for factory, options in self._front:
                entry = factory(entry, **options)
            self._entry = entry
        scope["app"] = self  # as Starlette sets it: front middleware resolves routes by it too
        await self._entry(scope, receive, send)


def context_of(app: Any) -> AppContext:
    """The running app's context (a route's `request.app`, or a test's app)."""
    context = app.context if isinstance(app, ServiceApp) else None
    if context is None:
        raise RuntimeError("the app is not running: its context is built by its lifespan")
    return context
