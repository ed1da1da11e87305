"""`frontline import --format acled` as an analyst runs it: a file or stdin, its options, its exit
codes (0 all in, 1 some rows rejected, 2 unreadable input)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import count_events, environment, run
from tests.support.acled import export, row

ROWS = [
    row("SYR1"),
    row("SYR2", "Armed clash"),
    row("SYR3", actor1="HTS: Hayat Tahrir al Sham", location="Hajin", latitude="34.69", longitude="40.83"),
]


def test_an_export_from_a_file_then_stdin(fresh_sqlite_url: str, cache_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "acled.csv"
    path.write_text(export(ROWS), encoding="utf-8-sig")  # as a spreadsheet saves it: with a BOM
    env = environment(fresh_sqlite_url, cache_dir)

    first = run(["import", "--format", "acled", str(path)], env)

    assert first.returncode == 0, first.stderr
    text = first.stderr.replace("\n", " ")
    assert "2 stored, 0 already present, 0 rejected, 1 skipped" in text
    assert "Armed clash 1" in text
    assert "HTS: Hayat Tahrir al Sham -> hayat-tahrir-al-sham" in text
    again = run(["import", "--format", "acled", "-"], env, stdin=export(ROWS))
    assert again.returncode == 0
    assert "0 stored, 2 already present" in again.stderr.replace("\n", " ")
    assert count_events(fresh_sqlite_url) == 3  # two claims and the new actor's ActorRegistered, once


def test_unknown_actors_rejected_on_request(fresh_sqlite_url: str, cache_dir: Path) -> None:
    env = environment(fresh_sqlite_url, cache_dir)
    done = run(["import", "--format", "acled", "--unknown-actors", "reject", "-"], env, stdin=export(ROWS))
    assert done.returncode == 1
    assert "line 4: unknown actor 'HTS: Hayat Tahrir al Sham'" in done.stderr.replace("\n", " ")
    assert count_events(fresh_sqlite_url) == 1


def test_an_own_actor_map(fresh_sqlite_url: str, cache_dir: Path, tmp_path: Path) -> None:
    table = tmp_path / "actors.toml"
    table.write_text('[syrian-arab-army]\nacled = ["Military Forces of Syria"]\n')
    env = environment(fresh_sqlite_url, cache_dir)
    done = run(["import", "--format", "acled", "--actor-map", str(table), "-"], env, stdin=export(ROWS[:1]))
    assert done.returncode == 0, done.stderr
    assert "Islamic State (Syria) -> islamic-state-syria" in done.stderr.replace("\n", " ")


def test_input_that_cannot_be_read_exits_2_and_stores_nothing(
    fresh_sqlite_url: str, cache_dir: Path, tmp_path: Path
) -> None:
    env = environment(fresh_sqlite_url, cache_dir)
    missing = run(["import", "--format", "acled", str(tmp_path / "nope.csv")], env)
    not_acled = run(["import", "--format", "acled", "-"], env, stdin="id,date\n1,2024-01-01\n")
    (tmp_path / "bad.toml").write_text("[x\n")
    bad_map = run(["import", "--format", "acled", "--actor-map", str(tmp_path / "bad.toml"), "x"], env)
    assert [missing.returncode, not_acled.returncode, bad_map.returncode] == [2, 2, 2]
    assert "cannot read" in missing.stderr
    assert "not an ACLED export" in not_acled.stderr and "event_id_cnty" in not_acled.stderr
    assert "cannot read the actor map" in bad_map.stderr
    assert count_events(fresh_sqlite_url) == 0
