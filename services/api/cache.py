"""Answers cached by what they depend on: polling is cheap, and unchanged answers are 304s.

An answer is the bytes computed from one snapshot of the read models, at that snapshot's version
(generation, position). It stays *fresh* while nothing it depends on has changed since:
- an answer about one place (`/v1/places/{id}`, its history, at any `as_of`/`known_at`) until that
  place is touched again: the change feed (`services.api.stream`) tells the cache which places each
  projection step touched, so a poller of an untouched place keeps its entry while writes flow
  elsewhere;
- a list of current states (contested, places by status or country, an actor's places) until a
  place it shows changes, or a place changes into a state the list admits;
- any other answer (name searches, time travel over lists, changes) until the read models move.
A replay's new generation makes every answer stale. The ETag is the generation and a hash of the
bytes, so it changes only when the answer's content does (or a replay swaps the models in).

A stale answer is computed anew, off the event loop, once for all the requests that miss it together
(single flight); one that can be made again from memory (a `Renewal`: a page of the contested list,
see services.api.contested) is made again as the change that altered it is noted, so that its
pollers do not miss at all. No answer goes out from before one this process has already given (`answered`): a
dashboard asking two endpoints in turn never sees state go back. A read that asks for a later
`min_position` waits for an answer at least that fresh.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from services.api import encoding
from services.api.contested import ContestedMemory
from services.api.position import Version

RECENT = 10_000  # changes remembered for lists computed from a snapshot the notes have passed
IGNORED_PARAMS = {"min_position"}  # waiting for a position does not change the answer


def request_key(path: str, query_string: str, declared: frozenset[str] | None = None) -> str:
    """The cache key of a request: its path and the query parameters that shape the answer."""
    if not query_string:
        return f"{path}?"  # most polls: no parameters to parse
    # A parameter given twice counts as the routes read it: its last value.
    last = dict(parse_qsl(query_string, keep_blank_values=True))
    params = sorted(
        (k, v) for k, v in last.items() if k not in IGNORED_PARAMS and (declared is None or k in declared)
    )
    return f"{path}?{urlencode(params)}"


@dataclass(frozen=True)
class Listing:
    """What a page of current states depends on: the places it shows, and the new states that
    would join it (the list's filter, applied to a changed place) unless they sort past the end of
    a full page (`beyond`): a place joining page 5 of the contested list leaves page 1 as it was."""

    members: frozenset[str]
    admits: Callable[[dict[str, Any]], bool]
    beyond: Callable[[dict[str, Any]], bool] = lambda _place: False

    def altered_by(self, place: dict[str, Any]) -> bool:
        return place["place_id"] in self.members or (self.admits(place) and not self.beyond(place))


# The places an answer depends on; a Listing; or None: any change may alter it.
Dependency = frozenset[str] | Listing | None
Touch = tuple[int, dict[str, Any]]  # a change: its log position and the place's new state


@dataclass(frozen=True)
class Renewal:
    """How an answer is made again without a query: `answer(least)` gives its content from memory,
    at a version at or after `least` (and at or after its position), or None; `depends` says what
    that content depends on (as `ReadCache.put`'s `depends`)."""

    answer: Callable[[Version], tuple[Version, Any] | None]
    depends: Callable[[Any], Dependency]


VARY = (b"vary", b"accept-encoding")


@dataclass(frozen=True)
class Form:
    """One representation of an answer as it goes out: its ETag and bytes, whether they are gzipped,
    and whether the answer has another form (then both say so: see services.api.encoding)."""

    etag: str
    body: bytes
    gzipped: bool = False
    varies: bool = False

    def headers(self, position: int) -> list[tuple[bytes, bytes]]:
        """The headers of a 200 and a 304 alike. `position`: the latest log position the answer is
        known to be true at."""
        headers = [
            (b"etag", self.etag.encode()),
            (b"cache-control", b"no-cache"),
            (b"x-projection-position", str(position).encode()),
        ]
        if self.varies:
            headers.append(VARY)
        return headers

    def content_headers(self, media_type: str) -> list[tuple[bytes, bytes]]:
        """Those of a 200 only: a 304 describes no bytes (RFC 9110 15.4.5)."""
        headers = [(b"content-type", media_type.encode()), (b"content-length", str(len(self.body)).encode())]
        if self.gzipped:
            headers.append((b"content-encoding", b"gzip"))
        return headers


@dataclass(frozen=True)
class Entry:
    version: Version  # of the snapshot it was computed from
    depends: Dependency
    media_type: str
    plain: Form
    gzipped: Form | None = None  # for a body large enough to be worth one
    renewal: Renewal | None = None

    @classmethod
    def of(
        cls, version: Version, depends: Dependency, body: bytes, media_type: str, renewal: Renewal | None
    ) -> Entry:
        etag = etag_for(version, media_type, body)
        packed = encoding.gzipped(body)
        if packed is None:
            return cls(version, depends, media_type, Form(etag, body), None, renewal)
        gzipped = Form(encoding.gzip_etag(etag), packed, gzipped=True, varies=True)
        return cls(version, depends, media_type, Form(etag, body, varies=True), gzipped, renewal)

    @property
    def etag(self) -> str:
        return self.plain.etag

    @property
    def body(self) -> bytes:
        return self.plain.body

    @property
    def size(self) -> int:
        """The bytes it holds, both forms."""
        return len(self.plain.body) + (len(self.gzipped.body) if self.gzipped is not None else 0)

    def form(self, accept_encoding: str | None) -> Form:
        """The representation a request with that Accept-Encoding gets."""
        if self.gzipped is not None and encoding.accepts_gzip(accept_encoding):
            return self.gzipped
        return self.plain


def etag_for(version: Version, media_type: str, body: bytes) -> str:
    digest = hashlib.blake2b(body, digest_size=9, person=media_type.encode()[:16]).hexdigest()
    return f'"g{version.generation}.{digest}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    return (
        any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))
        or if_none_match.strip() == "*"
    )


Compute = Callable[[], Awaitable["Entry | None"]]


class ReadCache:
    """A bounded LRU of answers by request key, each fresh until what it depends on changes."""

    def __init__(self, capacity: int = 4096, max_bytes: int = 256 * 2**20) -> None:
        # Bounded in entries and in bytes: a GeoJSON page can be a megabyte, and a client varying a
        # parameter (as_of) makes as many entries as it likes.
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._bytes = 0
        self.current = Version(0, 0)  # the version up to which changes have been noted
        self.answered = 0  # the newest position of an answer computed (and so given) here
        self.given = Version(0, 0)  # and the newest version, its generation first
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._touched: dict[str, int] = {}  # place id -> position of the last change noted
        self._listings: dict[str, tuple[Listing, int]] = {}  # key -> its Listing, fresh at a position
        # The latest changes noted, complete after `_recent_from`: a list computed from a snapshot
        # older than what has been noted is checked against those it has not seen.
        self._recent: deque[Touch] = deque()
        self._recent_from = 0
        self._lock = threading.Lock()
        self._noted = threading.Condition(self._lock)  # told each time changes are noted
        self._inflight: dict[str, asyncio.Future[Entry | None]] = {}
        self.contested = ContestedMemory()  # follows the same changes, at `current`
        # Keys asked for since their answer was last stored: only those are renewed (an answer
        # nobody polls any more is not made again on every change; it is computed if asked).
        self._asked: set[str] = set()

    def note_changes(self, version: Version, touched: Sequence[Touch]) -> None:
        """The read models reached `version`; `touched` are the changes on the way there.

        Answers the changes alter and that can be made again from memory are renewed after the
        lock is let go: a contested page is 55 KB of JSON to build, encode and hash, and the event
        loop's lookups take this lock. Until its renewal is stored, such an answer is served as it
        was, at the position it was known true at: an answer from before these changes, as any
        answer computed an instant earlier would be (never one older than an answer given here:
        `lookup` checks).
        """
        with self._lock:
            if version.generation != self.current.generation:
                self._touched.clear()  # every entry of the old generation is stale anyway
                self._listings.clear()
                self._recent.clear()
                self._recent_from = version.position
            for position, place in touched:
                place_id = place["place_id"]
                self._touched[place_id] = max(position, self._touched.get(place_id, 0))
            self._remember(touched)
            altered = self._review_listings(version, touched)
            self.current = max(self.current, version)
            self.contested.follow(version, touched)
            renewable = self._renewable(altered)
            self._noted.notify_all()
        for key, entry in renewable:
            self._renew(key, entry)

    def wait_noted(self, least: Version, timeout: float) -> bool:
        """Wait (in a worker thread, never on the event loop) until the changes up to `least` (and
        its position) are noted, at most `timeout` seconds; whether they are."""
        with self._noted:
            return self._noted.wait_for(lambda: self.current.reaches(least), timeout)

    def learn_contested(self, version: Version, views: Sequence[dict[str, Any]]) -> None:
        """The whole contested list, read at `version`: kept in memory (see services.api.contested)
        when the changes noted since are all remembered, and replayed onto it in log order."""
        with self._lock:
            if version.generation != self.current.generation:
                return  # a replay the change feed has not reached yet (or one it has passed)
            if version.position < self._recent_from and version.position < self.current.position:
                return
            self.contested.learn(version, views)
            if version.position < self.current.position:
                self.contested.follow(self.current, [t for t in self._recent if t[0] > version.position])

    def _remember(self, touched: Sequence[Touch]) -> None:
        self._recent.extend(touched)
        while len(self._recent) > RECENT:
            self._recent_from = self._recent.popleft()[0]

    def _unseen_change_alters(self, listing: Listing, made: int) -> bool:
        """Whether a change noted after `made` (a list's snapshot) alters the list; True when the
        changes since `made` are no longer all remembered."""
        if made < self._recent_from:
            return True
        for position, place in reversed(self._recent):
            if position <= made:
                return False
            if listing.altered_by(place):
                return True
        return False

    def _review_listings(self, version: Version, touched: Sequence[Touch]) -> list[str]:
        """A list stays fresh through `version` unless one of the changes alters it: the keys of
        those it alters (still listed, fresh where they were: see `_renewable`)."""
        altered = []
        for key, (listing, fresh_at) in list(self._listings.items()):
            if any(p > fresh_at and listing.altered_by(place) for p, place in touched):
                altered.append(key)
            else:
                self._listings[key] = (listing, max(fresh_at, version.position))
        return altered

    def _renewable(self, altered: list[str]) -> list[tuple[str, Entry]]:
        """Of the altered answers, those to make again from memory (it can be, and they were asked
        for since they were made), kept listed until then; the others are stale from now on."""
        renewable = []
        for key in altered:
            entry = self._entries.get(key)
            if entry is not None and entry.renewal is not None and key in self._asked:
                renewable.append((key, entry))
            else:
                del self._listings[key]
        return renewable

    def _renew(self, key: str, entry: Entry) -> None:
        """Make `entry`, the answer to `key`, again from memory, at least as new as any answer given,
        without holding the lock but to store it; stale if it cannot be (the next request computes it)."""
        renewal = entry.renewal
        assert renewal is not None
        found = renewal.answer(self.given)
        made = None
        if found is not None:
            version, content = found
            body = orjson.dumps(content)
            made = Entry.of(version, renewal.depends(content), body, entry.media_type, renewal)
        with self._lock:
            if made is not None:
                self._store(key, made)
            elif self._entries.get(key) is entry:
                self._listings.pop(key, None)

    def lookup(self, key: str) -> tuple[Entry | None, int | None]:
        """The entry for `key` and, when it is fresh, the position it is known true at (else None)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None, None
            self._entries.move_to_end(key)
            self._asked.add(key)
            position = self._fresh_until(key, entry)
            return entry, position if position is not None and position >= self.answered else None

    def _fresh_until(self, key: str, entry: Entry) -> int | None:
        current, made = self.current, entry.version
        if made.generation != current.generation:
            return None
        if isinstance(entry.depends, Listing):
            listed = self._listings.get(key)
            return None if listed is None else listed[1]
        if entry.depends is None:
            return made.position if made.position >= current.position else None
        if any(self._touched.get(place, 0) > made.position for place in entry.depends):
            return None
        return max(made.position, current.position)

    def put(
        self,
        key: str,
        version: Version,
        depends: Dependency,
        body: bytes,
        media_type: str,
        renewal: Renewal | None = None,
    ) -> Entry:
        # The entry (its ETag hashes the body) is made before the lock is taken: lookups wait less.
        entry = Entry.of(version, depends, body, media_type, renewal)
        with self._lock:
            return self._store(key, entry)

    def _store(self, key: str, entry: Entry) -> Entry:
        version, depends = entry.version, entry.depends
        self.answered = max(self.answered, version.position)
        self.given = max(self.given, version)
        held = self._entries.get(key)
        if held is not None and held.version > version:
            return entry  # a newer answer is cached already; this one still answers its request
        self._bytes += entry.size - (held.size if held is not None else 0)
        self._entries[key] = entry
        self._asked.discard(key)
        self._entries.move_to_end(key)
        self._listings.pop(key, None)
        if isinstance(depends, Listing) and not self._unseen_change_alters(depends, version.position):
            self._listings[key] = (depends, max(version.position, self.current.position))
        while len(self._entries) > self.capacity or self._bytes > self.max_bytes:
            evicted, old = self._entries.popitem(last=False)
            self._bytes -= old.size
            self._listings.pop(evicted, None)
            self._asked.discard(evicted)
        return entry

    async def single_flight(self, key: str, compute: Compute) -> Entry | None:
        """Run `compute` once for concurrent misses of `key`: the others wait for its result."""
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            entry = await compute()
            future.set_result(entry)
            return entry
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        finally:
            del self._inflight[key]
