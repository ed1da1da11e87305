"""A realistic event log, written straight into `events`: what the projector and read API face.

About 2,000 places (the gazetteer's towns of Iraq and Syria, then made-up villages with ids of the
same shape), the built-in actors, claims grouped into reports of 1-4, shares and givers varying,
`occurred_at` mostly moving forward per place with ~5 % arriving late (older than the place's
latest claim: the projector re-folds that place), and ~0.5 % corrections and retractions of
earlier claims. One place (`HOT_PLACE`) gets `HOT_CLAIMS` claims: the long history `as_of` reads.

Rows go in by COPY into `events` itself, so that the log's trigger numbers them (position, stream
version, recorded_at) exactly as for the service's own appends; only their building is faster
than `event_log.append`. The places are recorded in the registry too, as the read API lists
recorded places only.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import psycopg

from bench.common import REPO, BenchError, Postgres
from bench.stack import fresh_migrated
from services import collector
from services.domain.actors import BUILT_IN
from services.domain.events import CLAIM_CORRECTED, CLAIM_RETRACTED, CONTROL_CHANGED, CURRENT_VERSION
from services.domain.names import name_key
from services.domain.occurred import format_timestamp, parse_occurred
from services.domain.places import Location, Place, kind_for_population
from services.gazetteer import load as load_gazetteer
from services.projector import runner
from services.store.database import Database
from services.store.event_log import new_event_id

HOT_PLACE = "mosul-iq"
HOT_CLAIMS = 1000
FIRST_DAY = date(2014, 6, 1)
SPAN_DAYS = 2000  # claims run from mid-2014 into 2019
LATE = 0.05  # claims older than their place's latest one
AMENDED = 0.005  # corrections and retractions
ROWS_PER_COMMIT = 20_000
ACTORS = [a.actor_id for a in BUILT_IN]
SHARES = [100] * 6 + [0, 10, 25, 30, 40, 50, 50, 60, 70, 75, 80, 90]
SOURCES = [{"name": n, "url": f"https://news.example/{n}"} for n in ("reuters", "afp", "sana", "rudaw")]
COLUMNS = (
    "event_id", "type", "schema_version", "stream_id", "occurred_at", "occurred_precision",
    "occurred_start", "request_id", "target_event_id", "data",
)  # fmt: skip
# Iraq and Syria, roughly: where the made-up villages lie.
LAT, LON = (32.0, 37.0), (36.0, 47.0)


@dataclass
class Corpus:
    """What was generated: the figures a reader needs to judge the workload."""

    events: int = 0
    claims: int = 0
    late: int = 0
    corrections: int = 0
    retractions: int = 0
    places: int = 0
    seconds: float = 0.0
    hot_place: str = HOT_PLACE
    hot_first: str = ""  # the first and last day of the hot place's claims
    hot_last: str = ""

    def describe(self) -> str:
        return (
            f"{self.events:,} events ({self.claims:,} claims of which {self.late:,} late,"
            f" {self.corrections:,} corrections, {self.retractions:,} retractions) over"
            f" {self.places:,} places, written in {self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class Log:
    """A benchmark database holding a corpus of `events` events over `places` places."""

    dbname: str
    events: int
    places: int = 2000

    @property
    def label(self) -> str:
        return f"{self.events:,}-event log"


@dataclass
class Prepared:
    corpus: Corpus
    folded: runner.CatchUp | None = None  # the live projection's catch-up, when asked for
    seconds: float = 0.0  # the catch-up's


def prepare(pg: Postgres, log: Log, fold: int = 0) -> Prepared:
    """A fresh, migrated database holding the corpus; folded from empty by the live projection
    (`runner.catch_up`, in-process as a worker's job runs it, the cyclic collector paused, timed) at
    batch size `fold` unless 0."""
    fresh_migrated(pg, log.dbname)
    written = write(pg, log.dbname, log.events, place_count=log.places)
    if not fold:
        return Prepared(written)
    db = Database(pg.sqlalchemy_url(log.dbname), pool_size=2)
    try:
        with collector.paused():
            start = time.perf_counter()
            done = runner.catch_up(db, batch_size=fold)
            seconds = time.perf_counter() - start
    finally:
        db.dispose()
    settle(pg, log.dbname)
    return Prepared(written, done, seconds)


def settle(pg: Postgres, dbname: str) -> None:
    """The planner's statistics on every table, as autovacuum would have gathered them in a
    database that has lived a while: this machine's server runs with autovacuum off, and on tables
    never analyzed the planner guessed (the read API's change-feed query scanned every place at
    each step: 4.5 ms of the server's CPU instead of 0.1 ms)."""
    with pg.connect(dbname, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


@dataclass
class _Claim:
    """A claim already in the log, as a later correction sees it."""

    event_id: str
    place_id: str
    actor_id: str
    from_actor_id: str | None
    occurred: date


@dataclass
class _Timeline:
    """A place while generating: its latest claim's day and its last holder."""

    place: Place
    step: int  # mean days between its claims
    first: date
    latest: date
    holder: str | None = None


@dataclass
class _Generator:
    rng: random.Random
    timelines: dict[str, _Timeline]
    corpus: Corpus
    claims: list[_Claim] = field(default_factory=list)  # not retracted: correction targets
    report: tuple[str, int, int] = ("", 0, 0)  # the current report: id, claims, claims written
    reports: int = 0

    def rows(self, places: list[str], limit: int) -> list[tuple[Any, ...]]:
        """A claim at each place of `places` in turn, amendments interleaved, `limit` rows at most."""
        out: list[tuple[Any, ...]] = []
        for place_id in places:
            if len(out) == limit:
                break
            out.append(self.claim(self.timelines[place_id]))
            if len(out) < limit and self.rng.random() < AMENDED:
                out.append(self.amendment())
        return out

    def claim(self, line: _Timeline) -> tuple[Any, ...]:
        rng = self.rng
        if line.latest > line.first and rng.random() < LATE:
            # Late by up to three of the place's usual gaps: a report a few days or weeks old.
            back = rng.randint(1, min(3 * line.step, (line.latest - line.first).days))
            day = line.latest - timedelta(days=back)
            self.corpus.late += 1
        else:
            day = line.latest + timedelta(days=rng.randint(0, 2 * line.step))
            line.latest = day
        actor = rng.choice(ACTORS)
        giver = line.holder if line.holder not in (None, actor) and rng.random() < 0.5 else None
        line.holder = actor
        report_id, index = self._report()
        occurred = self._occurred(day)
        data = {
            "report_id": report_id,
            "claim_index": index,
            "place_id": line.place.place_id,
            "place_name": line.place.name,
            "place_created": False,
            "actor_id": actor,
            "share": float(rng.choice(SHARES)),
            "from_actor_id": giver,
            "occurred_at": occurred,
            "supporting_actor_ids": ["us-led-coalition"]
            if actor != "us-led-coalition" and rng.random() < 0.1
            else [],
            "note": "heavy fighting reported" if rng.random() < 0.05 else None,
            "source": rng.choice(SOURCES),
        }
        event_id = new_event_id()
        self.claims.append(_Claim(event_id, line.place.place_id, actor, giver, day))
        self.corpus.claims += 1
        return _row(event_id, CONTROL_CHANGED, line.place.place_id, data, report_id, occurred=occurred)

    def _report(self) -> tuple[str, int]:
        """The report id and claim index of the next claim: reports hold 1-4 (an article names
        several towns)."""
        report_id, size, written = self.report
        if written == size:
            self.reports += 1
            report_id, size, written = f"corpus-{self.reports}", self.rng.randint(1, 4), 0
        self.report = (report_id, size, written + 1)
        return report_id, written

    def _occurred(self, day: date) -> str:
        if self.rng.random() < 0.05:  # a few reports state the hour
            instant = datetime(day.year, day.month, day.day, self.rng.randrange(24), tzinfo=UTC)
            return format_timestamp(instant)
        return day.isoformat()

    def amendment(self) -> tuple[Any, ...]:
        """A correction (3 in 4) or a retraction of an earlier claim, never of a retracted one."""
        i = self.rng.randrange(len(self.claims))
        target = self.claims[i]
        if self.rng.random() < 0.25:
            self.claims[i] = self.claims[-1]
            self.claims.pop()
            self.corpus.retractions += 1
            data: dict[str, Any] = {"event_id": target.event_id, "reason": "bench: withdrawn", "source": None}
            return _row(new_event_id(), CLAIM_RETRACTED, target.place_id, data, None, target=target.event_id)
        self.corpus.corrections += 1
        stream = target.place_id
        data = {
            "event_id": target.event_id,
            "changes": self._changes(target),
            "reason": "bench",
            "source": None,
        }
        return _row(new_event_id(), CLAIM_CORRECTED, stream, data, None, target=target.event_id)

    def _changes(self, target: _Claim) -> dict[str, Any]:
        """Changes a correction makes (and that the fold accepts), applied to `target` as well."""
        pick = self.rng.random()
        if pick < 0.5:
            return {"share": float(self.rng.choice(SHARES))}
        if pick < 0.8:
            target.occurred += timedelta(days=self.rng.randint(-30, 30))
            return {"occurred_at": target.occurred.isoformat()}
        if pick < 0.95:
            # Never the giver, nor the coalition (it may be listed as a supporter of the claim).
            barred = (target.from_actor_id, target.actor_id, "us-led-coalition")
            target.actor_id = self.rng.choice([a for a in ACTORS if a not in barred])
            return {"actor_id": target.actor_id}
        target.place_id = self.rng.choice(list(self.timelines))  # a claim put at the wrong town
        return {"place_id": target.place_id}


def _row(
    event_id: str,
    kind: str,
    stream: str,
    data: dict[str, Any],
    request_id: str | None,
    *,
    occurred: str | None = None,
    target: str | None = None,
) -> tuple[Any, ...]:
    at = parse_occurred(occurred) if occurred else None
    return (
        event_id,
        kind,
        CURRENT_VERSION[kind],
        stream,
        at.text if at else None,
        at.precision if at else None,
        at.start if at else None,
        request_id,
        target,
        orjson.dumps(data).decode(),
    )


def places(count: int, rng: random.Random) -> list[Place]:
    """The gazetteer's places, then made-up villages up to `count`."""
    found = list(load_gazetteer(["IQ", "SY"], REPO / "var" / "cache").places)[:count]
    for n in range(count - len(found)):
        country = rng.choice(["IQ", "SY"])
        population = int(rng.paretovariate(1.2) * 400)
        found.append(
            Place(
                place_id=f"qaryat-{n + 1}-{country.lower()}",
                name=f"Qaryat {n + 1}",
                country=country,
                kind=kind_for_population(population),
                location=Location(round(rng.uniform(*LAT), 5), round(rng.uniform(*LON), 5)),
                population=population,
            )
        )
    return found


def _timelines(chosen: list[Place], draws: list[str], rng: random.Random) -> dict[str, _Timeline]:
    counts: dict[str, int] = {}
    for place_id in draws:
        counts[place_id] = counts.get(place_id, 0) + 1
    lines = {}
    for place in chosen:
        first = FIRST_DAY + timedelta(days=rng.randrange(120))
        step = max(1, SPAN_DAYS // max(1, counts.get(place.place_id, 1)))
        lines[place.place_id] = _Timeline(place, step, first, first)
    return lines


def _draws(chosen: list[Place], claims: int, rng: random.Random) -> list[str]:
    """The place of each claim, in log order: a few towns are in the news far more than others."""
    others = [p.place_id for p in chosen if p.place_id != HOT_PLACE]
    # Capped, so that the hot place stays the one with the longest history (about twice the next).
    weights = [min(8.0, rng.paretovariate(2.5)) for _ in others]
    draws = [HOT_PLACE] * HOT_CLAIMS + rng.choices(others, weights, k=claims - HOT_CLAIMS)
    rng.shuffle(draws)
    # Spares at the end, for when the dice bring fewer amendments than expected.
    return draws + rng.choices(others, weights, k=claims // 50)


def write(pg: Postgres, dbname: str, events: int, place_count: int = 2000, seed: int = 7) -> Corpus:
    """Append `events` events to the (migrated, empty) log of `dbname`; what was written."""
    rng = random.Random(seed)
    chosen = places(place_count, rng)
    corpus = Corpus(places=len(chosen))
    draws = _draws(chosen, round(events / (1 + AMENDED)), rng)
    generator = _Generator(rng, _timelines(chosen, draws, rng), corpus)
    start = time.perf_counter()
    with pg.connect(dbname) as conn:
        _register(conn, chosen)
        taken = 0
        while corpus.events < events:
            rows = generator.rows(draws[taken : taken + ROWS_PER_COMMIT], events - corpus.events)
            taken = corpus.claims
            if not rows:
                raise BenchError("the corpus ran out of claims to draw")
            _copy(conn, rows)
            corpus.events += len(rows)
        _record_requests(conn)
    with pg.connect(dbname, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE events, requests")  # as a log that has lived a while would be
    corpus.seconds = time.perf_counter() - start
    hot = generator.timelines[HOT_PLACE]
    corpus.hot_first, corpus.hot_last = hot.first.isoformat(), hot.latest.isoformat()
    return corpus


def _record_requests(conn: psycopg.Connection[Any]) -> None:
    """The idempotency record of every report in the log, as ingest keeps one (the hash stands in
    for the body's): a feed's report is looked up there, and a lookup in a table as large as the
    log is what a service that has lived a while does (with it empty, the cached plan of that
    lookup scanned every request recorded during the run, once the table grew)."""
    conn.execute(
        "INSERT INTO requests (kind, request_id, body_hash, created_at)"
        " SELECT 'report', request_id, encode(sha256(convert_to(request_id, 'UTF8')), 'hex'), now()"
        " FROM events WHERE request_id IS NOT NULL GROUP BY request_id"
    )
    conn.commit()


def _copy(conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> None:
    """One transaction of rows through COPY (the log's BEFORE INSERT trigger numbers each)."""
    with conn.cursor() as cur, cur.copy(f"COPY events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    conn.commit()


def _register(conn: psycopg.Connection[Any], chosen: list[Place]) -> None:
    """Record the places as the registry does (`services.store.places.add`), in bulk."""
    now = datetime.now(UTC)
    rows = [
        (
            p.place_id, p.name, p.country, p.kind, p.location.lat if p.location else None,
            p.location.lon if p.location else None, p.population, orjson.dumps(list(p.aliases)).decode(),
            "gazetteer" if not p.place_id.startswith("qaryat-") else "registered", now,
        )
        for p in chosen
    ]  # fmt: skip
    keys = sorted({(k, p.place_id) for p in chosen for k in (name_key(n) for n in p.names) if k})
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO places (place_id, name, country, kind, lat, lon, population, aliases, origin,"
            " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        cur.executemany("INSERT INTO place_names (key, place_id) VALUES (%s, %s)", keys)
    conn.commit()
