"""Scenario `acled`: `frontline import --format acled` over a generated 100,000-row export.

The export has ACLED's codebook columns and, like real ones, a few percent of territorial rows
(3 %: changes of territory are rare beside clashes, strikes and protests); those name gazetteer
towns of Iraq and Syria with ACLED-like coordinates, some new places in a country outside the
gazetteer, and mostly mapped actors with a few unmapped ones. No ACLED data is used.

The command runs as an analyst runs it (a subprocess on a fresh PostgreSQL database, no Redis), timed
from start to exit; then again over the same file, which must store nothing. The machine's limit
beside it: the same file read by the `csv` module (`DictReader`, which the importer uses), in this
process, best of three: what reading the export costs before Frontline does anything with it.
"""

from __future__ import annotations

import csv
import random
import subprocess
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from bench.common import REPO, RESULTS, BenchEnv, Check, Figure, ScenarioResult, stepper
from bench.stack import fresh_migrated, frontline, frontline_env
from services.acled.rows import CODEBOOK_COLUMNS, TERRITORIAL
from services.gazetteer import load as load_gazetteer

DB = "bench_acled"
ROWS = 100_000
TERRITORIAL_SHARE = 0.03
OTHER_TYPES = {
    "Armed clash": "Battles",
    "Air/drone strike": "Explosions/Remote violence",
    "Shelling/artillery/missile attack": "Explosions/Remote violence",
    "Attack": "Violence against civilians",
    "Peaceful protest": "Protests",
    "Looting/property destruction": "Strategic developments",
}
# (actor1, actor2) pairs: mapped by the shipped table, and a few it does not know.
PAIRS = [
    ("Military Forces of Syria (2000-2024)", "Islamic State (Syria)"),
    ("Islamic State (Syria)", "Military Forces of Syria (2000-2024)"),
    ("SDF: Syrian Democratic Forces", "Islamic State (Syria)"),
    ("Military Forces of Iraq (2014-2018)", "Islamic State (Iraq)"),
    ("PMF: Popular Mobilization Forces", "Islamic State (Iraq)"),
    ("HTS: Hayat Tahrir al Sham", "Military Forces of Syria (2000-2024)"),
    ("Military Forces of Turkey (2016-)", "SDF: Syrian Democratic Forces"),
]
NOTES = (
    "On {date}, {a} took control of {place} from {b} after clashes on the outskirts of the town. "
    "Sources report several casualties; the figure is not confirmed. [size=no report]"
)


step = stepper("acled")


def run(env: BenchEnv) -> ScenarioResult:
    result = ScenarioResult("acled")
    rows = ROWS // 10 if env.quick else ROWS
    path = RESULTS / f"acled-export-{env.run_id}.csv"
    territorial = write_export(path, rows)
    step(
        "export: %s rows, %s territorial, %s bytes",
        f"{rows:,}",
        f"{territorial:,}",
        f"{path.stat().st_size:,}",
    )
    parse = max(parse_rate(path) for _ in range(3))
    fresh_migrated(env.pg, DB)
    first, again = _import(env, path), _import(env, path)
    empty = RESULTS / f"acled-empty-{env.run_id}.csv"
    write_export(empty, 0)
    startup = _import(env, empty)  # Python, the modules and the gazetteer: what any file costs
    path.unlink()
    empty.unlink()
    result.figures += [
        Figure("import --format acled: rows/s (first run)", rows / first.seconds, "rows/s", limit=parse),
        Figure("the same, re-run (all present)", rows / again.seconds, "rows/s", limit=parse),
        Figure("territorial rows stored/s (first run)", territorial / first.seconds, "rows/s"),
        Figure("the command on a header-only export (start-up)", startup.seconds * 1000, "ms"),
        Figure("first run less start-up: rows/s", rows / max(first.seconds - startup.seconds, 1e-3), "rows/s",
               limit=parse),
    ]  # fmt: skip
    result.checks += _checks(territorial, first, again, startup)
    result.details = {"rows": rows, "territorial": territorial, "parse_rows_per_s": parse}
    result.notes.append(
        f"{rows:,} rows ({territorial:,} territorial); the limit is csv.DictReader over the same file; "
        "the command's time includes starting Python and loading the gazetteer"
    )
    return result


class _Run:
    def __init__(self, seconds: float, done: subprocess.CompletedProcess[str]) -> None:
        self.seconds = seconds
        self.code = done.returncode
        self.text = " ".join(done.stderr.split())
        self.tail = self.text[-300:]


def _checks(territorial: int, first: _Run, again: _Run, startup: _Run) -> list[Check]:
    return [
        Check("first run exits 0", first.code == 0, f"exit {first.code}: {first.tail}"),
        Check("a header-only export exits 0", startup.code == 0, startup.tail),
        Check("every territorial row stored", f"{territorial} stored" in first.text, first.tail),
        Check(
            "a re-run stores nothing", f"0 stored, {territorial} already present" in again.text, again.tail
        ),
    ]


def _import(env: BenchEnv, path: Path) -> _Run:
    start = time.perf_counter()
    done = subprocess.run(
        frontline("import", "--format", "acled", str(path)),
        env=frontline_env(env.pg.url(DB)), cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    step("import: %.1f s, exit %d", seconds, done.returncode)
    return _Run(seconds, done)


def parse_rate(path: Path) -> float:
    start = time.perf_counter()
    with path.open(encoding="utf-8-sig", newline="") as stream:
        count = sum(1 for _ in csv.DictReader(stream))
    return count / (time.perf_counter() - start)


def write_export(path: Path, rows: int) -> int:
    """Write the export; returns how many of its rows are territorial."""
    path.parent.mkdir(parents=True, exist_ok=True)
    territorial = 0
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=CODEBOOK_COLUMNS)
        writer.writeheader()
        for row in _rows(rows):
            territorial += row["sub_event_type"] in TERRITORIAL
            writer.writerow(row)
    return territorial


def _rows(count: int) -> Iterator[dict[str, str]]:
    rng = random.Random(17)
    towns = sorted(load_gazetteer(["IQ", "SY"], REPO / "var" / "cache").places, key=lambda p: p.place_id)
    first = date(2014, 1, 1)
    for n in range(count):
        town = rng.choice(towns)
        assert town.location is not None
        day = first + timedelta(days=rng.randrange(3650))
        a, b = rng.choice(PAIRS)
        if rng.random() < TERRITORIAL_SHARE:
            sub_event_type = rng.choice(sorted(TERRITORIAL))
        else:
            sub_event_type = rng.choice(sorted(OTHER_TYPES))
        if rng.random() < 0.05:  # a new place
            country, iso, name = "Ukraine", "804", f"Village {n}"
            lat, lon = 47 + rng.random(), 35 + rng.random()
        else:
            country, iso, name = _country(town.country, town.name)
            lat, lon = town.location.lat, town.location.lon
        # In the order the generator has always drawn them: the export stays the same file.
        where = {"time_precision": rng.choice("1112223"), "iso": iso, "country": country, "location": name,
                 "latitude": f"{lat + rng.uniform(-0.01, 0.01):.4f}",
                 "longitude": f"{lon + rng.uniform(-0.01, 0.01):.4f}"}  # fmt: skip
        yield _row(rng, n, day, sub_event_type, (a, b), where)


def _row(
    rng: random.Random, n: int, day: date, sub_event_type: str, actors: tuple[str, str], where: dict[str, str]
) -> dict[str, str]:
    """One row of the export, in ACLED's codebook columns."""
    a, b = actors
    return {
        "event_id_cnty": f"BEN{n}",
        "event_date": day.strftime("%d %B %Y") if n % 2 else day.isoformat(),
        "year": str(day.year),
        "disorder_type": "Political violence",
        "event_type": OTHER_TYPES.get(sub_event_type, "Battles"),
        "sub_event_type": sub_event_type,
        "actor1": a,
        "assoc_actor_1": "",
        "inter1": "1",
        "actor2": b,
        "assoc_actor_2": "",
        "inter2": "2",
        "interaction": "12",
        "civilian_targeting": "",
        "region": "Middle East",
        "admin1": "Province",
        "admin2": "District",
        "admin3": "",
        **where,
        "geo_precision": "1",
        "source": "Local media",
        "source_scale": "National",
        "notes": NOTES.format(date=day.isoformat(), a=a, b=b, place=where["location"]),
        "fatalities": str(rng.randrange(5)),
        "tags": "",
        "timestamp": str(1_600_000_000 + n),
    }


def _country(code: str, name: str) -> tuple[str, str, str]:
    return ("Syria", "760", name) if code == "SY" else ("Iraq", "368", name)
